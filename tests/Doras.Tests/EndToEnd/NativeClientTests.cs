using System.Text.RegularExpressions;
using Doras.Delta.Deflate;

namespace Doras.Tests.EndToEnd;

/// <summary>
/// The device's `doras` is one native executable that needs no libzstd: run where libzstd.so.1 cannot be loaded,
/// a full install and a delta update still come out byte for byte. libz.so.1 is needed only for deflate deltas;
/// without it the client asks for none, and applying one says what is missing.
/// </summary>
[NonParallelizable]
public partial class NativeClientTests
{
    /// <summary>
    /// A directory whose libzstd.so.1 and libz.so.1 are not libraries. The dynamic loader searches LD_LIBRARY_PATH
    /// before anything else and stops at the first file of the name ("file too short"), so in a process started
    /// with it neither library can be loaded, installed or not.
    /// </summary>
    private static string BrokenLibraries(TempDirectory dir, params string[] names)
    {
        var path = dir["broken-libs"];
        foreach (var name in names) dir.Write($"broken-libs/{name}", "not a shared library\n"u8.ToArray());
        return path;
    }

    private static (int Code, string Output) Run(string program, string brokenLibraries, params string[] args) =>
        ExternalTool.Run(program, args, new ToolOptions { Environment = new Dictionary<string, string?> { ["LD_LIBRARY_PATH"] = brokenLibraries } });

    [Test, CancelAfter(300_000)]
    public async Task Without_a_loadable_libzstd_the_native_client_installs_and_updates_by_delta_byte_for_byte()
    {
        using var dir = new TempDirectory();
        var broken = BrokenLibraries(dir, "libzstd.so.1");
        // The server prefers libzstd; started in the same environment it must fall back to the managed port,
        // which proves the environment really keeps libzstd out (and builds the deltas with ZstdSharp too).
        await using var server = await ServerProcess.StartAsync(dir["store"], broken);
        Assert.That(server.Log, Does.Contain("zstd ZstdSharp (managed) 1.5."), "the server must not have loaded libzstd");
        var repository = new Doras.Oci.Layout.OciLayoutStore(dir["store"]).Repository("fleet/app");
        var v1 = TestData.Binary(4 << 20, 41);
        var v2 = TestData.Edit(v1, 42, edits: 30);
        await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "stable");
        string[] pull = ["pull", "fleet/app:stable", "--allow-http", "--server", server.Url, "--output", dir["device"]];

        var (code, output) = Run(Binaries.Doras, broken, pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: "));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));

        await Versions.PublishFileAsync(repository, dir, "app.bin", v2, "stable");
        (code, output) = Run(Binaries.Doras, broken, pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: "));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v2));
    }

    [Test, CancelAfter(300_000)]
    public async Task Without_a_loadable_libz_the_native_client_asks_for_no_deflate_delta_and_gets_the_gzip_file_whole()
    {
        // A delta between compressed bytes still saves the few percent that entropy coding takes off a gzip file
        // (97.5 % of it here), under the default ratio; at 90 % it is not worth it.
        await using var server = await RunningServer.StartAsync("--Delta:AutoMaxRatio", "0.9");
        using var dir = new TempDirectory();
        var broken = BrokenLibraries(dir, "libz.so.1");
        var repository = server.Store.Repository("fleet/bundle");
        var content = TestData.Binary(600_000, 43);
        await Versions.PublishFileAsync(repository, server.Scratch, "bundle.gz", Gzip(dir, "v1", content), "stable");
        string[] withoutZlib = ["pull", "fleet/bundle:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]];
        string[] withZlib = ["pull", "fleet/bundle:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device-with-zlib"]];
        Assert.That(Run(Binaries.Doras, broken, withoutZlib).Code, Is.Zero);
        Assert.That(ExternalTool.Run(Binaries.Doras, withZlib).ExitCode, Is.Zero);

        var v2 = Gzip(dir, "v2", TestData.Edit(content, 44, edits: 10));
        await Versions.PublishFileAsync(repository, server.Scratch, "bundle.gz", v2, "stable");
        // Without zlib: only deltas between the compressed bytes are possible, and an edit changes every
        // compressed byte after it, so none is worth it (406) and the file comes whole, byte for byte.
        var (code, output) = Run(Binaries.Doras, broken, withoutZlib);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: ").And.Contain("because no usable delta (406 Delta not worthwhile"));
        Assert.That(File.ReadAllBytes(dir["device/bundle.gz"]), Is.EqualTo(v2));
        // The same executable with the system's zlib asks for deflate and gets the small delta.
        (code, output) = ExternalTool.Run(Binaries.Doras, withZlib);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: "));
        Assert.That(File.ReadAllBytes(dir["device-with-zlib/bundle.gz"]), Is.EqualTo(v2));
    }

    [Test, CancelAfter(300_000)]
    public void Applying_a_deflate_delta_without_a_loadable_libz_fails_naming_the_library()
    {
        using var dir = new TempDirectory();
        var v1 = dir.Write("v1.gz", Gzip(dir, "v1", TestData.Binary(300_000, 45)));
        var v2 = dir.Write("v2.gz", Gzip(dir, "v2", TestData.Edit(TestData.Binary(300_000, 45), 46)));
        ExternalTool.RunOk("dotnet", Binaries.DeltaTool, "diff", "--algorithm", "deflate", v1, v2, dir["delta"]);

        var (code, output) = Run("dotnet", BrokenLibraries(dir, "libz.so.1"), Binaries.DeltaTool, "apply", v1, dir["delta"], dir["out"]);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(output, Is.EqualTo($"doras-delta: {ZlibLibrary.MissingMessage}\n"));
        Assert.That(output, Does.Contain("libz.so.1").And.Contain("apt-get install zlib1g"));
        Assert.That(File.Exists(dir["out"]), Is.False, "nothing is written");
    }

    /// <summary>Gzip made by the system's zlib (as Python, Java and dpkg make it), which deflate deltas can rebuild.</summary>
    private static byte[] Gzip(TempDirectory dir, string name, byte[] content)
    {
        var output = new MemoryStream();
        GzipFile.Compress(dir.Write(name + ".content", content), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], new GzipSettings(9), output);
        return output.ToArray();
    }

    /// <summary>The server as its own process (`dotnet doras-server.dll`), in the environment a test gives it.</summary>
    private sealed partial class ServerProcess : IAsyncDisposable
    {
        private readonly ToolProcess _process;

        private ServerProcess(ToolProcess process) => _process = process;

        public string Url { get; private set; } = "";

        /// <summary>Its log, one line each, in order of arrival.</summary>
        public string Log => string.Concat(_process.Lines.Select(l => l + "\n"));

        public static async Task<ServerProcess> StartAsync(string store, string libraryPath)
        {
            var server = new ServerProcess(ExternalTool.Start("dotnet", [Binaries.Server, "--urls", "http://127.0.0.1:0", "--store", store], new ToolOptions
            {
                Environment = new Dictionary<string, string?> { ["LD_LIBRARY_PATH"] = libraryPath, ["DORAS_Logging__Console__FormatterName"] = "simple" },
            }));
            var listening = await server._process.WaitForLineAsync(l => Listening().IsMatch(l), TimeSpan.FromMinutes(1));
            if (listening is null)
            {
                await server.DisposeAsync();
                Assert.Fail($"the server did not start: {server.Log}");
            }
            server.Url = Listening().Match(listening!).Groups[1].Value;
            return server;
        }

        [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
        private static partial Regex Listening();

        public ValueTask DisposeAsync() => _process.DisposeAsync(); // kills it (tree) if it still runs
    }
}
