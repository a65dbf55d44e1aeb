using System.Formats.Asn1;
using System.Security.Cryptography;

namespace Doras.Signing.Keys;

/// <summary>
/// The signature schemes of cosign's keys, each with the hash sigstore pairs it with (ECDSA P-256/SHA-256,
/// P-384/SHA-384, P-521/SHA-512; RSA PKCS#1 v1.5/SHA-256; Ed25519, which cosign's key files sign in its prehashed form).
/// </summary>
public enum KeyAlgorithm { EcdsaP256, EcdsaP384, EcdsaP521, Rsa, Ed25519 }

internal static class KeyOids
{
    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string Rsa = "1.2.840.113549.1.1.1";
    public const string Ed25519 = "1.3.101.112";

    /// <summary>The algorithm identifier's OID of a PKCS#8 PrivateKeyInfo or an X.509 SubjectPublicKeyInfo.</summary>
    public static string AlgorithmOf(ReadOnlyMemory<byte> der, bool privateKey, string name)
    {
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            if (privateKey) outer.ReadInteger(); // version
            return outer.ReadSequence().ReadObjectIdentifier();
        }
        catch (AsnContentException e)
        {
            throw new KeyFileException($"{name} is not a valid {(privateKey ? "private" : "public")} key (not DER: {e.Message})", e);
        }
    }

    public static KeyAlgorithm Of(ECDsa ecdsa) => ecdsa.KeySize switch
    {
        256 => KeyAlgorithm.EcdsaP256,
        384 => KeyAlgorithm.EcdsaP384,
        521 => KeyAlgorithm.EcdsaP521,
        var bits => throw new KeyFileException($"an ECDSA key of {bits} bits is not supported (P-256, P-384 or P-521)"),
    };

    public static HashAlgorithmName HashOf(KeyAlgorithm algorithm) => algorithm switch
    {
        KeyAlgorithm.EcdsaP384 => HashAlgorithmName.SHA384,
        KeyAlgorithm.EcdsaP521 => HashAlgorithmName.SHA512,
        _ => HashAlgorithmName.SHA256,
    };

    /// <summary>RSA below 2048 bits is refused, as sigstore does.</summary>
    public static void CheckRsa(RSA rsa)
    {
        if (rsa.KeySize < 2048) throw new KeyFileException($"an RSA key of {rsa.KeySize} bits is too weak (2048 or more)");
    }
}
