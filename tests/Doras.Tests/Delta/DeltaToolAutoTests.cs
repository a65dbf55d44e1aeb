using System.Net;
using System.Net.Http.Json;
using Doras.Api;
using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>
/// `doras-delta diff --algorithm auto` against the real server's `auto` on the same pair: the same choice, the same
/// candidates, the same bytes.
/// </summary>
public class DeltaToolAutoTests
{
    private const string Repo = "fleet/auto";

    [Test]
    public async Task Auto_of_the_tool_writes_the_delta_the_server_stores_for_a_file_pair()
    {
        var old = TestData.Binary(256 * 1024, 71);
        await AssertToolMatchesServerAsync(dir => (dir.Write("v1/fw.bin", old), dir.Write("v2/fw.bin", TestData.Edit(old, 72))), "File",
            ["bsdiff-lzma", "bsdiff", "zstd", "octodiff"]);
    }

    [Test]
    public async Task Auto_of_the_tool_leaves_out_what_bsdiff_lzma_outclasses_as_the_server_does()
    {
        var old = TestData.Binary(2 << 20, 75);
        await AssertToolMatchesServerAsync(dir => (dir.Write("v1/fw.bin", old), dir.Write("v2/fw.bin", TestData.Edit(old, 76))), "File", ["bsdiff-lzma", "zstd"]);
    }

    [Test]
    public async Task Auto_of_the_tool_writes_the_delta_the_server_stores_for_a_directory_pair()
    {
        var library = TestData.Binary(128 * 1024, 73);
        await AssertToolMatchesServerAsync(dir =>
        {
            dir.Write("v1/site/lib.so", library);
            dir.Write("v1/site/conf/app.json", "{\"mode\":1}"u8.ToArray());
            dir.Write("v2/site/lib.so", TestData.Edit(library, 74));
            dir.Write("v2/site/conf/app.json", "{\"mode\":2}"u8.ToArray());
            dir.Write("v2/site/conf/new.txt", "added"u8.ToArray());
            return (dir["v1/site"], dir["v2/site"]);
        }, "Directory", ["tardiff", "bsdiff-lzma", "bsdiff", "zstd", "octodiff"]);
    }

    [Test]
    public void Warm_runs_build_the_same_delta_print_the_last_builds_CPU_and_leave_only_the_delta()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(256 * 1024, 77);
        dir.Write("in/old", old);
        dir.Write("in/new", TestData.Edit(old, 78));
        Directory.CreateDirectory(dir["out"]);
        var (once, onceOutput) = ExternalTool.Run("dotnet", Binaries.DeltaTool, "diff", "-a", "auto", dir["in/old"], dir["in/new"], dir["once.delta"]);
        Assert.That(once, Is.Zero, onceOutput);
        Assert.That(onceOutput, Does.Not.Contain("build CPU"));

        var (warm, output) = ExternalTool.Run("dotnet", Binaries.DeltaTool, "diff", "-a", "auto", "--warm-runs", "3", dir["in/old"], dir["in/new"], Path.Combine(dir["out"], "warm.delta"));

        Assert.That(warm, Is.Zero, output);
        Assert.That(output, Does.Match(@"build CPU: \d+\.\d{3} s, peak memory \d+\.\d MiB above the process.s \d+\.\d MiB before \(build 3 of 3 in this process\)"));
        Assert.That(File.ReadAllBytes(Path.Combine(dir["out"], "warm.delta")), Is.EqualTo(File.ReadAllBytes(dir["once.delta"])));
        Assert.That(Directory.GetFileSystemEntries(dir["out"]).Select(Path.GetFileName), Is.EqualTo(new[] { "warm.delta" }), "the warm-up builds are deleted");
        var (refused, text) = ExternalTool.Run("dotnet", Binaries.DeltaTool, "diff", "-a", "zstd", "--warm-runs", "0", dir["in/old"], dir["in/new"], dir["zero.delta"]);
        Assert.That((refused, text), Is.EqualTo((1, "doras-delta: --warm-runs must be at least 1\n")), "the same exit as any other bad argument of this tool");
    }

    private static async Task AssertToolMatchesServerAsync(Func<TempDirectory, (string Old, string New)> versions, string kind, string[] built)
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository(Repo);
        var (oldPath, newPath) = versions(dir);
        var oldManifest = (await ArtifactPublisher.PublishAsync(repository, oldPath, ["v1"])).Manifest;
        var newManifest = (await ArtifactPublisher.PublishAsync(repository, newPath, ["v2"])).Manifest;

        var ready = await PollUntilReadyAsync(server, $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString(Versions.Ref(Repo, oldManifest))}&to_digest={Uri.EscapeDataString(Versions.Ref(Repo, newManifest))}&accepted_algorithm=auto");
        var deltaManifest = await repository.FetchManifestAsync(await repository.ResolveAsync(ready.DeltaImage!.Split('@')[1]));
        var serverDelta = new MemoryStream();
        await using (var blob = await repository.FetchAsync(deltaManifest.Layers.Single())) await blob.CopyToAsync(serverDelta);

        // The tool gets the contents the server computed between (a directory's is its tar), verified by digest.
        var oldContent = dir["old.content"];
        var newContent = dir["new.content"];
        await ArtifactLayer.From(await repository.FetchManifestAsync(oldManifest), "old").DownloadContentAsync(repository, oldContent);
        await ArtifactLayer.From(await repository.FetchManifestAsync(newManifest), "new").DownloadContentAsync(repository, newContent);
        var (code, output) = ExternalTool.Run("dotnet", Binaries.DeltaTool, "diff", "--algorithm", "auto", "--kind", kind, oldContent, newContent, dir["tool.delta"]);
        Assert.That(code, Is.Zero, output);

        var candidates = deltaManifest.Annotation(DorasAnnotations.DeltaCandidates)!;
        Assert.That(output.Trim(), Is.EqualTo($"auto: {ready.Algorithm}, {ready.DeltaSize} bytes (candidates: {candidates})"));
        // In build order; deflate refuses what is not gzip or zip, tardiff is for directories only.
        Assert.That(candidates.Split(' ').Select(c => c.Split('=')[0]), Is.EqualTo(built));
        Assert.That(File.ReadAllBytes(dir["tool.delta"]), Is.EqualTo(serverDelta.ToArray()), "the tool's auto delta is the server's, byte for byte");

        var (applied, text) = ExternalTool.Run("dotnet", Binaries.DeltaTool, "apply", oldContent, dir["tool.delta"], dir["out"]);
        Assert.That(applied, Is.Zero, text);
        Assert.That(File.ReadAllBytes(dir["out"]), Is.EqualTo(File.ReadAllBytes(newContent)));
    }

    private static async Task<DeltaResponse> PollUntilReadyAsync(RunningServer server, string query) =>
        DeltaRequests.Parse((await DeltaRequests.ReadyAsync(server.Http, query)).Json);
}
