using System.Net.Http.Headers;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates.Download;
using Doras.EdgeClient.Updates.Install;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Microsoft.Extensions.Logging;

namespace Doras.EdgeClient.Updates.Strategies;

/// <summary>One attempt at an update: what it aims at, where it reads from, and the parts every strategy uses.</summary>
internal sealed record UpdateRun
{
    public required Reference Reference { get; init; }
    public required UpdateOptions Options { get; init; }
    public required Installation Installation { get; init; }
    public required MeteredDownloader Downloader { get; init; }
    public required DeltaClient Client { get; init; }
    public required DeltaAlgorithms Algorithms { get; init; }
    public required ILogger Log { get; init; }
    /// <summary>Where versions and deltas are downloaded from: the registry, or the server's /v2 API.</summary>
    public required IReadOnlyOciRepository Repository { get; init; }
    /// <summary>Registry mode: the authorization the server reads images with on our behalf.</summary>
    public AuthenticationHeaderValue? Authorization { get; init; }
    public required Action<UpdatePhase, string?> Report { get; init; }
    public required UpdateDeadline Deadline { get; init; }
    /// <summary>With verification on: the signed version this attempt installs, and nothing else.</summary>
    public Trust.VerifiedTarget? Verified { get; init; }

    /// <summary>What to fetch: the verified manifest's digest, or else the reference as given.</summary>
    public string TargetIdentifier => Verified?.Manifest.Digest.ToString() ?? Reference.Identifier;

    /// <summary>What the install state records as the newest version accepted, once this attempt installs.</summary>
    public DateTimeOffset? NewestAccepted(InstallState? previous) => Trust.VerifiedTarget.NewestAccepted(previous, Verified);

    internal WorkPaths Paths => Installation.Paths;

    /// <summary>The artifact a tag or digest names; through an index, the entry for <see cref="UpdateOptions.Platform"/>.</summary>
    public async Task<(Descriptor Manifest, ArtifactLayer Layer)> FetchArtifactAsync(string identifier, CancellationToken ct)
    {
        var descriptor = await Repository.ResolvePlatformAsync(identifier, Options.Platform, ct).ConfigureAwait(false);
        var manifest = await Repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        return (descriptor, ArtifactLayer.From(manifest, $"{Repository.Name}@{descriptor.Digest}"));
    }

    /// <summary>
    /// What to ask the server for a delta to: the reference as given, or, when it names an image index, this
    /// device's platform manifest by digest (a delta is between two platform manifests).
    /// </summary>
    public async Task<Reference> DeltaTargetAsync(CancellationToken ct)
    {
        if (Verified is { } verified) return new Reference(Reference.Registry, Reference.Repository, null, verified.Manifest.Digest);
        var descriptor = await Repository.ResolveAsync(Reference.Identifier, ct).ConfigureAwait(false);
        if (!MediaTypes.IsIndex(descriptor.MediaType)) return Reference;
        var entry = await Repository.ResolvePlatformAsync(descriptor.Digest.ToString(), Options.Platform, ct).ConfigureAwait(false);
        return new Reference(Reference.Registry, Reference.Repository, null, entry.Digest);
    }
}
