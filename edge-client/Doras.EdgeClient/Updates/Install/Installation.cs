using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.Oci.IO;
using Doras.Oci.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Doras.EdgeClient.Updates.Install;

/// <summary>
/// The install transaction of one output: swaps verified staged content into place under a journal, records the
/// state afterwards, finishes or rolls back an install a crash interrupted, and rolls back to a kept version.
/// Local work only: it never talks to a server. The installed version is always exactly the old or the new one.
/// </summary>
public sealed class Installation
{
    private readonly ILogger _log;

    /// <param name="workDirectory">State, journal and staging (default: <c>.NAME.doras</c> beside the output).</param>
    public Installation(string output, string? workDirectory = null, ILogger? logger = null)
    {
        Paths = WorkPaths.For(output, workDirectory);
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>Free space to leave when a directory is extracted (<see cref="UpdateOptions.ReserveBytes"/>).</summary>
    public long ReserveBytes { get; init; }

    /// <summary>Told when the swap starts and when a rollback is done.</summary>
    public IProgress<UpdateProgress>? Progress { get; init; }

    internal WorkPaths Paths { get; }

    /// <summary>What is recorded as installed (null: nothing, or an unreadable state).</summary>
    public InstallState? State => InstallState.Load(Paths.State);

    /// <summary>Holds the output against other updates (other processes too) until disposed.</summary>
    internal async Task<IDisposable> LockAsync(CancellationToken ct)
    {
        WorkDirectoryGuard.EnsureOurs(Paths);
        var held = await FileLock.AcquireAsync(Paths.Lock, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        try { WorkDirectoryGuard.EnsureThisOutputs(Paths); }
        catch
        {
            held.Dispose();
            throw;
        }
        return held;
    }

    /// <summary>
    /// After a crash during an install: if what the journal was installing is what is installed, record it
    /// (finish); otherwise the old version is still in place (roll back). Either way the journal goes.
    /// </summary>
    internal async Task RecoverAsync(CancellationToken ct)
    {
        // A two-rename swap cut between its renames: the old tree is aside and nothing is at the output.
        if (Directory.Exists(Paths.Aside))
        {
            if (!Path.Exists(Paths.Output))
            {
                Directory.Move(Paths.Aside, Paths.Output);
                Durable.FsyncDirectory(Path.GetDirectoryName(Paths.Output)!);
                _log.LogInformation("Put back {Output}, moved aside by an install that was cut between its two renames", Paths.Output);
            }
            else Directory.Delete(Paths.Aside, recursive: true); // the new tree made it in place
        }
        if (!File.Exists(Paths.Journal)) return;
        var pending = InstallState.Load(Paths.Journal);
        if (pending is not null && await ContentCheck.InstalledAsync(pending, Paths, ct).ConfigureAwait(false) is null)
        {
            await pending.SaveAsync(Paths.State, ct).ConfigureAwait(false);
            if (InstallState.Load(Paths.PreviousState)?.ManifestDigest == pending.ManifestDigest) Paths.DropPrevious(); // an interrupted rollback
            _log.LogInformation("Finished the interrupted install of {Manifest}", pending.ManifestDigest);
        }
        else
        {
            _log.LogInformation("Rolled back an interrupted install: the previous version is still in place");
        }
        File.Delete(Paths.Journal);
        if (InstallState.Load(Paths.State) is { } state) Paths.RemoveStaleBases(state);
    }

    /// <summary>Swaps verified staged content into place, then records the new state. Returns the installed path.</summary>
    internal async Task<string> InstallAsync(string staging, ArtifactLayer target, Descriptor manifest, Reference reference, InstallState? previous,
        bool keepPrevious, bool replaceExisting, DateTimeOffset? newestAccepted, CancellationToken ct)
    {
        if (replaceExisting) OutputGuard.ClearInTheWay(Paths.Output, target);
        // A kept version is only ever the one this install replaces: an older one goes now.
        Paths.DropPrevious();
        keepPrevious &= previous is not null;
        string installed;
        string? tree = null, treeDigest = null;
        if (target.Kind == ArtifactKind.File)
        {
            Directory.CreateDirectory(Paths.Output);
            installed = Path.Combine(Paths.Output, target.Name);
            if (!OperatingSystem.IsWindows() && target.Layer.Annotation(DorasAnnotations.FileMode) is { } mode)
                File.SetUnixFileMode(staging, (UnixFileMode)(Convert.ToInt32(mode, 8) & 0x1FF)); // permission bits only
        }
        else
        {
            installed = Paths.Output;
            tree = Paths.NewTree();
            Download.FreeSpace.Ensure(Paths.Work, await ExtractionFootprint.OfAsync(staging, ct).ConfigureAwait(false), ReserveBytes,
                $"extracting {target.Name} (files rounded up to {ExtractionFootprint.BlockSize}-byte blocks)");
            await using (var tar = new FileStream(staging, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                await TarPacking.ExtractAsync(tar, tree, ct, installedAt: Paths.Output).ConfigureAwait(false);
            treeDigest = (await TreeDigest.ComputeAsync(tree, ct).ConfigureAwait(false)).ToString();
            // The tar is the base the next delta applies to: in place before the swap, so a finished swap is complete.
            Durable.MoveDurably(staging, Paths.BaseCache(target.ContentDigest.ToString()), overwrite: true);
        }
        var next = new InstallState
        {
            Reference = reference.ToString(),
            ManifestDigest = manifest.Digest.ToString(),
            Kind = target.Kind.ToString(),
            Name = target.Name,
            ContentDigest = target.ContentDigest.ToString(),
            ContentSize = target.ContentSize,
            TreeDigest = treeDigest,
            Output = Paths.Output,
            UpdatedAt = DateTimeOffset.UtcNow,
            NewestAccepted = newestAccepted,
        };

        Report(UpdatePhase.Installing, installed);
        if (keepPrevious && tree is null)
        {
            Directory.CreateDirectory(Paths.Previous);
            Durable.LinkOrCopy(Paths.Installed(previous!), Paths.Kept(previous!));
        }
        // Journal first: if we die after the swap but before the state is saved, the next start finishes the job.
        await next.SaveAsync(Paths.Journal, ct).ConfigureAwait(false);
        if (tree is null) Durable.MoveDurably(staging, installed, overwrite: true); // atomic: old or new, never a mix
        else SwapDirectory(tree, keepOldAt: keepPrevious ? Paths.Previous : null);
        // The swap is done: the records follow whatever the token says, or the state would name a version no longer there.
        await next.SaveAsync(Paths.State, CancellationToken.None).ConfigureAwait(false);
        File.Delete(Paths.Journal);
        if (keepPrevious) await previous!.SaveAsync(Paths.PreviousState, CancellationToken.None).ConfigureAwait(false);

        if (previous is { Kind: nameof(ArtifactKind.File) } && previous.Name != target.Name && target.Kind == ArtifactKind.File)
            Durable.TryDelete(Path.Combine(Paths.Output, previous.Name));
        Paths.RemoveStaleBases(next);
        _log.LogInformation("Installed {Reference} ({Manifest}) at {Path}", reference, manifest.Digest, installed);
        return installed;
    }

    /// <summary>
    /// Puts back the version the last update replaced (kept with <see cref="UpdateOptions.KeepPrevious"/>),
    /// verified first and swapped atomically under the same journal as an update; the version rolled back
    /// from is kept in its place, so a second rollback rolls forward again.
    /// </summary>
    public async Task<UpdateResult> RollbackAsync(CancellationToken ct = default)
    {
        using var _ = await LockAsync(ct).ConfigureAwait(false);
        await RecoverAsync(ct).ConfigureAwait(false);
        var current = InstallState.Load(Paths.State) ?? throw new InvalidOperationException($"nothing is installed at {Paths.Output}, so there is nothing to roll back");
        var previous = InstallState.Load(Paths.PreviousState)
            ?? throw new InvalidOperationException($"no previous version of {Paths.Output} is kept (updates keep one with KeepPrevious, --keep-previous)");
        if (await ContentCheck.InstalledAsync(current, Paths, ct).ConfigureAwait(false) is { } changed)
            throw new InvalidOperationException($"cannot roll back: {changed}");
        if (await ContentCheck.InstalledAsync(previous, Paths with { Output = Paths.Previous }, ct).ConfigureAwait(false) is { } damaged)
        {
            Paths.DropPrevious();
            throw new InvalidDataException($"the kept previous version {previous.ManifestDigest} is damaged ({damaged}); it was removed");
        }

        Report(UpdatePhase.Installing, Paths.Installed(previous));
        // A rollback goes back in content, never in what was accepted: the newer version stays the floor for updates.
        // The journal holds the state as it will be, floor included, so a crash mid-swap cannot lower it.
        var restored = previous with { UpdatedAt = DateTimeOffset.UtcNow, NewestAccepted = Trust.VerifiedTarget.Later(previous.NewestAccepted, current.NewestAccepted) };
        await restored.SaveAsync(Paths.Journal, ct).ConfigureAwait(false);
        // Exchange keeps both versions: the current one becomes the kept one. Without it, a rename over the current.
        var sameName = Paths.Installed(previous) == Paths.Installed(current);
        var exchanged = sameName && Durable.TryExchange(Paths.Kept(previous), Paths.Installed(current));
        if (!exchanged)
        {
            if (current.Kind == nameof(ArtifactKind.File)) Durable.MoveDurably(Paths.Kept(previous), Paths.Installed(previous), overwrite: true);
            else SwapDirectory(Paths.Previous, keepOldAt: null);
            if (!sameName) Durable.TryDelete(Paths.Installed(current));
        }
        await restored.SaveAsync(Paths.State, ct).ConfigureAwait(false);
        File.Delete(Paths.Journal);
        if (exchanged) await current.SaveAsync(Paths.PreviousState, ct).ConfigureAwait(false);
        else Paths.DropPrevious();
        Paths.RemoveStaleBases(restored);
        _log.LogInformation("Rolled back {Output} from {From} to {To}", Paths.Output, current.ManifestDigest, previous.ManifestDigest);
        Report(UpdatePhase.Done, UpdateMode.RolledBack.ToString());
        return new UpdateResult(UpdateMode.RolledBack, Paths.Installed(previous), previous.ManifestDigest, 0, 0, previous.ContentSize, null);
    }

    private void Report(UpdatePhase phase, string? detail) => Progress?.Report(new UpdateProgress(phase, Detail: detail));

    /// <summary>
    /// Puts a new tree at the output without an instant where no version is installed (Linux renameat2
    /// exchange). The old tree is deleted, or moved to <paramref name="keepOldAt"/>.
    /// </summary>
    private void SwapDirectory(string tree, string? keepOldAt)
    {
        void Retire(string old)
        {
            if (keepOldAt is null) Directory.Delete(old, recursive: true);
            else Directory.Move(old, keepOldAt);
        }

        if (!Directory.Exists(Paths.Output))
        {
            Directory.Move(tree, Paths.Output);
            Durable.FsyncDirectory(Path.GetDirectoryName(Paths.Output)!);
            return;
        }
        if (Durable.TryExchange(tree, Paths.Output))
        {
            Retire(tree); // the old version, now at the staging path
            return;
        }
        // No atomic exchange here: move the old one aside first, so it can be restored if the second move fails.
        _log.LogWarning("Atomic directory exchange is not supported here; swapping {Output} with two renames", Paths.Output);
        var old = Paths.Aside; // not a tree-* leftover: recovery puts it back if we die before the second move
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        Directory.Move(Paths.Output, old);
        try { Directory.Move(tree, Paths.Output); }
        catch { Directory.Move(old, Paths.Output); throw; }
        Retire(old);
    }
}
