using Doras.Delta.Artifacts;

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
public sealed class ExistingContentException(string path, string message) : IOException(message)
{
    public string Path { get; } = path;
}
