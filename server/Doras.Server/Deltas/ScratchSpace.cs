using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>
/// The server's scratch directories for builds (<c>Delta:WorkDirectory</c>, else the system's temporary
/// directory). Each one is named <c>doras-build-…</c> and holds an open, locked <c>.lock</c> file while it is
/// in use; at start-up, directories whose lock nobody holds were left by a killed server and are removed. A
/// directory another live instance on the same machine uses stays, and nothing else in the folder is touched.
/// </summary>
public sealed class ScratchSpace(IOptions<DeltaOptions> options, ILogger<ScratchSpace> logger)
{
    private const string Prefix = "doras-build-";
    private const string LockName = ".lock";

    public string Root => string.IsNullOrEmpty(options.Value.WorkDirectory) ? Path.GetTempPath() : Path.GetFullPath(options.Value.WorkDirectory);

    /// <summary>A new, locked scratch directory; disposing it removes it.</summary>
    public ScratchDirectory Create()
    {
        try
        {
            var path = Directory.CreateDirectory(Path.Combine(Root, Prefix + Guid.NewGuid().ToString("N"))).FullName;
            var held = new FileStream(Path.Combine(path, LockName), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            return new ScratchDirectory(path, held, logger);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The operator's log and /readyz name the directory and the setting; devices are told only its kind.
            throw new IOException($"cannot make build scratch space in {Root} (Delta:WorkDirectory): {e.Message}", e);
        }
    }

    /// <summary>Removes the scratch directories of killed servers; returns how many.</summary>
    public int RemoveAbandoned()
    {
        if (!Directory.Exists(Root)) return 0;
        var removed = 0;
        foreach (var directory in Directory.EnumerateDirectories(Root, Prefix + "*"))
        {
            try
            {
                // Taking the lock proves no live process holds it. A directory without one was never finished being
                // made, unless it is being made right now by another instance: only old ones are taken as abandoned.
                var lockPath = Path.Combine(directory, LockName);
                if (File.Exists(lockPath))
                    using (new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { }
                else if (DateTime.UtcNow - Directory.GetLastWriteTimeUtc(directory) < TimeSpan.FromMinutes(1))
                    continue;
                Directory.Delete(directory, recursive: true);
                removed++;
            }
            catch (IOException) { } // in use by a live instance, or already gone
            catch (UnauthorizedAccessException e) { logger.LogWarning("Cannot remove abandoned build directory {Directory}: {Error}", directory, e.Message); }
        }
        return removed;
    }
}

/// <summary>One build's scratch directory, locked while it lives.</summary>
public sealed class ScratchDirectory(string path, FileStream held, ILogger logger) : IDisposable
{
    public string Path { get; } = path;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        held.Dispose();
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException e) { logger.LogWarning(e, "Could not remove build directory {Directory}", Path); }
    }
}
