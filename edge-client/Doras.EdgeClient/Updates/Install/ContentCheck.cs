using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Oci.Model;

namespace Doras.EdgeClient.Updates.Install;

/// <summary>Whether what is on disk is exactly what a state or a target says: read back, never assumed.</summary>
internal static class ContentCheck
{
    /// <summary>Null when the installation is exactly what the state records; otherwise why not.</summary>
    public static async Task<string?> InstalledAsync(InstallState state, WorkPaths paths, CancellationToken ct)
    {
        if (state.Kind == nameof(ArtifactKind.File))
        {
            var file = new FileInfo(Path.Combine(paths.Output, state.Name));
            if (!file.Exists) return $"the installed file {file.FullName} is missing";
            if (file.Length != state.ContentSize || (await DigestOfAsync(file.FullName, ct).ConfigureAwait(false)).Digest != state.ContentDigest)
                return $"the installed file {file.FullName} was changed locally";
            return null;
        }
        if (!Directory.Exists(paths.Output)) return $"the installed directory {paths.Output} is missing";
        if ((await TreeDigest.ComputeAsync(paths.Output, ct).ConfigureAwait(false)).ToString() != state.TreeDigest)
            return $"the installed directory {paths.Output} was changed locally";
        var baseCache = paths.BaseCache(state.ContentDigest);
        if (!File.Exists(baseCache) || (await DigestOfAsync(baseCache, ct).ConfigureAwait(false)).Digest != state.ContentDigest)
            return "the cached base of the installed directory is missing or damaged";
        return null;
    }

    /// <summary>Reads the staged result back from disk and refuses it unless it is exactly the target.</summary>
    public static async Task StagedAsync(string staging, ArtifactLayer target, string what, CancellationToken ct)
    {
        var (produced, size) = await DigestOfAsync(staging, ct).ConfigureAwait(false);
        if (produced != target.ContentDigest.ToString() || size != target.ContentSize)
            throw new CorruptDeltaException($"applying {what} gave {produced} ({size} bytes), not the target {target.ContentDigest} ({target.ContentSize} bytes)");
    }

    private static async Task<(string Digest, long Size)> DigestOfAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return ((await Digest.ComputeAsync(stream, Digest.Sha256, ct).ConfigureAwait(false)).ToString(), stream.Length);
    }
}
