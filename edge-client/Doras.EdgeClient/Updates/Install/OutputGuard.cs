using Doras.Delta.Artifacts;
using Doras.EdgeClient.Updates.Install;
using Doras.Oci;

namespace Doras.EdgeClient.Updates;

/// <summary>
/// Content at the output that Doras did not install is the user's: it is never emptied, overwritten or replaced
/// unless the caller asked for that (<see cref="UpdateOptions.ReplaceExisting"/>). "Ours" means an install state
/// in the work directory says we put it there; an empty directory holds nothing to lose and is used as is.
/// </summary>
internal static class OutputGuard
{
    /// <summary>Throws <see cref="ExistingContentException"/> before anything is downloaded when the install would replace foreign content.</summary>
    public static void EnsureMayInstall(string output, ArtifactLayer target, InstallState? state, UpdateOptions options)
    {
        if (options.ReplaceExisting || Foreign(output, target, state) is not { } path) return;
        throw new ExistingContentException(path,
            $"{path} exists and was not installed by doras; it is left untouched. Pass --replace-existing (UpdateOptions.ReplaceExisting) to replace it with {target.Name}, or choose another --output");
    }

    /// <summary>
    /// An installed directory that no longer matches its state may hold files someone added (<see cref="AddedContent"/>):
    /// the update would replace the tree and delete them, so it is refused unless the caller passed ReplaceExisting.
    /// </summary>
    public static async Task EnsureNothingAddedAsync(InstallState state, WorkPaths paths, UpdateOptions options, CancellationToken ct)
    {
        if (options.ReplaceExisting || state.Kind != nameof(ArtifactKind.Directory) || !Directory.Exists(paths.Output)) return;
        if (await AddedContent.FirstAsync(state, paths, ct).ConfigureAwait(false) is not { } added) return;
        var what = added == paths.Output
            ? $"{added} was changed since doras installed it, and what it installed there cannot be told apart (its record is gone or damaged, or a directory cannot be read)"
            : $"{added} was added inside {paths.Output} after doras installed it";
        throw new ExistingContentException(added,
            $"{what}; an update replaces the whole directory, so it is left untouched. Move such files beside the output, or pass --replace-existing (UpdateOptions.ReplaceExisting) to replace the directory and lose them");
    }

    /// <summary>With <see cref="UpdateOptions.ReplaceExisting"/>: removes what stands where the swap needs a different kind of entry.</summary>
    public static void ClearInTheWay(string output, ArtifactLayer target)
    {
        if (File.Exists(output)) File.Delete(output); // a file where the output directory goes
        var file = Path.Combine(output, target.Name);
        if (target.Kind == ArtifactKind.File && Directory.Exists(file)) Directory.Delete(file, recursive: true);
    }

    /// <summary>The path holding content no install state of ours accounts for, or null.</summary>
    private static string? Foreign(string output, ArtifactLayer target, InstallState? state)
    {
        // doras never makes a link at the output: one there is the user's (pass its target as --output instead).
        if (File.Exists(output) || new FileInfo(output).LinkTarget is not null) return output;
        if (target.Kind == ArtifactKind.Directory)
            return state?.Kind != nameof(ArtifactKind.Directory) && Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any() ? output : null;
        var file = Path.Combine(output, target.Name);
        var ours = state is { Kind: nameof(ArtifactKind.File) } && state.Name == target.Name;
        return !ours && (File.Exists(file) || Directory.Exists(file)) ? file : null;
    }
}

/// <summary>The output holds a file or directory Doras did not install; nothing was changed.</summary>
public sealed class ExistingContentException(string path, string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Usage; // --replace-existing is the user's call

    public string Path { get; } = path;
}
