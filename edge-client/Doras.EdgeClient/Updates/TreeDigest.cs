using System.Security.Cryptography;
using System.Text;
using Doras.Oci.Model;

namespace Doras.EdgeClient.Updates;

/// <summary>
/// A digest of a directory tree (relative paths, kinds, permissions, contents and link targets, in ordinal
/// order), to tell whether an installed directory is still exactly what was installed. Links are listed by
/// their targets and never followed.
/// </summary>
public static class TreeDigest
{
    public static async Task<Digest> ComputeAsync(string directory, CancellationToken ct = default)
    {
        var root = Path.GetFullPath(directory);
        using var tree = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in Entries(root).Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(path);
            var name = Path.GetRelativePath(root, path);
            // A link's own mode means nothing, and following it would fail on a dangling one.
            var mode = OperatingSystem.IsWindows() || info.LinkTarget is not null ? 0 : (int)File.GetUnixFileMode(path);
            string line;
            if (info.LinkTarget is { } target) line = $"L {name} {target}";
            else if (info.Attributes.HasFlag(FileAttributes.Directory)) line = $"D {name} {mode}";
            else
            {
                await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
                line = $"F {name} {mode} {info.Length} {Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false))}";
            }
            tree.AppendData(Encoding.UTF8.GetBytes(line + "\n"));
        }
        return Digest.FromHash(Digest.Sha256, tree.GetHashAndReset());
    }

    /// <summary>Every path under <paramref name="directory"/>; a linked directory is listed, never entered.</summary>
    private static IEnumerable<string> Entries(string directory)
    {
        foreach (var info in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0 }))
        {
            yield return info.FullName;
            if (info.LinkTarget is null && info is DirectoryInfo)
                foreach (var inner in Entries(info.FullName)) yield return inner;
        }
    }
}
