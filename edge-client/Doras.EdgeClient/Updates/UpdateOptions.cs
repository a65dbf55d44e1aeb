using Doras.EdgeClient.Deltas;

namespace Doras.EdgeClient.Updates;

/// <summary>What to keep installed where.</summary>
public sealed record UpdateOptions
{
    /// <summary>The artifact to follow: <c>repo:tag</c> (or <c>repo@sha256:…</c>).</summary>
    public required string Reference { get; init; }

    /// <summary>
    /// When the reference names a multi-platform image index: whose manifest to install (null: this machine's,
    /// <see cref="Oci.Model.Platforms.Host"/>). Deltas are between the platform manifests, so a mixed fleet follows one tag.
    /// </summary>
    public Oci.Model.Platform? Platform { get; init; }

    /// <summary>
    /// Where it is installed. A file artifact is placed in this directory under its published name; a
    /// directory artifact becomes this directory.
    /// </summary>
    public required string Output { get; init; }

    /// <summary>State, staging and cached base content; beside the output by default (<c>.NAME.doras</c>).</summary>
    public string? WorkDirectory { get; init; }

    public IReadOnlyList<string> AcceptedAlgorithms { get; init; } = DeltaRequest.DefaultAlgorithms;

    /// <summary>The largest artifact (content, download or delta) accepted, in bytes.</summary>
    public long MaxArtifactBytes { get; init; } = 16L << 30;

    /// <summary>Attempts at an update when failures are transient (server errors, dropped links), all within <see cref="Timeout"/>.</summary>
    public int Attempts { get; init; } = 5;

    /// <summary>
    /// One deadline for the whole update: every attempt, retry, wait for the delta and download. When it passes the
    /// update fails with <see cref="UpdateTimeoutException"/> naming the last cause. <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>: none.
    /// </summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A download (or any answer) that brings less than <see cref="Oci.Remote.HttpBody.StallMinimumBytes"/> bytes
    /// in this time is aborted as a transient failure: the attempt is retried, resuming with Range, and the update
    /// fails as a network failure when no attempt gets through. <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>: no limit.
    /// </summary>
    public TimeSpan StallTimeout { get; init; } = Oci.Remote.HttpBody.DefaultStallTimeout;

    /// <summary>Free space to leave on the work directory's filesystem; an update that would eat into it is refused up front.</summary>
    public long ReserveBytes { get; init; }

    /// <summary>
    /// Keep the version an update replaces in the work directory, so <see cref="Updater.RollbackAsync"/> can put
    /// it back (a file costs no space until it is replaced: it is kept by a hard link).
    /// </summary>
    public bool KeepPrevious { get; init; }

    /// <summary>
    /// Replace a file or directory at the output that Doras did not install (no install state says it did). Off:
    /// such content is left untouched and the update is refused (<see cref="ExistingContentException"/>).
    /// </summary>
    public bool ReplaceExisting { get; init; }

    /// <summary>
    /// When the installed file is not a version the server knows, send its signature and ask for a delta from it
    /// (Octodiff) before falling back to the full download.
    /// </summary>
    public bool UseSignatures { get; init; } = true;

    /// <summary>
    /// The publishers this device trusts (null: none checked). When set, nothing is installed, by delta or in full,
    /// unless a valid signature by one of them covers the exact manifest digest installed; and a version older than
    /// the newest one accepted (its signed <c>org.opencontainers.image.created</c>) is refused unless <see cref="AllowDowngrade"/>.
    /// </summary>
    public Signing.PublisherVerification? Verification { get; init; }

    /// <summary>With <see cref="Verification"/>: accept a signed version older than the newest one accepted before (a deliberate rollback through the tag).</summary>
    public bool AllowDowngrade { get; init; }

    /// <summary>Metered links: at most this many bytes downloaded per period (null: no cap).</summary>
    public DataBudgetOptions? DataBudget { get; init; }

    public string ResolvedWorkDirectory
    {
        get
        {
            if (!string.IsNullOrEmpty(WorkDirectory)) return Path.GetFullPath(WorkDirectory);
            var output = Path.GetFullPath(Output).TrimEnd(Path.DirectorySeparatorChar);
            return Path.Combine(Path.GetDirectoryName(output)!, "." + Path.GetFileName(output) + ".doras");
        }
    }
}

public enum UpdateMode { Full, Delta, UpToDate, RolledBack }

/// <summary>What an update did, and what it cost on the wire.</summary>
public sealed record UpdateResult(
    UpdateMode Mode,
    string InstalledPath,
    string ManifestDigest,
    long BytesDownloaded,
    long FullDownloadSize,
    long ContentSize,
    string? FallbackReason)
{
    public double PercentOfFull => FullDownloadSize == 0 ? 0 : 100.0 * BytesDownloaded / FullDownloadSize;
}
