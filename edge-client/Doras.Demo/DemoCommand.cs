using System.CommandLine;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Format = Doras.EdgeClient.Updates.Format;
using Doras.Oci.Layout;
using Doras.Server.Hosting;
using Microsoft.AspNetCore.Builder;

namespace Doras.Demo;

/// <summary>
/// The whole loop on the embedded default: start the server on a local store, publish version 1, install it
/// on a "device" directory, publish version 2, update the device by delta, and compare bytes on the wire.
/// By default the two versions are consecutive releases of a real Go executable (esbuild, via `npm pack`);
/// without npm or a network, two synthetic versions.
/// </summary>
internal static class DemoCommand
{
    private const string Package = "@esbuild/linux-x64";
    private const string OldVersion = "0.28.1";
    private const string NewVersion = "0.28.2";

    public static RootCommand Create()
    {
        var from = new Option<string?>("--from") { Description = "Version 1 of the file (default: a real executable fetched with npm)" };
        var to = new Option<string?>("--to") { Description = "Version 2 of the file" };
        var dir = new Option<string?>("--dir") { Description = "Working directory to keep (default: a temporary one, removed afterwards)" };
        var command = new RootCommand("The end-to-end demo: start the server on a local store, publish two versions, install the first, update to the second by delta") { from, to, dir };
        command.SetAction((result, ct) => RunAsync(result.GetValue(from), result.GetValue(to), result.GetValue(dir), ct));
        return command;
    }

    private static async Task<int> RunAsync(string? fromPath, string? toPath, string? keepDir, CancellationToken ct)
    {
        var root = Path.GetFullPath(keepDir ?? Path.Combine(Path.GetTempPath(), $"doras-demo-{Guid.NewGuid():N}"));
        Directory.CreateDirectory(root);
        try
        {
            var (v1, v2, what) = fromPath is not null && toPath is not null
                ? (Path.GetFullPath(fromPath), Path.GetFullPath(toPath), $"{Path.GetFileName(fromPath)} -> {Path.GetFileName(toPath)}")
                : await ObtainVersionsAsync(Path.Combine(root, "downloads"), ct);
            Step($"versions: {what} ({Format.Bytes(new FileInfo(v1).Length)} -> {Format.Bytes(new FileInfo(v2).Length)})");

            var storePath = Path.Combine(root, "store");
            Step("starting the delta server");
            await using var server = DorasServer.Build(["--urls", "http://127.0.0.1:0", "--store", storePath, "--log-level", "Warning"]);
            await server.StartAsync(ct);
            try
            {
                return await RunWithServerAsync(server, storePath, root, v1, v2, ct);
            }
            finally
            {
                // Stopped before it is disposed: its background services end quietly instead of logging their cancellation.
                await server.StopAsync(CancellationToken.None);
            }
        }
        finally
        {
            if (keepDir is null)
                try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task<int> RunWithServerAsync(WebApplication server, string storePath, string root, string v1, string v2, CancellationToken ct)
    {
        var url = new Uri(server.Urls.First());
        Step($"server listening on {url} with its embedded store {storePath}");

        var repository = new OciLayoutStore(storePath).Repository("demo/app");
        var release = Path.Combine(root, "release", "app");
        var device = Path.Combine(root, "device");
        using var client = new DeltaClient(url, new DeltaClientOptions { AllowHttp = true }); // its own server on loopback
        var updater = new Updater(client) { Progress = new DeviceProgress() };
        var update = new UpdateOptions { Reference = "demo/app:stable", Output = device };

        await PublishAsync(repository, v1, release, "v1", ct);
        Step($"the device installs demo/app:stable into {device}");
        var first = await updater.UpdateAsync(update, ct);
        Step(Format.Describe(first));

        await PublishAsync(repository, v2, release, "v2", ct);
        Step("the device updates to the new demo/app:stable; the server computes the delta meanwhile");
        var watch = Stopwatch.StartNew();
        var second = await updater.UpdateAsync(update, ct);
        Step(Format.Describe(second) + $" in {watch.Elapsed.TotalSeconds:0.0} s (including the server computing the delta)");

        var installedBytes = await File.ReadAllBytesAsync(second.InstalledPath, ct);
        var expectedBytes = await File.ReadAllBytesAsync(v2, ct);
        var identical = installedBytes.AsSpan().SequenceEqual(expectedBytes);
        Console.WriteLine();
        Console.WriteLine($"  version 2 content       {second.ContentSize,12:N0} bytes");
        Console.WriteLine($"  full download (zstd -19) {second.FullDownloadSize,11:N0} bytes");
        Console.WriteLine($"  delta downloaded        {second.BytesDownloaded,12:N0} bytes  = {second.PercentOfFull:0.0}% of the full download");
        Console.WriteLine($"  device file == version 2 byte for byte: {(identical ? "yes" : "NO")}");
        return identical && second.Mode == UpdateMode.Delta ? 0 : 1;
    }

    /// <summary>The device's phases as they happen (downloads once, when complete), so no step of the demo is silent.</summary>
    private sealed class DeviceProgress : IProgress<UpdateProgress>
    {
        private UpdatePhase? _last;

        public void Report(UpdateProgress value)
        {
            lock (this)
            {
                if (value.Phase == UpdatePhase.Downloading)
                {
                    if (value.Total is { } total && value.Bytes >= total) Step($"  device: downloaded {Format.Bytes(total)}");
                    return;
                }
                if (value.Phase == _last || value.Phase == UpdatePhase.Done) return;
                _last = value.Phase;
                Step($"  device: {Format.Phase(value.Phase)}");
            }
        }
    }

    private static async Task PublishAsync(Oci.Content.IOciRepository repository, string source, string releasePath, string tag, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(releasePath)!);
        File.Copy(source, releasePath, overwrite: true);
        Step($"publishing version {tag}: compressing it with zstd -19 for full downloads");
        var published = await ArtifactPublisher.PublishAsync(repository, releasePath, [tag, "stable"], ct: ct);
        Step($"published demo/app:{tag} (and :stable) = {published.Manifest.Digest}, {Format.Bytes(published.Layer.Layer.Size)} compressed");
    }

    private static void Step(string message) => Console.WriteLine($"demo: {message}");

    /// <summary>Two consecutive releases of esbuild's Linux executable (a Go program), or synthetic versions without npm.</summary>
    private static async Task<(string, string, string)> ObtainVersionsAsync(string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        try
        {
            Step($"fetching {Package} {OldVersion} and {NewVersion} with npm pack");
            var v1 = await NpmExecutableAsync(directory, OldVersion, ct);
            var v2 = await NpmExecutableAsync(directory, NewVersion, ct);
            return (v1, v2, $"{Package} {OldVersion} -> {NewVersion} (a Go executable, via npm pack)");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Step($"could not fetch real versions with npm ({e.Message}); using synthetic ones");
            var v1 = Path.Combine(directory, "synthetic-v1");
            var v2 = Path.Combine(directory, "synthetic-v2");
            SyntheticVersions.Write(v1, v2);
            return (v1, v2, "synthetic 8 MiB binary with scattered edits");
        }
    }

    private static async Task<string> NpmExecutableAsync(string directory, string version, CancellationToken ct)
    {
        var output = Path.Combine(directory, $"esbuild-{version}");
        if (File.Exists(output)) return output;
        var start = new ProcessStartInfo("npm", ["pack", $"{Package}@{version}", "--silent", "--pack-destination", directory])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var npm = Process.Start(start) ?? throw new InvalidOperationException("npm did not start");
        var stdout = await npm.StandardOutput.ReadToEndAsync(ct);
        var stderr = await npm.StandardError.ReadToEndAsync(ct);
        await npm.WaitForExitAsync(ct);
        if (npm.ExitCode != 0) throw new InvalidOperationException($"npm pack failed: {stderr.Trim()}");
        var tgz = Path.Combine(directory, stdout.Trim().Split('\n').Last().Trim());

        await using var gzip = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync(cancellationToken: ct) is { } entry)
            if (entry.Name == "package/bin/esbuild" && entry.DataStream is not null)
            {
                await using var file = File.Create(output);
                await entry.DataStream.CopyToAsync(file, ct);
                return output;
            }
        throw new InvalidDataException($"{tgz} has no package/bin/esbuild");
    }
}

/// <summary>Stand-in versions when no real ones can be fetched: a structured binary and a lightly edited copy.</summary>
internal static class SyntheticVersions
{
    public static void Write(string v1Path, string v2Path)
    {
        var random = new Random(42);
        var v1 = new byte[8 << 20];
        // Repeating "instruction-like" records with varying operands: compressible, as real code is.
        for (var i = 0; i + 16 <= v1.Length; i += 16)
        {
            v1[i] = 0x48; v1[i + 1] = 0x8b; v1[i + 2] = (byte)random.Next(8);
            random.NextBytes(v1.AsSpan(i + 3, 5));
            v1[i + 8] = 0xe8; v1[i + 9] = (byte)(i >> 8); v1[i + 10] = (byte)(i >> 16);
        }
        var v2 = new List<byte>(v1.Length + 65536);
        for (var offset = 0; offset < v1.Length; offset += 65536)
        {
            var chunk = v1.AsSpan(offset, Math.Min(65536, v1.Length - offset)).ToArray();
            if (random.Next(4) == 0) random.NextBytes(chunk.AsSpan(random.Next(chunk.Length - 64), 64)); // an edit
            if (random.Next(8) == 0) v2.AddRange(Enumerable.Range(0, 100).Select(_ => (byte)random.Next(256))); // an insertion
            v2.AddRange(chunk);
        }
        File.WriteAllBytes(v1Path, v1);
        File.WriteAllBytes(v2Path, v2.ToArray());
    }
}
