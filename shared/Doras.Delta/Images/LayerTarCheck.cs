using System.Formats.Tar;
using Doras.Delta.Artifacts;

namespace Doras.Delta.Images;

/// <summary>
/// A container layer's tar, read once as it is checked: every member's path, and every hard link's target, must stay
/// inside the image's root (relative, no <c>..</c> segment), as the extractor's rules require of directory artifacts.
/// Symbolic links may point anywhere: a container engine resolves them inside the container's root, and images use
/// absolute ones (<c>/bin -> usr/bin</c>). A hostile layer is refused before the image is tagged, so the old one stays.
/// </summary>
public static class LayerTarCheck
{
    /// <summary>Reads <paramref name="tar"/> to its end (so a digest computed around it covers every byte), checking each member.</summary>
    public static async Task CheckAsync(Stream tar, string what, CancellationToken ct)
    {
        try
        {
            await using (var reader = new TarReader(tar, leaveOpen: true))
            {
                while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
                {
                    Check(entry.Name, what, "a member");
                    if (entry.EntryType == TarEntryType.HardLink) Check(entry.LinkName, what, $"the hard link '{entry.Name}'s target");
                }
            }
            await tar.CopyToAsync(Stream.Null, 1 << 16, ct).ConfigureAwait(false); // the end-of-archive blocks and padding
        }
        catch (FormatException e)
        {
            throw new HostileArchiveException($"{what} is not a valid tar archive ({e.Message})");
        }
    }

    private static void Check(string path, string what, string role)
    {
        if (path.Length == 0 || path.Contains('\0') || path.StartsWith('/') || path.Split('/').Contains(".."))
            throw new HostileArchiveException($"{what}: {role} '{TarPacking.Shorten(path)}' would be written outside the image's root");
    }
}
