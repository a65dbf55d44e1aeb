using System.Collections.Concurrent;
using System.Globalization;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Microsoft.Extensions.Options;

namespace Doras.Server.Precompute;

/// <summary>
/// The versions of a repository in the order they were made: by the <c>org.opencontainers.image.created</c>
/// annotation of their manifests (what <c>doras push</c> writes), or for container images their config's
/// <c>created</c>, which say when a version was made wherever it was copied to, unlike the order tags appear.
/// Versions without it, and anything else (deltas, placeholders, other artifacts, indexes), are not counted. Manifests never change, so what is read of them is kept.
/// </summary>
public sealed class VersionHistory(IOptions<PrecomputeOptions> options, ILogger<VersionHistory> logger)
{
    private const int RememberedManifests = 10_000;
    private readonly ConcurrentDictionary<Digest, DateTimeOffset?> _created = new();

    /// <summary>
    /// Up to <paramref name="count"/> versions made at or before <paramref name="version"/> (newest first), by the
    /// tags of its repository (at most <c>Precompute:MaxTagsScanned</c>); empty when the version has no creation time.
    /// </summary>
    public async Task<IReadOnlyList<Descriptor>> PreviousAsync(IOciRepository repository, Descriptor version, int count, CancellationToken ct)
    {
        if (await CreatedAsync(repository, version, ct).ConfigureAwait(false) is not { } made) return [];
        var versions = new Dictionary<Digest, (Descriptor Descriptor, DateTimeOffset Created)>();
        var scanned = 0;
        await foreach (var tag in repository.ListTagsAsync(ct).ConfigureAwait(false))
        {
            if (++scanned > options.Value.MaxTagsScanned)
            {
                logger.LogWarning("{Repository} has over {Max} tags; earlier versions are looked for among the first {Max} only", repository.Name, options.Value.MaxTagsScanned, options.Value.MaxTagsScanned);
                break;
            }
            if (tag.StartsWith("_delta-", StringComparison.Ordinal)) continue;
            if (await repository.TryResolveAsync(tag, ct).ConfigureAwait(false) is not { } descriptor || descriptor.Digest == version.Digest) continue;
            if (versions.ContainsKey(descriptor.Digest)) continue;
            if (await CreatedAsync(repository, descriptor, ct).ConfigureAwait(false) is { } created && created <= made)
                versions[descriptor.Digest] = (descriptor, created);
        }
        return [.. versions.Values.OrderByDescending(v => v.Created).Take(count).Select(v => v.Descriptor)];
    }

    /// <summary>When a Doras artifact was made; null for anything else or without the annotation.</summary>
    private async Task<DateTimeOffset?> CreatedAsync(IOciRepository repository, Descriptor descriptor, CancellationToken ct)
    {
        if (_created.TryGetValue(descriptor.Digest, out var known)) return known;
        DateTimeOffset? created = null;
        if (MediaTypes.IsManifest(descriptor.MediaType))
        {
            var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
            if (manifest.ArtifactType == DorasMediaTypes.Artifact
                && DateTimeOffset.TryParse(manifest.Annotation(Annotations.Created), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var c))
                created = c;
            else if (Oci.Images.OciImage.IsImage(manifest))
            {
                // A container image says when it was built in its config (what buildah, docker and skopeo keep).
                try { created = Oci.Images.ImageConfigFile.Parse(await repository.FetchBytesAsync(manifest.Config, ct: ct).ConfigureAwait(false), $"the config of {descriptor.Digest}").Created; }
                catch (Exception e) when (e is InvalidDataException or FormatException) { created = null; }
            }
        }
        if (_created.Count >= RememberedManifests) _created.Clear();
        _created[descriptor.Digest] = created;
        return created;
    }
}
