using System.Formats.Tar;

namespace Doras.EdgeClient.Updates.Install;

/// <summary>
/// What someone added inside an installed directory: entries that are not in the tree doras installed (read from
/// the cached tar of the installed version, its base). They are the user's, so an update that would replace the
/// tree, and with it them, is refused by <see cref="OutputGuard"/> unless the caller passed
/// <see cref="UpdateOptions.ReplaceExisting"/>. Files of the installed tree that were changed are not listed:
/// they are doras's own, and the update puts them right.
/// </summary>
internal static class AddedContent
{
    /// <summary>The first added entry (a path relative to the output), or null when nothing was added.</summary>
    /// <returns>The output itself when the installed tree's list cannot be read (its cached base is gone): nothing then proves the rest is ours.</returns>
    public static async Task<string?> FirstAsync(InstallState state, WorkPaths paths, CancellationToken ct)
    {
        var installed = await InstalledNamesAsync(paths.BaseCache(state.ContentDigest), ct).ConfigureAwait(false);
        if (installed is null) return paths.Output;
        foreach (var entry in Entries(paths.Output, ""))
            if (!installed.Contains(entry)) return Path.Combine(paths.Output, entry);
        return null;
    }

    /// <summary>Every name the installed tar makes (its directories too, named or implied), relative, without './' or a trailing '/'.</summary>
    private static async Task<HashSet<string>?> InstalledNamesAsync(string tarPath, CancellationToken ct)
    {
        if (!File.Exists(tarPath)) return null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await using var stream = new FileStream(tarPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
            await using var reader = new TarReader(stream);
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                var parts = entry.Name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
                for (var i = 1; i <= parts.Length; i++) names.Add(string.Join('/', parts[..i]));
            }
        }
        catch (InvalidDataException) { return null; } // a damaged base proves nothing
        return names;
    }

    /// <summary>Relative paths under <paramref name="root"/>; a linked directory is listed, never entered.</summary>
    private static IEnumerable<string> Entries(string root, string prefix)
    {
        foreach (var info in new DirectoryInfo(Path.Combine(root, prefix)).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0 }))
        {
            var name = prefix.Length == 0 ? info.Name : prefix + "/" + info.Name;
            yield return name;
            if (info.LinkTarget is null && info is DirectoryInfo)
                foreach (var inner in Entries(root, name)) yield return inner;
        }
    }
}
