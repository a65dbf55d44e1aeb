using Doras.Delta.Artifacts;

namespace Doras.Tests.EndToEnd;

/// <summary>
/// The linux-arm64 `doras` (Native AOT, cross-compiled here with clang and lld) run as an arm64 device runs it,
/// under qemu-user on this x64 machine, against the x64 server on loopback: a full install, then a delta update,
/// of a file and of a directory, each byte for byte what was published. The artifacts are a few hundred KiB,
/// because every instruction of the client is emulated.
/// </summary>
[NonParallelizable]
public class Arm64ClientTests
{
    private static readonly Lazy<string> Doras = new(() => Binaries.NativeExecutable("edge-client/Doras.Cli", "doras", "linux-arm64"));

    /// <summary>Fails at once, naming what to install, where qemu-user or the arm64 libraries are missing.</summary>
    [OneTimeSetUp]
    public void RequireTheEmulator() => Arm64Emulator.RequireInstalled();

    private static (int Code, string Output) Run(params string[] args) => Arm64Emulator.Run(Doras.Value, args);

    [Test, CancelAfter(900_000)]
    public void The_arm64_publish_is_an_arm64_executable()
    {
        var header = new byte[20];
        using (var file = File.OpenRead(Doras.Value)) file.ReadExactly(header);
        Assert.That(header[..4], Is.EqualTo("\u007fELF"u8.ToArray()));
        Assert.That(BitConverter.ToUInt16(header, 18), Is.EqualTo(183), "e_machine must be EM_AARCH64");
        Assert.That(header[4], Is.EqualTo(2), "a 64-bit ELF");
        Assert.That(BitConverter.ToUInt16(header, 16), Is.EqualTo(3), "a position-independent executable (ET_DYN)");
    }

    [Test, CancelAfter(900_000)]
    public void Under_qemu_the_arm64_client_prints_the_version_the_x64_client_prints()
    {
        var (code, output) = Run("--version");
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Is.EqualTo(ExternalTool.RunOk(Binaries.Doras, "--version")));
    }

    [Test, CancelAfter(900_000)]
    public async Task Under_qemu_the_arm64_client_installs_a_file_then_updates_it_by_delta_byte_for_byte()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(384 << 10, 71);
        var v2 = TestData.Edit(v1, 72);
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v1, "stable");
        string[] pull = ["pull", "fleet/app:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]];

        var (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: ").And.Contain("because nothing is installed yet"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));

        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v2, "stable");
        (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: ").And.Contain("% of it)"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v2));
    }

    [Test, CancelAfter(900_000)]
    public async Task Under_qemu_the_arm64_client_installs_a_directory_then_updates_it_by_delta_to_the_published_tree()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/site");
        var tree = server.Scratch["release/site"];
        var tool = TestData.Binary(256 << 10, 73);
        server.Scratch.Write("release/site/bin/tool", tool);
        File.SetUnixFileMode(Path.Combine(tree, "bin/tool"), (UnixFileMode)0b111_101_101);
        server.Scratch.Write("release/site/share/doc/README", "version 1"u8.ToArray());
        server.Scratch.Write("release/site/share/doc/OLD", "removed in version 2"u8.ToArray());
        File.CreateSymbolicLink(Path.Combine(tree, "current"), "bin/tool");
        await ArtifactPublisher.PublishAsync(repository, tree, ["stable"]);
        string[] pull = ["pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device/site"]];

        var (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: "));
        Assert.That(Contents(dir["device/site"]), Is.EqualTo(Contents(tree)));

        server.Scratch.Write("release/site/bin/tool", TestData.Edit(tool, 74));
        server.Scratch.Write("release/site/share/doc/README", "version 2"u8.ToArray());
        server.Scratch.Write("release/site/share/doc/NEWS", "new in version 2"u8.ToArray());
        File.Delete(Path.Combine(tree, "share/doc/OLD"));
        await ArtifactPublisher.PublishAsync(repository, tree, ["stable"]);
        (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: ").And.Contain("% of it)"));
        Assert.That(Contents(dir["device/site"]), Is.EqualTo(Contents(tree)), "every file's bytes and mode, and the link, as published");
        Assert.That(Directory.GetDirectories(dir["device/.site.doras"], "tree-*"), Is.Empty, "no extracted tree is left behind");
    }

    /// <summary>Every entry under a tree (content digest, mode, link target), less the root's own mode.</summary>
    private static SortedDictionary<string, string> Contents(string root)
    {
        var snapshot = TreeSnapshot.Take(root);
        snapshot.Remove(".");
        return snapshot;
    }
}
