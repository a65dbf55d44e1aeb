using System.Globalization;
using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Signing;

namespace Doras.EdgeClient.Updates.Trust;

/// <summary>
/// The version an update may install when verification is on, fixed before any strategy runs: the platform manifest
/// the reference names, a trusted signature of it (or of the index it came from) checked, and no older than the newest
/// version accepted before. Every strategy then fetches this digest, never the tag again, so a tag moved in between
/// changes nothing. The chain: signature → manifest digest → layer digest → content digest → applied bytes.
/// </summary>
internal sealed record VerifiedTarget(Descriptor Manifest, DateTimeOffset? Created)
{
    public static async Task<VerifiedTarget> ResolveAsync(IReadOnlyOciRepository repository, Reference reference, UpdateOptions options,
        PublisherVerification verification, InstallState? state, CancellationToken ct)
    {
        var top = await repository.ResolveAsync(reference.Identifier, ct).ConfigureAwait(false);
        Descriptor manifest = top, index = null!;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            index = top;
            manifest = await repository.ResolvePlatformAsync(top.Digest.ToString(), options.Platform, ct).ConfigureAwait(false); // the index by digest: verified
        }
        await verification.VerifyAsync(repository, reference.ToString(), manifest, index, ct).ConfigureAwait(false);
        // Signed: from here the manifest's words are the publisher's.
        var created = CreatedOf(await repository.FetchManifestAsync(manifest, ct).ConfigureAwait(false));
        if (!options.AllowDowngrade && state?.NewestAccepted is { } newest && (created is null || created < newest))
            throw new DowngradeRefusedException(reference.ToString(), manifest.Digest.ToString(), created, newest);
        return new VerifiedTarget(manifest, created);
    }

    /// <summary>The newest version accepted once this one is installed: it only ever moves forward.</summary>
    public static DateTimeOffset? NewestAccepted(InstallState? previous, VerifiedTarget? target) => Later(previous?.NewestAccepted, target?.Created);

    public static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    private static DateTimeOffset? CreatedOf(ImageManifest manifest) =>
        DateTimeOffset.TryParse(manifest.Annotation(Annotations.Created), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var created) ? created : null;
}

/// <summary>A signed version older than one this output already accepted: installing it would be a rollback nobody asked for.</summary>
public sealed class DowngradeRefusedException(string reference, string digest, DateTimeOffset? created, DateTimeOffset newest)
    : Exception($"{reference} ({digest}) is refused: it is older than the version already accepted here " +
        $"({(created is null ? "it has no signed creation time" : $"created {created:yyyy-MM-ddTHH:mm:ss.fffZ}")}, newest accepted {newest:yyyy-MM-ddTHH:mm:ss.fffZ}); " +
        "pass --allow-downgrade (AllowDowngrade) to install it anyway, or `doras rollback` for the kept previous version"), IFailure
{
    public FailureKind Kind => FailureKind.Downgrade;
}
