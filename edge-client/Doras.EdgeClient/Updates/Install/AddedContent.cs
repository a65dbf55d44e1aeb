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
    /// <returns>The output itself when the installed tree's list cannot be read (its cached base is gone or damaged) or a
    /// directory of the output cannot be listed: nothing then proves the rest is ours.</returns>
    public static async Task<string?> FirstAsync(InstallState state, WorkPaths paths, CancellationToken ct)
    {
        var installed = await InstalledNamesAsync(paths.BaseCache(state.ContentDigest), state, ct).ConfigureAwait(false);
        if (installed is null) return paths.Output;
        try
        {
            foreach (var entry in Entries(paths.Output, ""))
            {
                ct.ThrowIfCancellationRequested();
                if (!installed.Contains(entry)) return Path.Combine(paths.Output, entry);
            }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return paths.Output; // a directory we cannot read may hold anything
        }
        return null;
    }

    /// <summary>Every name the installed tar makes (its directories too, named or implied), relative, without './' or a trailing '/'.</summary>
    /// <remarks>Null when the tar is missing or is not the installed content (checked against its digest first).</remarks>
    private static async Task<HashSet<string>?> InstalledNamesAsync(string tarPath, InstallState state, CancellationToken ct)
    {
        if (!File.Exists(tarPath)) return null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await using var stream = new FileStream(tarPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
            if ((await Oci.Model.Digest.ComputeAsync(stream, Oci.Model.Digest.Sha256, ct).ConfigureAwait(false)).ToString() != state.ContentDigest) return null;
            stream.Position = 0;
            await using var reader = new TarReader(stream);
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                // Named as extraction names them (TarPacking.Components): '\' is a separator, '.' and empty names dropped.
                var parts = entry.Name.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
                var name = "";
                foreach (var part in parts) names.Add(name = name.Length == 0 ? part : name + "/" + part);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException) { return null; } // a damaged base proves nothing
        return names;
    }

    /// <summary>Relative paths under <paramref name="root"/>; a linked directory is listed, never entered.</summary>
    private static IEnumerable<string> Entries(string root, string prefix)
    {
        foreach (var info in new DirectoryInfo(Path.Combine(root, prefix)).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false }))
        {
            var name = prefix.Length == 0 ? info.Name : prefix + "/" + info.Name;
            yield return name;
            if (info.LinkTarget is null && info is DirectoryInfo)
                foreach (var inner in Entries(root, name)) yield return inner;
        }
    }
}
