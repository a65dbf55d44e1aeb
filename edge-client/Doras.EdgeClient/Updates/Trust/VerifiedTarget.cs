using Doras.Delta.Vocabulary;
using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Model;
using Doras.Signing;

namespace Doras.EdgeClient.Updates.Trust;

/// <summary>
/// The version an update may install when verification is on, fixed before any strategy runs: the platform manifest
/// the reference names, a trusted signature of it (or of the index it came from) checked, built for this device's
/// platform as far as the signed bytes say, and no older than the newest version accepted before. Every strategy then
/// fetches this digest, never the tag again, so a tag moved in between changes nothing. The chain: signature →
/// manifest digest → layer digest → content digest → applied bytes.
/// </summary>
internal sealed record VerifiedTarget(Descriptor Manifest, DateTimeOffset? Created)
{
    public static Task<VerifiedTarget> ResolveAsync(IReadOnlyOciRepository repository, Reference reference, UpdateOptions options,
        PublisherVerification verification, InstallState? state, CancellationToken ct) =>
        ResolveAsync(repository, reference, options.Platform, options.AllowDowngrade, verification, state?.NewestAccepted, ct);

    /// <param name="floor">The newest version accepted before (its signed creation time), if any.</param>
    public static async Task<VerifiedTarget> ResolveAsync(IReadOnlyOciRepository repository, Reference reference, Platform? platformWanted, bool allowDowngrade,
        PublisherVerification verification, DateTimeOffset? floor, CancellationToken ct)
    {
        var top = await repository.ResolveAsync(reference.Identifier, ct).ConfigureAwait(false);
        Descriptor manifest = top, index = null!;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            index = top;
            manifest = await repository.ResolvePlatformAsync(top.Digest.ToString(), platformWanted, ct).ConfigureAwait(false); // the index by digest: verified
        }
        await verification.VerifyAsync(repository, reference.ToString(), manifest, index, ct).ConfigureAwait(false);
        // Signed: from here the manifest's words (and its config's) are the publisher's.
        var (platform, created) = await SignedFactsAsync(repository, manifest, ct).ConfigureAwait(false);
        var wanted = platformWanted ?? Platforms.Host;
        if (platform is not null && !Platforms.Matches(platform, wanted))
            throw new SignatureRefusedException(reference.ToString(), manifest.Digest.ToString(), RefusalReason.OtherPlatform,
                $"it is the build for {Platforms.Format(platform)}, and this device installs {Platforms.Format(wanted)}");
        if (!allowDowngrade && created is null)
            throw new DowngradeRefusedException(reference.ToString(), manifest.Digest.ToString(), created, floor);
        if (!allowDowngrade && floor is { } newest && created < newest)
            throw new DowngradeRefusedException(reference.ToString(), manifest.Digest.ToString(), created, newest);
        return new VerifiedTarget(manifest, created);
    }

    /// <summary>The newest version accepted once this one is installed: it only ever moves forward.</summary>
    public static DateTimeOffset? NewestAccepted(InstallState? previous, VerifiedTarget? target) => Later(previous?.NewestAccepted, target?.Created);

    public static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    /// <summary>
    /// What the signed bytes say of the build: its platform (the Doras annotation, or a container image's config) and
    /// its creation time (the OCI annotation, or a container image's config).
    /// </summary>
    private static async Task<(Platform? Platform, DateTimeOffset? Created)> SignedFactsAsync(IReadOnlyOciRepository repository, Descriptor descriptor, CancellationToken ct)
    {
        var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        var platform = manifest.Annotation(DorasAnnotations.Platform) is { } text ? Platforms.Parse(text) : null;
        var created = SignedTime.Parse(manifest.Annotation(Annotations.Created));
        if (OciImage.IsImage(manifest) && (platform is null || created is null))
        {
            var config = ImageConfigFile.Parse(await repository.FetchBytesAsync(manifest.Config, ct: ct).ConfigureAwait(false), $"the config of {descriptor.Digest}");
            (platform, created) = (platform ?? config.Platform, created ?? config.Created);
        }
        return (platform, created);
    }
}

/// <summary>
/// A signed version older than one this output already accepted, or one that cannot be ordered (no signed creation
/// time): installing it could be a rollback nobody asked for.
/// </summary>
public sealed class DowngradeRefusedException(string reference, string digest, DateTimeOffset? created, DateTimeOffset? newest)
    : Exception($"{reference} ({digest}) is refused: " + (created is null
        ? "it has no signed creation time (org.opencontainers.image.created, which doras push sets), so it cannot be ordered against the versions accepted before; "
        : $"it is older than the version already accepted here (created {created:yyyy-MM-ddTHH:mm:ss.fffZ}, newest accepted {newest:yyyy-MM-ddTHH:mm:ss.fffZ}); ") +
        "pass --allow-downgrade (AllowDowngrade) to install it anyway, or `doras rollback` for the kept previous version"), IFailure
{
    public FailureKind Kind => FailureKind.Downgrade;
}
