using System.Globalization;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Server.Deltas;

/// <summary>What a delta's tag holds: nothing yet, a finished delta, or a placeholder saying it is being built or failed.</summary>
public abstract record DeltaRecord
{
    public sealed record Absent : DeltaRecord;
    public sealed record Ready(Descriptor Manifest) : DeltaRecord;
    /// <param name="Since">When the owner last wrote the placeholder: its claim, or its latest heartbeat.</param>
    /// <param name="FailuresBefore">How many builds of this delta had failed in a row when this one was claimed.</param>
    public sealed record Building(string Owner, DateTimeOffset Since, int FailuresBefore = 0) : DeltaRecord
    {
        /// <summary>Given up by its owner on shutdown (<see cref="DeltaRecords.WriteReleasedAsync"/>), not left by an owner that died.</summary>
        public bool Released => Since == DateTimeOffset.UnixEpoch;
    }
    /// <param name="NotApplicable">The algorithms cannot make this delta at all (e.g. deflate between files that are not gzip): 406, not 500.</param>
    /// <param name="Failures">How many builds of this delta failed in a row, this one included.</param>
    public sealed record Failed(string Reason, DateTimeOffset At, bool NotApplicable = false, int Failures = 1) : DeltaRecord
    {
        /// <summary>Whether the failure still stands at <paramref name="now"/> (<see cref="DeltaOptions.FailureRetentionAfter"/>); after, the delta is built again.</summary>
        public bool Stands(DateTimeOffset now, DeltaOptions options) => now - At < options.FailureRetentionAfter(Failures);
    }
}

/// <summary>
/// Reads and writes the records at a delta's deterministic tag. Placeholders are how server instances that
/// share a store tell each other that a build is under way (and by whom, since when) or has failed, so a delta
/// is built once and a failure is reported rather than retried by every instance.
/// </summary>
public static class DeltaRecords
{
    /// <summary>
    /// Whether a manifest is one the server wrote at a delta's tag: a delta (our artifactType, with its base and
    /// target) or a placeholder (our artifactType, marked "building"/"failed", or the Go original's dummy mark).
    /// Only these are the server's to judge and delete; anything else at a <c>_delta-</c> tag is someone's own data.
    /// </summary>
    public static bool IsDeltaOrPlaceholder(ImageManifest manifest) =>
        manifest.ArtifactType == DorasMediaTypes.Delta
        && (manifest.Annotation(DorasAnnotations.DeltaPlaceholder) is not null
            || manifest.Annotation(DorasAnnotations.GoDeltaDummy) == "true"
            || (manifest.Annotation(DorasAnnotations.DeltaFrom) is not null && manifest.Annotation(DorasAnnotations.DeltaTo) is not null));

    public static async Task<DeltaRecord> ReadAsync(IOciRepository repository, DeltaKey key, CancellationToken ct)
    {
        var descriptor = await repository.TryResolveAsync(key.Tag, ct).ConfigureAwait(false);
        if (descriptor is null) return new DeltaRecord.Absent();
        var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        var created = DateTimeOffset.TryParse(manifest.Annotation(Annotations.Created), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var c)
            ? c : DateTimeOffset.MinValue;
        return manifest.Annotation(DorasAnnotations.DeltaPlaceholder) switch
        {
            "building" => new DeltaRecord.Building(manifest.Annotation(DorasAnnotations.DeltaOwner) ?? "", created, FailuresOf(manifest)),
            "failed" => new DeltaRecord.Failed(manifest.Annotation(DorasAnnotations.DeltaFailure) ?? "unknown failure", created,
                manifest.Annotation(DorasAnnotations.DeltaFailureKind) == NotApplicable, Math.Max(1, FailuresOf(manifest))),
            // The Go original's placeholder: treat as a build under way by someone else.
            _ when manifest.Annotation(DorasAnnotations.GoDeltaDummy) == "true" => new DeltaRecord.Building("doras-go", created),
            _ => new DeltaRecord.Ready(descriptor),
        };
    }

    /// <param name="failuresBefore">The failures in a row before this build, kept through it (<see cref="DeltaRecord.Building.FailuresBefore"/>).</param>
    public static Task WriteBuildingAsync(IOciRepository repository, DeltaKey key, string owner, DateTimeOffset now, CancellationToken ct, int failuresBefore = 0) =>
        WritePlaceholderAsync(repository, key, now, ct, (DorasAnnotations.DeltaPlaceholder, "building"), (DorasAnnotations.DeltaOwner, owner), Failures(failuresBefore));

    /// <summary>
    /// Gives a claim up at once (on shutdown): a "building" placeholder dated at the Unix epoch, which every instance,
    /// of this version or an older one, takes as stale and builds over without waiting for the expiry.
    /// </summary>
    public static Task WriteReleasedAsync(IOciRepository repository, DeltaKey key, string owner, CancellationToken ct, int failuresBefore = 0) =>
        WritePlaceholderAsync(repository, key, DateTimeOffset.UnixEpoch, ct, (DorasAnnotations.DeltaPlaceholder, "building"), (DorasAnnotations.DeltaOwner, owner + " (released)"),
            Failures(failuresBefore));

    private const string NotApplicable = "not-applicable";

    /// <param name="failures">How many builds of this delta failed in a row, this one included.</param>
    public static Task WriteFailedAsync(IOciRepository repository, DeltaKey key, string reason, bool notApplicable, DateTimeOffset now, CancellationToken ct, int failures = 1) =>
        WritePlaceholderAsync(repository, key, now, ct, (DorasAnnotations.DeltaPlaceholder, "failed"),
            (DorasAnnotations.DeltaFailure, reason.Length > 2000 ? reason[..2000] : reason), (DorasAnnotations.DeltaFailureKind, notApplicable ? NotApplicable : "error"),
            Failures(Math.Max(1, failures)));

    private static (string, string) Failures(int count) => (DorasAnnotations.DeltaFailures, Math.Clamp(count, 0, MaxFailures).ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// A placeholder's count of failures in a row (a failed one's, or those before a build): 0 when absent (written
    /// before the count was) or not a number up to <see cref="MaxFailures"/> (the store is shared: a count from
    /// elsewhere is not trusted further). A failed placeholder counts at least its own failure.
    /// </summary>
    public static int FailuresOf(ImageManifest manifest) =>
        int.TryParse(manifest.Annotation(DorasAnnotations.DeltaFailures), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= MaxFailures ? n : 0;

    /// <summary>Counts stop here; the retention stops doubling long before (<see cref="DeltaOptions.MaxFailureRetention"/>).</summary>
    public const int MaxFailures = 1000;

    private static async Task WritePlaceholderAsync(IOciRepository repository, DeltaKey key, DateTimeOffset now, CancellationToken ct, params (string Key, string Value)[] annotations)
    {
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray(), ct).ConfigureAwait(false);
        var values = annotations.ToDictionary(a => a.Key, a => a.Value);
        values[Annotations.Created] = now.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        values[DorasAnnotations.DeltaAlgorithm] = key.Algorithm;
        var placeholder = new ImageManifest
        {
            ArtifactType = DorasMediaTypes.Delta,
            Config = Descriptor.EmptyJson,
            Layers = [],
            Annotations = values,
        };
        await repository.PushManifestAsync(placeholder, [key.Tag], ct).ConfigureAwait(false);
    }
}
