using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Images;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Model;

namespace Doras.Server.Deltas;

/// <summary>
/// How a delta between two versions is built and stored, once the versions are read: the algorithms to try, the
/// name in its key, the names under which an acceptable stored one may be, and which algorithms' deltas the caller
/// can apply (the stored manifest's algorithm must be one).
/// </summary>
/// <param name="LayerAlgorithms">For an image delta: the algorithms its rebuilt layers may use (the caller can apply them).</param>
public sealed record DeltaPlan(DeltaSubject Subject, IReadOnlyList<IDeltaAlgorithm> Candidates, string KeyName, IReadOnlyList<string> StoredNames, IReadOnlySet<string> Acceptable, bool Auto,
    IReadOnlySet<string>? LayerAlgorithms = null)
{
    /// <summary>Whether a stored delta's manifest is one the caller can apply: its algorithm, and for an image delta every layer's.</summary>
    public bool CanApply(ImageManifest delta)
    {
        if (!Acceptable.Contains(delta.Annotation(DorasAnnotations.DeltaAlgorithm) ?? "")) return false;
        if (LayerAlgorithms is null) return true;
        var layers = (delta.Annotation(DorasAnnotations.ImageDeltaLayers) ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return layers.All(word => !word.StartsWith(RebuiltPrefix, StringComparison.Ordinal) || LayerAlgorithms.Contains(word[RebuiltPrefix.Length..]));
    }

    private const string RebuiltPrefix = "rebuilt:";
}

/// <summary>
/// The one place that decides what a pair of versions is (two artifacts, or two container images) and how its delta
/// is chosen, for devices' requests and precomputation alike. Container images need <c>image</c> among the accepted
/// algorithms (a client that asks for it can apply image deltas); the other accepted algorithms, or <c>auto</c> when
/// there are none, are what each layer's delta may use.
/// </summary>
public static class DeltaPlans
{
    private const string ImageKeyPrefix = ImageDeltaFile.AlgorithmName + "+";

    /// <summary>The algorithms an image delta's layers are built with, when the caller accepts them.</summary>
    private static readonly HashSet<string> LayerAlgorithmNames = [Delta.Algorithms.TardiffAlgorithm.AlgorithmName, Delta.Algorithms.ZstdPatchAlgorithm.AlgorithmName];

    /// <summary>
    /// Reads both versions' manifests once each (and, for images, their configs). A container image and an artifact
    /// have no delta.
    /// </summary>
    public static async Task<DeltaSubject> ReadAsync(IReadOnlyOciRepository repository, Descriptor from, Descriptor to, string fromName, string toName, CancellationToken ct)
    {
        var fromBytes = await repository.FetchBytesAsync(from, ct: ct).ConfigureAwait(false);
        var toBytes = await repository.FetchBytesAsync(to, ct: ct).ConfigureAwait(false);
        var (fromManifest, toManifest) = (RepositoryExtensions.ParseManifest(fromBytes, from), RepositoryExtensions.ParseManifest(toBytes, to));
        return (OciImage.IsImage(fromManifest), OciImage.IsImage(toManifest)) switch
        {
            (true, true) => new ImagePair(await ImageAsync(repository, from, fromBytes, fromManifest, fromName, ct).ConfigureAwait(false),
                await ImageAsync(repository, to, toBytes, toManifest, toName, ct).ConfigureAwait(false)),
            (false, false) => new ArtifactPair(ArtifactLayer.From(fromManifest, fromName), ArtifactLayer.From(toManifest, toName)),
            _ => throw new IncompatibleArtifactException($"cannot make a delta between a container image and an artifact ({fromName}, {toName})"),
        };
    }

    private static async Task<OciImage> ImageAsync(IReadOnlyOciRepository repository, Descriptor descriptor, byte[] bytes, ImageManifest manifest, string name, CancellationToken ct) =>
        OciImage.From(descriptor, bytes, await repository.FetchBytesAsync(manifest.Config, ct: ct).ConfigureAwait(false), name);

    /// <summary>Whether the two versions hold the same content (nothing to send, though their manifests differ).</summary>
    public static bool SameContent(DeltaSubject subject) => subject is ArtifactPair a && a.From.ContentDigest == a.To.ContentDigest;

    /// <summary>The plan for <paramref name="accepted"/>, or why none fits (the 406's text).</summary>
    public static (DeltaPlan? Plan, string? WhyNot) Choose(DeltaAlgorithms algorithms, DeltaSubject subject, IReadOnlyList<string> accepted)
    {
        if (subject is ArtifactPair artifacts)
        {
            if (!artifacts.From.IsCompatibleWith(artifacts.To))
                return (null, $"cannot make a delta from a {artifacts.From.Kind.ToString().ToLowerInvariant()} artifact to a {artifacts.To.Kind.ToString().ToLowerInvariant()} artifact");
            if (algorithms.Choose(accepted, artifacts.To.Kind) is not { } choice) return (null, algorithms.WhyNone(accepted, artifacts.To.Kind));
            return (new DeltaPlan(subject, choice.Candidates, choice.Name, choice.StoredNames, choice.Acceptable, IsAuto(choice)), null);
        }
        if (!accepted.Contains(ImageDeltaFile.AlgorithmName, StringComparer.OrdinalIgnoreCase))
            return (null, $"the versions are container images, which need an image delta: ask with {Api.DeltaApi.AcceptedAlgorithm}={ImageDeltaFile.AlgorithmName} (and the algorithms its layers may use)");
        var perLayer = accepted.Where(a => !string.Equals(a, ImageDeltaFile.AlgorithmName, StringComparison.OrdinalIgnoreCase)).DefaultIfEmpty(DeltaAlgorithms.Auto).ToList();
        // A layer's tar is a directory tree's content: the tar-aware algorithms apply beside the general ones.
        if (algorithms.Choose(perLayer, ArtifactKind.Directory) is not { } inner) return (null, algorithms.WhyNone(perLayer, ArtifactKind.Directory));
        // Per layer, the tar-aware tardiff (whose changed ELF members go by bsdiff-exe) and zstd's long-window patch: the
        // whole-file bsdiff family would suffix-sort the old image's every layer again for each new one (minutes per
        // layer on a 100 MB base, spending the image's budget), and tardiff already uses bsdiff member by member.
        var layerCandidates = inner.Candidates.Where(a => LayerAlgorithmNames.Contains(a.Name)).ToList() is { Count: > 0 } tarAware ? tarAware : inner.Candidates;
        return (new DeltaPlan(subject, layerCandidates, ImageKeyPrefix + inner.Name, [.. inner.StoredNames.Select(n => ImageKeyPrefix + n)],
            new HashSet<string>(StringComparer.Ordinal) { ImageDeltaFile.AlgorithmName }, Auto: true, inner.Acceptable), null);
    }

    private static bool IsAuto(DeltaChoice choice) => choice.Candidates.Count > 1 || choice.Name.StartsWith(DeltaAlgorithms.Auto, StringComparison.Ordinal);
}
