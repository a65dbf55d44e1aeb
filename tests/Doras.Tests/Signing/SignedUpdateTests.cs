using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Signing;

/// <summary>
/// The device installs only what its publisher signed, end to end with the native `doras`: versions signed by key A
/// install (in full, then by delta) with --verify-key A; an unsigned version, one signed by key B, one whose signature
/// names another digest and a tag moved back to an older signed version are refused, each with its exit code and one
/// line naming the reference, the digest and the reason, and the installed file stays byte for byte.
/// </summary>
public class SignedUpdateTests
{
    private const string Repository = "fleet/app";

    private static (int Code, string Output) Pull(RunningServer server, TempDirectory dir, string publicKey, params string[] more) =>
        ExternalTool.Run(Binaries.Doras, ["pull", $"{Repository}:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"],
            "--verify-key", publicKey, .. more]);

    private static void Sign(RunningServer server, string reference, string key) =>
        ExternalTool.RunOk(Binaries.Doras, "sign", reference, "--store", server.StorePath, "--key", key);

    [Test, CancelAfter(300_000)]
    public async Task Only_versions_signed_by_a_trusted_key_install_and_a_tag_moved_back_is_refused()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var a = Keys.Generate(dir, "a");
        var b = Keys.Generate(dir, "b");
        var repository = server.Store.Repository(Repository);
        var v1 = TestData.Binary(1 << 20, 1);
        var v2 = TestData.Edit(v1, 2, edits: 10);

        var m1 = await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1", "stable");
        Sign(server, $"{Repository}:v1", a.Private);
        var (code, output) = Pull(server, dir, a.Public);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: "));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));

        var m2 = await Versions.PublishFileAsync(repository, dir, "app.bin", v2, "v2", "stable");
        Sign(server, $"{Repository}:v2", a.Private);
        (code, output) = Pull(server, dir, a.Public, "--keep-previous");
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: "));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v2));

        // Unsigned.
        var m3 = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v2, 3), "v3", "stable");
        (code, output) = Pull(server, dir, a.Public);
        Assert.That(code, Is.EqualTo(11), output);
        Assert.That(output, Does.EndWith($"doras: {Repository}:stable ({m3.Digest}) is refused: no signature: no cosign signature (tag form or sigstore bundle) was found for it or its index\n"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v2));

        // Signed by another key.
        var m4 = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v2, 4), "v4", "stable");
        Sign(server, $"{Repository}:v4", b.Private);
        (code, output) = Pull(server, dir, a.Public);
        Assert.That(code, Is.EqualTo(11), output);
        Assert.That(output, Does.EndWith($"doras: {Repository}:stable ({m4.Digest}) is refused: not signed by a trusted key: 1 signature(s) found; none verifies with a trusted key\n"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v2));
        // Either of two keys suffices.
        (code, output) = Pull(server, dir, a.Public, "--verify-key", b.Public);
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(TestData.Edit(v2, 4)));

        // A's genuine signature of v2, put where v5's signature would be: it names another digest.
        var m5 = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v2, 5), "v5", "stable");
        var v2Signatures = await repository.ResolveAsync($"sha256-{m2.Digest.Hex}.sig");
        await repository.TagAsync(v2Signatures, $"sha256-{m5.Digest.Hex}.sig");
        (code, output) = Pull(server, dir, a.Public, "--verify-key", b.Public);
        Assert.That(code, Is.EqualTo(11), output);
        Assert.That(output, Does.EndWith($"doras: {Repository}:stable ({m5.Digest}) is refused: the signature names another digest: 1 signature(s) found; a trusted key signed another version, not {m5.Digest}\n"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(TestData.Edit(v2, 4)));

        // The tag moved back to v1: signed by A, but older than what this device accepted.
        await repository.TagAsync(m1, "stable");
        (code, output) = Pull(server, dir, a.Public, "--verify-key", b.Public);
        Assert.That(code, Is.EqualTo(12), output);
        Assert.That(output, Does.Contain($"doras: {Repository}:stable ({m1.Digest}) is refused: it is older than the version already accepted here").And.Contain("--allow-downgrade"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(TestData.Edit(v2, 4)));
        // Asked for: it installs, and the newest accepted version stays the floor.
        (code, output) = Pull(server, dir, a.Public, "--allow-downgrade");
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));
        await repository.TagAsync(m2, "stable");
        (code, output) = Pull(server, dir, a.Public);
        Assert.That(code, Is.EqualTo(12), output);
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));
        _ = m3;
    }

    [Test, CancelAfter(300_000)]
    public async Task A_multi_platform_push_signs_the_index_and_each_platform_and_the_device_verifies_its_own()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var a = Keys.Generate(dir, "a");
        var amd64 = dir.Write("amd64/app.bin", TestData.Binary(200_000, 7));
        var arm64 = dir.Write("arm64/app.bin", TestData.Binary(200_000, 8));
        var pushed = ExternalTool.RunOk(Binaries.Doras, "push", $"{Repository}:stable", "--store", server.StorePath, "--sign-key", a.Private,
            "--platform", $"linux/amd64={amd64}", "--platform", $"linux/arm64={arm64}");
        Assert.That(pushed, Does.Contain("signed sha256:"));
        var repository = server.Store.Repository(Repository);
        var index = await repository.ResolveAsync("stable");
        var entries = OciJson.Deserialize<ImageIndex>(await repository.FetchBytesAsync(index), "index").Manifests;
        foreach (var signed in entries.Select(e => e.Digest).Append(index.Digest))
            Assert.That(await repository.TryResolveAsync($"sha256-{signed.Hex}.sig"), Is.Not.Null, $"{signed} is signed");

        var (code, output) = Pull(server, dir, a.Public, "--platform", "linux/arm64");
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(File.ReadAllBytes(arm64)));

        // Found by review: the tag moved straight to the signed arm64 build. Its own manifest says which platform it
        // is for, under its signature, so an amd64 device refuses it (the index was the only place that said so before).
        var arm64Build = entries.Single(e => e.Platform!.Architecture == "arm64");
        await repository.TagAsync(arm64Build, "stable");
        (code, output) = ExternalTool.Run(Binaries.Doras, "pull", $"{Repository}:stable", "--allow-http", "--server", server.Url.ToString(),
            "--output", dir["amd64-device"], "--verify-key", a.Public, "--platform", "linux/amd64");
        Assert.That(code, Is.EqualTo(11), output);
        Assert.That(output, Does.EndWith($"doras: {Repository}:stable ({arm64Build.Digest}) is refused: signed for another platform: it is the build for linux/arm64, and this device installs linux/amd64\n"));
        Assert.That(Directory.Exists(dir["amd64-device"]) && Directory.EnumerateFileSystemEntries(dir["amd64-device"]).Any(), Is.False);
    }

    [Test]
    public void Allow_downgrade_in_watch_is_a_usage_error()
    {
        using var dir = new TempDirectory();
        var (code, output) = ExternalTool.Run(Binaries.Doras, "watch", "fleet/app:stable", "--allow-http", "--server", "http://127.0.0.1:9", "--output", dir["device"],
            "--verify-key", Keys.Generate(dir, "a").Public, "--allow-downgrade");
        Assert.That(code, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain("--allow-downgrade is for one `doras pull`"));
    }

    [Test]
    public void Allow_downgrade_without_a_key_is_a_usage_error()
    {
        using var dir = new TempDirectory();
        var (code, output) = ExternalTool.Run(Binaries.Doras, "pull", "fleet/app:stable", "--allow-http", "--server", "http://127.0.0.1:9", "--output", dir["device"], "--allow-downgrade");
        Assert.That(code, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain("--allow-downgrade only means something with --verify-key"));
    }
}
