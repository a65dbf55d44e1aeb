using System.Text.RegularExpressions;

namespace Doras.EdgeClient.Updates.Install;

/// <summary>
/// The work directory holds state and is cleaned up by name, so it must be doras's own and one output's only:
/// a real directory (not a link to somewhere else) that doras made (it carries a marker file, or, made before
/// the marker, holds only names doras makes and a readable state), whose recorded state belongs to this output. Otherwise the update is refused (exit 2) before anything in it is
/// touched: pointing <c>--work-dir</c> at a user's folder, or two outputs at one work directory, must not cost
/// anyone a file.
/// </summary>
internal static partial class WorkDirectoryGuard
{
    /// <summary>Every name doras creates in a work directory (Durable's temporary files start with a dot).</summary>
    private const string Marker = ".doras-work";

    [GeneratedRegex(@"^(\.doras-work|lock|aside|state\.json|journal\.json|budget\.json|previous|previous\.json|(staging|tree|base|download)-.+|\..+\.tmp|\.doras-(bsdiff|deflate)-[0-9a-f]+)\z")]
    private static partial Regex OurNames();

    /// <summary>Before the lock is taken: the directory is ours, or absent (then made).</summary>
    public static void EnsureOurs(WorkPaths paths)
    {
        var work = new DirectoryInfo(paths.Work);
        if (work.LinkTarget is not null)
            throw Refused(paths, $"the work directory {paths.Work} is a symlink; doras keeps state and cleans up only in a real directory. Choose another --work-dir");
        if (File.Exists(paths.Work))
            throw Refused(paths, $"the work directory {paths.Work} is a file. Choose another --work-dir");
        var marker = Path.Combine(paths.Work, Marker);
        if (work.Exists && !File.Exists(marker) && work.EnumerateFileSystemInfos().Any())
        {
            // Made before the marker existed: only doras's names and a state it can read.
            if (work.EnumerateFileSystemInfos().FirstOrDefault(e => !OurNames().IsMatch(e.Name)) is { } foreign)
                throw Refused(paths, $"the work directory {paths.Work} holds '{foreign.Name}', which doras did not put there, so it is not doras's work directory. Choose another --work-dir (an empty or new directory)");
            if (InstallState.Load(paths.State) is null)
                throw Refused(paths, $"the work directory {paths.Work} is not empty and holds no doras state, so it is not doras's work directory. Choose another --work-dir (an empty or new directory)");
        }
        Directory.CreateDirectory(paths.Work);
        if (!File.Exists(marker)) File.WriteAllText(marker, "This directory is doras's work directory for one output: state, journal, downloads, staging.\n");
    }

    /// <summary>Once the lock is held: no state, journal or kept version in it belongs to another output.</summary>
    public static void EnsureThisOutputs(WorkPaths paths)
    {
        foreach (var file in new[] { paths.State, paths.Journal, paths.PreviousState })
            if (InstallState.Load(file) is { Output: { } other } && other != paths.Output)
                throw Refused(paths, $"the work directory {paths.Work} holds the state of another output ({other}); give each output its own --work-dir");
    }

    private static ExistingContentException Refused(WorkPaths paths, string message) => new(paths.Work, message);
}
