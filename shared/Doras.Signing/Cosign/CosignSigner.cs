using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Signing.Keys;

namespace Doras.Signing.Cosign;

/// <summary>
/// Writes cosign signatures in its tag form: the manifest tagged <c>sha256-&lt;hex&gt;.sig</c> holds one layer per
/// signature, each layer a simple-signing payload with its signature in an annotation, as <c>cosign sign --key</c>
/// writes them, so <c>cosign verify --key</c> checks ours and we check cosign's.
/// </summary>
public static class CosignSigner
{
    /// <summary>
    /// Signs <paramref name="target"/> (a manifest or index stored in <paramref name="repository"/>) and attaches the
    /// signature to the signatures it already has (a second key, a re-signing): none are dropped.
    /// </summary>
    /// <param name="dockerReference">The repository as the payload names it (e.g. <c>registry.example.org/app</c>).</param>
    public static async Task<Descriptor> SignAsync(IOciRepository repository, Descriptor target, string dockerReference, SigningKey key, CancellationToken ct = default)
    {
        var payload = SimpleSigning.Create(dockerReference, target.Digest);
        var signature = Convert.ToBase64String(key.Sign(payload));
        var payloadBlob = await repository.PushBytesAsync(SimpleSigning.MediaType, payload, ct).ConfigureAwait(false);
        var layer = payloadBlob with { Annotations = new Dictionary<string, string> { [CosignTags.SignatureAnnotation] = signature } };

        var tag = CosignTags.SignatureTag(target.Digest);
        var layers = new List<Descriptor>();
        if (await repository.TryResolveAsync(tag, ct).ConfigureAwait(false) is { } existing)
            layers.AddRange((await repository.FetchManifestAsync(existing, ct).ConfigureAwait(false)).Layers);
        // Devices refuse a signature manifest past this (hostile, or junk planted to hide a real signature): say so here.
        if (layers.Count >= Doras.Signing.PublisherVerification.MaxSignatures)
            throw new InvalidDataException($"{repository.Name}:{tag} already holds {layers.Count} signatures; devices read at most {Doras.Signing.PublisherVerification.MaxSignatures}: remove it (doras delete) and sign again");
        layers.Add(layer);

        var config = await repository.PushBytesAsync(MediaTypes.ImageConfig, Config(layers), ct).ConfigureAwait(false);
        var manifest = new ImageManifest { MediaType = MediaTypes.ImageManifest, Config = config, Layers = layers };
        return await repository.PushManifestAsync(manifest, [tag], ct).ConfigureAwait(false);
    }

    /// <summary>The image config cosign gives a signature manifest: empty, but for one diff_id per layer.</summary>
    private static byte[] Config(IEnumerable<Descriptor> layers)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("architecture", "");
            json.WriteString("created", "0001-01-01T00:00:00Z");
            json.WriteStartArray("history");
            json.WriteStartObject();
            json.WriteString("created", "0001-01-01T00:00:00Z");
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteString("os", "");
            json.WriteStartObject("rootfs");
            json.WriteString("type", "layers");
            json.WriteStartArray("diff_ids");
            foreach (var layer in layers) json.WriteStringValue(layer.Digest.ToString());
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartObject("config");
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
