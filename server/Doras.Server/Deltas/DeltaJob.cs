using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Model;

namespace Doras.Server.Deltas;

/// <summary>What a build needs: where, between which versions, with which algorithms (several: keep the smallest).</summary>
/// <param name="ImageName">The repository as clients name it (with the registry host in registry mode).</param>
public sealed record DeltaJob(DeltaKey Key, IOciRepository Repository, string ImageName, DeltaSubject Subject, Descriptor ToManifest, IReadOnlyList<IDeltaAlgorithm> Candidates);

/// <summary>What a delta goes between: two artifacts' contents, or two container images.</summary>
public abstract record DeltaSubject
{
    /// <summary>Both versions' sizes, for the build-time estimate.</summary>
    public abstract long InputBytes { get; }

    /// <summary>The new version's size, for the build-time estimate.</summary>
    public abstract long TargetBytes { get; }

    /// <summary>What the device downloads without a delta: the <c>auto</c> answer compares the delta with it.</summary>
    public abstract long FullDownloadBytes { get; }
}

/// <summary>Two versions of a Doras artifact (one file or one directory tree each).</summary>
public sealed record ArtifactPair(ArtifactLayer From, ArtifactLayer To) : DeltaSubject
{
    public override long InputBytes => From.ContentSize + To.ContentSize;
    public override long TargetBytes => To.ContentSize;
    public override long FullDownloadBytes => To.Layer.Size;
}

/// <summary>
/// Two container images (platform manifests). Sizes are of the compressed layers that differ, counted three times
/// for the estimate (a layer's tar is about three times its gzip).
/// </summary>
public sealed record ImagePair(OciImage From, OciImage To) : DeltaSubject
{
    private IEnumerable<ImageLayer> NewLayers => To.Layers.Where(l => !l.IsForeign && From.Layers.All(o => o.Descriptor.Digest != l.Descriptor.Digest));

    public override long InputBytes => 3 * (From.Layers.Where(l => !l.IsForeign).Sum(l => l.Descriptor.Size) + NewLayers.Sum(l => l.Descriptor.Size));
    public override long TargetBytes => 3 * NewLayers.Sum(l => l.Descriptor.Size);

    /// <summary>A plain pull on a device with the old image: the new layers and the config.</summary>
    public override long FullDownloadBytes => NewLayers.DistinctBy(l => l.Descriptor.Digest).Sum(l => l.Descriptor.Size) + To.Manifest.Config.Size;
}
