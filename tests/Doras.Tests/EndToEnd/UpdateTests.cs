using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.EndToEnd;

/// <summary>
/// The whole loop as a user runs it: publish versions, start the real server on loopback, update a device
/// with the edge client (full install, then delta), and check the installed bytes.
/// </summary>
public class UpdateTests
{
    private const string Repo = "fleet/app";
    private RunningServer _server = null!;
    private TempDirectory _device = null!;
    private HttpClient _http = null!;
    private Updater _updater = null!;
    private IOciRepository _repository = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = await RunningServer.StartAsync();
        _device = new TempDirectory();
        _http = new HttpClient();
        _updater = new Updater(LoopbackDeltaClient.Create(_server.Url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(2) }));
        _repository = _server.Store.Repository(Repo);
    }

    [TearDown]
    public async Task TearDown()
    {
        _http.Dispose();
        _device.Dispose();
        await _server.DisposeAsync();
    }

    private Task<UpdateResult> UpdateAsync(string output) =>
        _updater.UpdateAsync(new UpdateOptions { Reference = $"{Repo}:stable", Output = output });

    [Test]
    public async Task Full_install_then_delta_update_gives_version_2_byte_for_byte()
    {
        var v1 = TestData.Binary(6 << 20, 1);
        var v2 = TestData.Edit(v1, 2, edits: 40);
        var output = _device["opt/app"];

        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v1, "v1", "stable");
        var first = await UpdateAsync(output);
        Assert.That(first.Mode, Is.EqualTo(UpdateMode.Full));
        Assert.That(first.FallbackReason, Is.EqualTo("nothing is installed yet"));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v1));

        var v2Manifest = await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "v2", "stable");
        var second = await UpdateAsync(output);
        Assert.That(second.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(second.ManifestDigest, Is.EqualTo(v2Manifest.Digest.ToString()));
        Assert.That(File.ReadAllBytes(second.InstalledPath), Is.EqualTo(v2));
        Assert.That(second.BytesDownloaded, Is.LessThan(second.FullDownloadSize / 20),
            $"delta {second.BytesDownloaded} bytes vs full {second.FullDownloadSize}");

        var third = await UpdateAsync(output);
        Assert.That(third.Mode, Is.EqualTo(UpdateMode.UpToDate));
        Assert.That(third.BytesDownloaded, Is.Zero);

        var workDir = Directory.GetDirectories(_device["opt"], ".app.doras", SearchOption.TopDirectoryOnly).Single();
        Assert.That(Directory.GetFiles(workDir, "staging-*"), Is.Empty, "no staging files are left behind");
        var state = InstallState.Load(Path.Combine(workDir, "state.json"))!;
        Assert.That(state.ManifestDigest, Is.EqualTo(v2Manifest.Digest.ToString()));
    }

    [TestCase("octodiff", "application/vnd.doras.delta.octodiff+zstd")]
    [TestCase("bsdiff", "application/vnd.doras.delta.bsdiff+zstd")]
    public async Task A_device_that_accepts_one_algorithm_gets_a_delta_made_by_it(string algorithm, string mediaType)
    {
        var v1 = TestData.Binary(2 << 20, 41);
        var v2 = TestData.Edit(v1, 42, edits: 10);
        var output = _device["opt/app"];
        var options = new UpdateOptions { Reference = $"{Repo}:stable", Output = output, AcceptedAlgorithms = [algorithm] };
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v1, "stable");
        await _updater.UpdateAsync(options);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "stable");
        var result = await _updater.UpdateAsync(options);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta), result.FallbackReason);
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(v2));
        var deltaTag = await _repository.ListTagsAsync().SingleAsync(t => t.StartsWith("_delta-", StringComparison.Ordinal));
        var deltaManifest = await _repository.FetchManifestAsync(await _repository.ResolveAsync(deltaTag));
        Assert.That(deltaManifest.Layers.Single().MediaType, Is.EqualTo(mediaType));
        Assert.That(result.BytesDownloaded, Is.EqualTo(deltaManifest.Layers.Single().Size));
    }

    [Test]
    public async Task When_no_delta_is_worth_it_the_device_downloads_the_full_version()
    {
        var output = _device["opt/app"];
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", TestData.Random(300_000, 43), "stable");
        await UpdateAsync(output);
        var v2 = TestData.Random(300_000, 44);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "stable");
        var result = await UpdateAsync(output);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Full));
        Assert.That(result.FallbackReason, Does.StartWith("no usable delta (").And.Contain("of the full download"));
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(v2));
    }

    [Test]
    public async Task A_locally_changed_installation_updates_from_its_signature_or_in_full()
    {
        var v1 = TestData.Binary(1 << 20, 3);
        var output = _device["app"];
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v1, "v1", "stable");
        await UpdateAsync(output);

        var installed = Path.Combine(output, "app.bin");
        var tampered = File.ReadAllBytes(installed);
        tampered[100] ^= 1;
        File.WriteAllBytes(installed, tampered);

        var v2 = TestData.Edit(v1, 4);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "v2", "stable");
        var result = await UpdateAsync(output);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(result.FallbackReason, Is.EqualTo($"the installed file {installed} was changed locally; updated by a delta from a signature of the installed file"));
        Assert.That(File.ReadAllBytes(installed), Is.EqualTo(v2));
        Assert.That(result.BytesDownloaded, Is.LessThan(result.FullDownloadSize / 4));
        Assert.That(_server.Builder.BuildsStarted, Is.Zero, "no stored delta from a version the device does not really have");

        // Without signatures: the full download.
        File.WriteAllBytes(installed, tampered);
        var v3 = TestData.Edit(v1, 5);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v3, "v3", "stable");
        var full = await _updater.UpdateAsync(new UpdateOptions { Reference = $"{Repo}:stable", Output = output, UseSignatures = false });
        Assert.That(full.Mode, Is.EqualTo(UpdateMode.Full));
        Assert.That(full.FallbackReason, Is.EqualTo($"the installed file {installed} was changed locally"));
        Assert.That(File.ReadAllBytes(installed), Is.EqualTo(v3));
    }

    [Test]
    public async Task A_file_put_in_place_by_other_means_is_the_base_of_the_first_update()
    {
        var v1 = TestData.Binary(1 << 20, 6);
        var output = _device["factory"];
        Directory.CreateDirectory(output);
        File.WriteAllBytes(Path.Combine(output, "app.bin"), v1); // e.g. the factory image, never recorded
        var v2 = TestData.Edit(v1, 7);
        await Versions.PublishFileAsync(_repository, _server.Scratch, "app.bin", v2, "stable");
        var refused = (await Assert.ThrowsAsync<ExistingContentException>(() => UpdateAsync(output)))!;
        Assert.That(refused.Path, Is.EqualTo(Path.Combine(output, "app.bin")), "not installed by doras: replaced only when asked");
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v1));
        var result = await _updater.UpdateAsync(new UpdateOptions { Reference = $"{Repo}:stable", Output = output, ReplaceExisting = true });
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(result.FallbackReason, Is.EqualTo("nothing is installed yet; updated by a delta from a signature of the installed file"));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "app.bin")), Is.EqualTo(v2));
        Assert.That(result.BytesDownloaded, Is.LessThan(result.FullDownloadSize / 4));
        Assert.That((await UpdateAsync(output)).Mode, Is.EqualTo(UpdateMode.UpToDate));
    }

    [Test]
    public async Task Directory_artifact_updates_by_delta_with_files_modes_and_symlinks()
    {
        var tree = _server.Scratch["release/site"];
        Directory.CreateDirectory(Path.Combine(tree, "bin"));
        Directory.CreateDirectory(Path.Combine(tree, "share/doc"));
        var tool = TestData.Binary(2 << 20, 5);
        File.WriteAllBytes(Path.Combine(tree, "bin/tool"), tool);
        File.SetUnixFileMode(Path.Combine(tree, "bin/tool"), (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(tree, "share/doc/README"), "version 1");
        File.CreateSymbolicLink(Path.Combine(tree, "current"), "bin/tool");
        await ArtifactPublisher.PublishAsync(_repository, tree, ["v1", "stable"]);

        var output = _device["site"];
        Assert.That((await UpdateAsync(output)).Mode, Is.EqualTo(UpdateMode.Full));

        File.WriteAllBytes(Path.Combine(tree, "bin/tool"), TestData.Edit(tool, 6));
        File.WriteAllText(Path.Combine(tree, "share/doc/README"), "version 2");
        File.WriteAllText(Path.Combine(tree, "share/doc/NEWS"), "new file");
        await ArtifactPublisher.PublishAsync(_repository, tree, ["v2", "stable"]);

        var result = await UpdateAsync(output);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "bin/tool")), Is.EqualTo(TestData.Edit(tool, 6)));
        Assert.That(File.GetUnixFileMode(Path.Combine(output, "bin/tool")), Is.EqualTo((UnixFileMode)0b111_101_101));
        Assert.That(File.ReadAllText(Path.Combine(output, "share/doc/README")), Is.EqualTo("version 2"));
        Assert.That(File.ReadAllText(Path.Combine(output, "share/doc/NEWS")), Is.EqualTo("new file"));
        Assert.That(new FileInfo(Path.Combine(output, "current")).LinkTarget, Is.EqualTo("bin/tool"));
        Assert.That(result.BytesDownloaded, Is.LessThan(result.FullDownloadSize / 10));
        Assert.That(Directory.GetDirectories(Path.GetDirectoryName(output)!, "tree-*", SearchOption.AllDirectories), Is.Empty);

        // The device asks for auto by default: the server also tried the member-by-member tar delta (and bsdiff-lzma,
        // which past 1 MiB leaves out bsdiff, zstd and Octodiff; bsdiff-exe refuses a tar).
        foreach (var delta in await DeltasToAsync(result.ManifestDigest))
            Assert.That(delta.Annotation(DorasAnnotations.DeltaCandidates), Does.Contain("tardiff=").And.Contain("bsdiff-lzma="));
    }

    [Test]
    public async Task A_gzip_file_updates_by_a_delta_between_its_decompressed_versions_and_arrives_byte_for_byte()
    {
        // A firmware image published gzip-compressed by a zlib-based tool: the device must end up with these exact bytes.
        byte[] Gzipped(byte[] content)
        {
            var path = _server.Scratch.Write("release/image.content", content);
            var output = new MemoryStream();
            Doras.Delta.Deflate.GzipFile.Compress(path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3], new Doras.Delta.Deflate.GzipSettings(9), output);
            File.Delete(path);
            return output.ToArray();
        }
        var image = TestData.Binary(3 << 20, 11);
        var (v1, v2) = (Gzipped(image), Gzipped(TestData.Edit(image, 12)));
        await Versions.PublishFileAsync(_repository, _server.Scratch, "image.gz", v1, "v1", "stable");
        Assert.That((await UpdateAsync(_device["image"])).Mode, Is.EqualTo(UpdateMode.Full));
        await Versions.PublishFileAsync(_repository, _server.Scratch, "image.gz", v2, "v2", "stable");

        var result = await UpdateAsync(_device["image"]);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(v2));
        Assert.That(result.BytesDownloaded, Is.LessThan(result.FullDownloadSize / 10));
        foreach (var delta in await DeltasToAsync(result.ManifestDigest))
            Assert.That(delta.Annotation(DorasAnnotations.DeltaAlgorithm), Is.EqualTo("deflate"));
    }

    /// <summary>
    /// The built deltas to a version (at least one). The server's precomputing may have built one beside the device's
    /// (and placeholders or other pairs may be stored), so a test looks at those to its target, not at a single tag.
    /// </summary>
    private async Task<List<Doras.Oci.Model.ImageManifest>> DeltasToAsync(string toManifestDigest)
    {
        var deltas = new List<Doras.Oci.Model.ImageManifest>();
        await foreach (var tag in _repository.ListTagsAsync())
        {
            if (!tag.StartsWith("_delta-", StringComparison.Ordinal)) continue;
            var manifest = await _repository.FetchManifestAsync(await _repository.ResolveAsync(tag));
            if (manifest.Annotation(DorasAnnotations.DeltaAlgorithm) is not null && manifest.Annotation(DorasAnnotations.DeltaTo)?.EndsWith("@" + toManifestDigest, StringComparison.Ordinal) == true)
                deltas.Add(manifest);
        }
        Assert.That(deltas, Is.Not.Empty, $"no delta to {toManifestDigest} is stored");
        return deltas;
    }

    [Test]
    public async Task A_file_artifact_keeps_its_executable_mode()
    {
        var path = _server.Scratch.Write("release/run.sh", "#!/bin/sh\necho hi\n"u8.ToArray());
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_000);
        await ArtifactPublisher.PublishAsync(_repository, path, ["stable"]);
        var result = await UpdateAsync(_device["bin"]);
        Assert.That(File.GetUnixFileMode(result.InstalledPath), Is.EqualTo((UnixFileMode)0b111_101_000));
    }
}

public class UpdateFailureTests
{
    [Test]
    public async Task A_failed_delta_build_falls_back_to_full_and_a_bad_full_download_leaves_the_installation_untouched()
    {
        await using var server = await RunningServer.StartAsync();
        using var device = new TempDirectory();
        using var http = new HttpClient();
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(1) }));
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(1 << 20, 7);
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v1, "stable");
        var options = new UpdateOptions { Reference = "fleet/app:stable", Output = device["app"] };
        await updater.UpdateAsync(options);

        // A version whose layer lies about its content: the server's build fails, and so must the full download.
        var good = await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", TestData.Edit(v1, 8), "v2");
        var manifest = await repository.FetchManifestAsync(good);
        var layer = manifest.Layers[0];
        await repository.PushManifestAsync(manifest with
        {
            Layers = [layer with { Annotations = new Dictionary<string, string>(layer.Annotations!) { [DorasAnnotations.ContentDigest] = "sha256:" + new string('2', 64) } }],
        }, ["stable"]);

        var error = (await Assert.ThrowsAsync<DigestMismatchException>(() => updater.UpdateAsync(options)))!;
        Assert.That(error.Message, Does.StartWith("content digest mismatch: expected sha256:2222"));
        Assert.That(File.ReadAllBytes(device["app/app.bin"]), Is.EqualTo(v1), "the installed version is untouched");
        Assert.That(server.Builder.BuildsStarted, Is.EqualTo(1), "the delta was tried first");
        Assert.That(Directory.GetFiles(device[".app.doras"], "staging-*"), Is.Empty);

        // Publishing a good version again lets the device move on.
        await repository.TagAsync(good, "stable");
        var result = await updater.UpdateAsync(options);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(device["app/app.bin"]), Is.EqualTo(TestData.Edit(v1, 8)));
    }
}
