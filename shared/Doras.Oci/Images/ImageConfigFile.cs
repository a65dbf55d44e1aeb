using System.Text.Json;
using Doras.Oci.Model;

namespace Doras.Oci.Images;

/// <summary>
/// What Doras reads of an image's config (OCI image config or Docker's container config): the platform and
/// <c>rootfs.diff_ids</c>, the digests of the layers' uncompressed tars in order. The bytes are kept as published:
/// the config's digest is in the manifest, so it is never rewritten.
/// </summary>
public sealed record ImageConfigFile(string? Os, string? Architecture, string? Variant, DateTimeOffset? Created, IReadOnlyList<Digest> DiffIds, byte[] Bytes)
{
    /// <summary>More layers than this is not an image anybody builds (docker refuses over 127 by default); refused before any is read.</summary>
    public const int MaxLayers = 1000;

    /// <summary>The platform the config says the image is for, or null when it names none.</summary>
    public Platform? Platform => Os is { Length: > 0 } && Architecture is { Length: > 0 } ? new Platform { Os = Os, Architecture = Architecture, Variant = Variant } : null;

    public static ImageConfigFile Parse(byte[] bytes, string what)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            var root = doc.RootElement;
            string? Text(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            var rootfs = root.GetProperty("rootfs");
            if (rootfs.GetProperty("type").GetString() != "layers")
                throw new InvalidDataException($"{what}: rootfs.type is not \"layers\"");
            var ids = rootfs.GetProperty("diff_ids");
            if (ids.GetArrayLength() > MaxLayers)
                throw new InvalidDataException($"{what} lists {ids.GetArrayLength()} layers; more than {MaxLayers} is refused");
            var diffIds = ids.EnumerateArray().Select(id => Digest.Parse(id.GetString() ?? "")).ToList();
            return new ImageConfigFile(Text("os"), Text("architecture"), Text("variant"), SignedTime.Parse(Text("created")), diffIds, bytes);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{what} is not an image config ({e.Message})", e);
        }
    }
}
