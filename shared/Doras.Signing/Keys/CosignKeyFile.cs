using System.Security.Cryptography;
using System.Text.Json;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Parameters;

namespace Doras.Signing.Keys;

/// <summary>
/// cosign's password-encrypted private key file: a PEM block holding JSON (go-securesystemslib's "encrypted"
/// format): the key derived with scrypt from the password and a salt, the PKCS#8 key sealed with NaCl's secretbox
/// (XSalsa20 and Poly1305). Decrypted here with BouncyCastle's scrypt, XSalsa20 and Poly1305.
/// </summary>
internal static class CosignKeyFile
{
    public const string SigstoreLabel = "ENCRYPTED SIGSTORE PRIVATE KEY";
    public const string CosignLabel = "ENCRYPTED COSIGN PRIVATE KEY";

    /// <summary>
    /// scrypt's memory is 128·N·r bytes: a hostile key file could ask for gigabytes. cosign writes N = 32768 or
    /// 65536, r = 8, p = 1 (32 or 64 MiB); up to 128 MiB is allowed.
    /// </summary>
    private const long MaxScryptMemory = 128L << 20;

    public static byte[] Decrypt(byte[] json, string name, Func<string?>? password)
    {
        var (n, r, p, salt, nonce, sealedKey) = Parse(json, name);
        if (n < 2 || (n & (n - 1)) != 0 || r < 1 || p < 1 || p > 16 || 128L * n * r > MaxScryptMemory)
            throw new KeyFileException($"{name}: scrypt parameters N={n}, r={r}, p={p} are outside what cosign writes (at most {MaxScryptMemory >> 20} MiB)");
        if (nonce.Length != 24 || sealedKey.Length < 16)
            throw new KeyFileException($"{name}: the secretbox nonce or ciphertext has the wrong length");
        var secret = password?.Invoke()
            ?? throw new KeyFileException($"{name} is encrypted: give its password in COSIGN_PASSWORD");
        var key = SCrypt.Generate(System.Text.Encoding.UTF8.GetBytes(secret), salt, (int)n, (int)r, (int)p, 32);
        return Open(sealedKey, nonce, key) ?? throw new KeyFileException($"{name}: wrong password (or a damaged key file)");
    }

    /// <summary>NaCl's crypto_secretbox_open: 16-byte Poly1305 tag, then the XSalsa20 ciphertext; null when the tag is wrong.</summary>
    private static byte[]? Open(byte[] box, byte[] nonce, byte[] key)
    {
        var cipher = new XSalsa20Engine();
        cipher.Init(false, new ParametersWithIV(new KeyParameter(key), nonce));
        // The first 32 bytes of the key stream are the one-time Poly1305 key; the message is XORed with the rest.
        var macKey = new byte[32];
        cipher.ProcessBytes(new byte[32], 0, 32, macKey, 0);
        var mac = new Poly1305();
        mac.Init(new KeyParameter(macKey));
        mac.BlockUpdate(box, 16, box.Length - 16);
        var tag = new byte[16];
        mac.DoFinal(tag, 0);
        if (!CryptographicOperations.FixedTimeEquals(tag, box.AsSpan(0, 16))) return null;
        var message = new byte[box.Length - 16];
        cipher.ProcessBytes(box, 16, message.Length, message, 0);
        return message;
    }

    private static (long N, long R, long P, byte[] Salt, byte[] Nonce, byte[] Sealed) Parse(byte[] json, string name)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var kdf = root.GetProperty("kdf");
            var cipher = root.GetProperty("cipher");
            if (kdf.GetProperty("name").GetString() != "scrypt" || cipher.GetProperty("name").GetString() != "nacl/secretbox")
                throw new KeyFileException($"{name}: only scrypt with nacl/secretbox is supported (cosign's format)");
            var parameters = kdf.GetProperty("params");
            return (parameters.GetProperty("N").GetInt64(), parameters.GetProperty("r").GetInt64(), parameters.GetProperty("p").GetInt64(),
                kdf.GetProperty("salt").GetBytesFromBase64(), cipher.GetProperty("nonce").GetBytesFromBase64(), root.GetProperty("ciphertext").GetBytesFromBase64());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new KeyFileException($"{name} is not a cosign key file ({e.Message})", e);
        }
    }
}
