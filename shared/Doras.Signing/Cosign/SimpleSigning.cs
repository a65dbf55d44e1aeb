using System.Text.Json;
using Doras.Oci.Model;

namespace Doras.Signing.Cosign;

/// <summary>
/// cosign's signed payload for a container image ("simple signing"): it names the manifest digest it signs, and the
/// repository it was signed in. The digest is what counts; the repository is informational (a version copied to a
/// mirror keeps its signature), as cosign treats it.
/// </summary>
public static class SimpleSigning
{
    public const string MediaType = "application/vnd.dev.cosign.simplesigning.v1+json";
    public const string Type = "cosign container image signature";

    /// <summary>No payload cosign writes comes near this; a larger one is refused unread.</summary>
    public const int MaxPayloadBytes = 64 * 1024;

    /// <summary>The payload for <paramref name="digest"/>, byte for byte as cosign writes it (its keys in this order, "optional": null).</summary>
    public static byte[] Create(string dockerReference, Digest digest)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("critical");
            json.WriteStartObject("identity");
            json.WriteString("docker-reference", dockerReference);
            json.WriteEndObject();
            json.WriteStartObject("image");
            json.WriteString("docker-manifest-digest", digest.ToString());
            json.WriteEndObject();
            json.WriteString("type", Type);
            json.WriteEndObject();
            json.WriteNull("optional");
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The manifest digest a payload names; throws <see cref="FormatException"/> for anything that is not a cosign payload.</summary>
    public static string SignedDigest(ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxPayloadBytes) throw new FormatException($"the payload is {payload.Length} bytes, over {MaxPayloadBytes}");
        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 16 });
            using var doc = JsonDocument.ParseValue(ref reader);
            var critical = doc.RootElement.GetProperty("critical");
            if (critical.GetProperty("type").GetString() != Type)
                throw new FormatException($"the payload's type is not '{Type}'");
            return critical.GetProperty("image").GetProperty("docker-manifest-digest").GetString()
                ?? throw new FormatException("the payload names no digest");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"the payload is not a cosign payload ({e.Message})", e);
        }
    }
}
