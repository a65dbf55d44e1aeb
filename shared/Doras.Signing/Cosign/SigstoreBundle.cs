using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Doras.Oci.Model;
using Doras.Signing.Keys;

namespace Doras.Signing.Cosign;

/// <summary>
/// A sigstore bundle (v0.3, as cosign 3 attaches it to an image as a referrer), checked with keys only: offline,
/// without a transparency log or certificates. Two forms: a DSSE envelope of an in-toto statement whose subject is
/// the manifest digest (cosign's image signatures), or a message signature over the manifest itself.
/// </summary>
public static class SigstoreBundle
{
    public const string MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    /// <summary>The predicate type of cosign 3's image signatures; attestations (SBOMs, provenance) are not signatures of the image.</summary>
    public const string SignPredicateType = "https://sigstore.dev/cosign/sign/v1";
    public const string InTotoPayloadType = "application/vnd.in-toto+json";

    /// <summary>A bundle is a few KiB (a certificate chain and log entries at most); a larger one is refused unread.</summary>
    public const int MaxBytes = 256 * 1024;

    /// <param name="manifest">The exact bytes of the manifest <paramref name="subject"/> names (a message signature signs them).</param>
    public static SignatureCheck Check(ReadOnlySpan<byte> bundle, Digest subject, ReadOnlySpan<byte> manifest, IReadOnlyList<VerificationKey> keys)
    {
        if (bundle.Length > MaxBytes) return SignatureCheck.Malformed;
        try
        {
            var reader = new Utf8JsonReader(bundle, new JsonReaderOptions { MaxDepth = 32 });
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.GetProperty("mediaType").GetString() is not (MediaType or "application/vnd.dev.sigstore.bundle+json;version=0.3"))
                return SignatureCheck.Malformed;
            if (root.TryGetProperty("dsseEnvelope", out var envelope)) return CheckDsse(envelope, subject, keys);
            if (root.TryGetProperty("messageSignature", out var message)) return CheckMessage(message, manifest, keys);
            return SignatureCheck.Malformed;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return SignatureCheck.Malformed;
        }
    }

    private static SignatureCheck CheckDsse(JsonElement envelope, Digest subject, IReadOnlyList<VerificationKey> keys)
    {
        if (Dsse.VerifiedPayload(envelope, keys) is not { } verified) return SignatureCheck.Untrusted;
        // Only now is the statement the publisher's words: read what it says.
        if (verified.PayloadType != InTotoPayloadType) return SignatureCheck.Malformed;
        using var statement = JsonDocument.Parse(verified.Payload, new JsonDocumentOptions { MaxDepth = 32 });
        var root = statement.RootElement;
        if (root.GetProperty("predicateType").GetString() != SignPredicateType) return SignatureCheck.Malformed; // an attestation (SBOM, provenance), not a signature
        return InTotoSubjects(root).Contains(subject.ToString()) ? SignatureCheck.Verified : SignatureCheck.OtherDigest;
    }

    /// <summary>The digests an in-toto statement's subjects name (<c>sha256:&lt;hex&gt;</c>), at most 64 of them.</summary>
    public static IReadOnlyList<string> InTotoSubjects(JsonElement statement) =>
        [.. statement.GetProperty("subject").EnumerateArray().Take(64)
            .SelectMany(s => s.GetProperty("digest").EnumerateObject().Take(8))
            .Where(d => d.Value.ValueKind == JsonValueKind.String)
            .Select(d => $"{d.Name}:{d.Value.GetString()}")];

    private static SignatureCheck CheckMessage(JsonElement message, ReadOnlySpan<byte> manifest, IReadOnlyList<VerificationKey> keys)
    {
        var signature = message.GetProperty("signature").GetBytesFromBase64();
        var trusted = false;
        foreach (var key in keys)
            if (key.Verify(manifest, signature)) { trusted = true; break; }
        if (!trusted) return SignatureCheck.Untrusted;
        // The signature covers these bytes; the digest it states must be theirs too, or the bundle contradicts itself.
        var digest = message.GetProperty("messageDigest");
        var stated = digest.GetProperty("digest").GetBytesFromBase64();
        var actual = digest.GetProperty("algorithm").GetString() switch
        {
            "SHA2_256" => SHA256.HashData(manifest),
            "SHA2_384" => SHA384.HashData(manifest),
            "SHA2_512" => SHA512.HashData(manifest),
            _ => null,
        };
        return actual is not null && CryptographicOperations.FixedTimeEquals(actual, stated) ? SignatureCheck.Verified : SignatureCheck.Malformed;
    }
}
