using System.Security.Cryptography;

namespace Doras.Tests.Support;

/// <summary>
/// Everything under a directory, never following a link: per relative path its kind, mode, content digest
/// or link target, and (optionally) its modification time; equal snapshots mean equal trees.
/// </summary>
public static class TreeSnapshot
{
    public static SortedDictionary<string, string> Take(string root, bool times = false, Func<string, bool>? skip = null)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["."] = Describe(new DirectoryInfo(root), times) };
        void Walk(string directory)
        {
            foreach (var info in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0 }))
            {
                var name = Path.GetRelativePath(root, info.FullName);
                if (skip?.Invoke(name) == true) continue;
                result[name] = Describe(info, times);
                if (info.LinkTarget is null && info is DirectoryInfo) Walk(info.FullName);
            }
        }
        Walk(root);
        return result;
    }

    private static string Describe(FileSystemInfo info, bool times)
    {
        if (info.LinkTarget is { } target) return $"link -> {target}";
        var mode = Convert.ToString((int)File.GetUnixFileMode(info.FullName), 8);
        var time = times ? $" {info.LastWriteTimeUtc:O}" : "";
        if (info is DirectoryInfo) return $"dir {mode}{time}";
        return $"file {mode} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(info.FullName)))}{time}";
    }
}
