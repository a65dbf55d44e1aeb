namespace Doras.Tests.Support;

/// <summary>A real tmpfs of a given size, mounted for one test (needs root; the test is inconclusive otherwise), unmounted when disposed.</summary>
public sealed class SmallTmpfs : IAsyncDisposable
{
    private SmallTmpfs(string path) => Path = path;

    public string Path { get; }

    public static async Task<SmallTmpfs> MountAsync(string path, string size, CancellationToken ct)
    {
        Directory.CreateDirectory(path);
        var mount = await ExternalTool.RunAsync("mount", ["-t", "tmpfs", "-o", $"size={size}", "tmpfs", path], ct: ct);
        Assume.That(mount.ExitCode, Is.Zero, "mounting a tmpfs needs root");
        return new SmallTmpfs(path);
    }

    public async ValueTask DisposeAsync()
    {
        await ExternalTool.RunAsync("umount", ["-l", Path]);
    }
}
