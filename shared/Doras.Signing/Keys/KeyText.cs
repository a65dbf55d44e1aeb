using System.Security.Cryptography;

namespace Doras.Signing.Keys;

/// <summary>Reading a key file: bounded in size, one PEM block, its label and its bytes.</summary>
internal static class KeyText
{
    /// <summary>No key file is larger: a 4096-bit RSA key in PEM is about 3.3 KiB.</summary>
    public const int MaxBytes = 64 * 1024;

    public static string Read(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (file.CanSeek && file.Length > MaxBytes) throw new KeyFileException($"{path} is {file.Length} bytes: no key file is over {MaxBytes}");
            // Read under the bound whatever the length says (a FIFO or a device has none).
            var buffer = new byte[MaxBytes + 1];
            var read = 0;
            while (read < buffer.Length && file.Read(buffer, read, buffer.Length - read) is > 0 and var n) read += n;
            if (read > MaxBytes) throw new KeyFileException($"{path} is over {MaxBytes} bytes: no key file is");
            return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeyFileException($"cannot read the key {path}: {e.Message}", e);
        }
    }

    /// <summary>The first PEM block: its label ("PUBLIC KEY", "PRIVATE KEY", …) and its decoded bytes.</summary>
    public static (string Label, byte[] Der) Pem(string text, string what)
    {
        if (text.Length > MaxBytes) throw new KeyFileException($"{what} is over {MaxBytes} characters: not a key");
        if (!PemEncoding.TryFind(text, out var fields))
            throw new KeyFileException($"{what} is not a PEM key (no valid -----BEGIN …----- block)");
        var label = text[fields.Label];
        var der = new byte[fields.DecodedDataLength];
        if (!Convert.TryFromBase64Chars(text[fields.Base64Data], der, out var written))
            throw new KeyFileException($"{what}: the PEM block's base64 is not valid");
        return (label, der[..written]);
    }
}
