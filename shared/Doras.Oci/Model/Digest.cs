using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Doras.Oci.Model;

/// <summary>A content digest such as <c>sha256:3f5a…</c>. Only sha256 and sha512 are accepted.</summary>
[JsonConverter(typeof(DigestJsonConverter))]
public readonly record struct Digest
{
    public const string Sha256 = "sha256";
    public const string Sha512 = "sha512";

    public string Algorithm { get; }
    public string Hex { get; }

    private Digest(string algorithm, string hex) => (Algorithm, Hex) = (algorithm, hex);

    public override string ToString() => $"{Algorithm}:{Hex}";

    public static Digest Parse(string value)
    {
        if (!TryParse(value, out var digest, out var error))
            throw new FormatException($"invalid digest '{Truncate(value)}': {error}");
        return digest;
    }

    public static bool TryParse(string? value, out Digest digest) => TryParse(value, out digest, out _);

    private static bool TryParse(string? value, out Digest digest, out string error)
    {
        digest = default;
        if (string.IsNullOrEmpty(value)) { error = "it is empty"; return false; }
        var colon = value.IndexOf(':');
        if (colon <= 0) { error = "expected 'algorithm:hex'"; return false; }
        var algorithm = value[..colon];
        var hex = value[(colon + 1)..];
        var expectedLength = algorithm switch { Sha256 => 64, Sha512 => 128, _ => 0 };
        if (expectedLength == 0) { error = $"unsupported algorithm '{Truncate(algorithm)}' (use sha256 or sha512)"; return false; }
        if (hex.Length != expectedLength) { error = $"{algorithm} needs {expectedLength} hex characters, got {hex.Length}"; return false; }
        foreach (var c in hex)
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) { error = "the hex part must be lowercase hexadecimal"; return false; }
        digest = new Digest(algorithm, hex);
        error = "";
        return true;
    }

    public static Digest FromHash(string algorithm, ReadOnlySpan<byte> hash) =>
        new(algorithm, Convert.ToHexStringLower(hash));

    public static Digest Compute(ReadOnlySpan<byte> content, string algorithm = Sha256) =>
        FromHash(algorithm, algorithm == Sha512 ? SHA512.HashData(content) : SHA256.HashData(content));

    public static async Task<Digest> ComputeAsync(Stream content, string algorithm = Sha256, CancellationToken ct = default) =>
        FromHash(algorithm, algorithm == Sha512
            ? await SHA512.HashDataAsync(content, ct).ConfigureAwait(false)
            : await SHA256.HashDataAsync(content, ct).ConfigureAwait(false));

    public IncrementalHash CreateHasher() => IncrementalHash.CreateHash(
        Algorithm == Sha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    private static string Truncate(string s) => s.Length > 80 ? s[..80] + "…" : s;
}

internal sealed class DigestJsonConverter : JsonConverter<Digest>
{
    public override Digest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString();
        try { return Digest.Parse(text ?? ""); }
        catch (FormatException e) { throw new JsonException(e.Message, e); }
    }

    public override void Write(Utf8JsonWriter writer, Digest value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
