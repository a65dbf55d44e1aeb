using Doras.Delta.Artifacts;

namespace Doras.Tests.EndToEnd;

/// <summary>
/// The linux-arm64 `doras` (Native AOT, cross-compiled here) run under qemu-user against the x64 server on
/// loopback: a full install and a delta update of a file and of a directory come out byte for byte.
/// Needs qemu-user-static and the arm64 C library (apt-get install qemu-user-static libc6-arm64-cross; .ci/run does).
/// </summary>
[NonParallelizable]
public class Arm64ClientTests
{
    private const string Qemu = "qemu-aarch64-static";
    private const string Arm64Libraries = "/usr/aarch64-linux-gnu";

    private static readonly Lazy<string> Doras = new(() => Binaries.NativeExecutable("edge-client/Doras.Cli", "doras", "linux-arm64"));

    private static (int Code, string Output) Run(params string[] args) =>
        ExternalTool.Run(Qemu, ["-L", Arm64Libraries, Doras.Value, .. args]);

    [Test, CancelAfter(900_000)]
    public void The_arm64_executable_is_an_arm64_elf_and_starts()
    {
        var header = new byte[20];
        using (var file = File.OpenRead(Doras.Value)) file.ReadExactly(header);
        Assert.That(header[..4], Is.EqualTo("\u007fELF"u8.ToArray()));
        Assert.That(BitConverter.ToUInt16(header, 18), Is.EqualTo(183), "e_machine must be EM_AARCH64");
        var (code, output) = Run("--version");
        Assert.That(code, Is.Zero, output);
        Assert.That(output.Trim(), Is.Not.Empty);
    }

    [Test, CancelAfter(900_000)]
    public async Task Under_qemu_the_arm64_client_installs_and_updates_a_file_by_delta()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/firmware");
        var v1 = TestData.Binary(2 << 20, 51);
        var v2 = TestData.Edit(v1, 52, edits: 20);
        await Versions.PublishFileAsync(repository, server.Scratch, "firmware.bin", v1, "stable");
        string[] pull = ["pull", "fleet/firmware:stable", "--server", server.Url.ToString(), "--output", dir["device"]];

        var (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: "));
        Assert.That(File.ReadAllBytes(dir["device/firmware.bin"]), Is.EqualTo(v1));

        await Versions.PublishFileAsync(repository, server.Scratch, "firmware.bin", v2, "stable");
        (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: "));
        Assert.That(File.ReadAllBytes(dir["device/firmware.bin"]), Is.EqualTo(v2));
    }

    [Test, CancelAfter(900_000)]
    public async Task Under_qemu_the_arm64_client_installs_and_updates_a_directory_by_delta()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var release = server.Scratch["release/site"];
        var library = TestData.Binary(1 << 20, 53);
        Write(release, "bin/app", library, "#!/bin/sh\necho v1\n"u8.ToArray());
        await ArtifactPublisher.PublishAsync(server.Store.Repository("fleet/site"), release, ["stable"]);
        string[] pull = ["pull", "fleet/site:stable", "--server", server.Url.ToString(), "--output", dir["site"]];

        var (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(TreeSnapshot.Take(dir["site"]), Is.EqualTo(TreeSnapshot.Take(release)));

        Directory.Delete(release, recursive: true);
        Write(release, "bin/app", TestData.Edit(library, 54, edits: 10), "#!/bin/sh\necho v2\n"u8.ToArray());
        File.CreateSymbolicLink(Path.Combine(release, "current"), "bin/app");
        await ArtifactPublisher.PublishAsync(server.Store.Repository("fleet/site"), release, ["stable"]);
        (code, output) = Run(pull);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: "));
        Assert.That(TreeSnapshot.Take(dir["site"]), Is.EqualTo(TreeSnapshot.Take(release)));
    }

    private static void Write(string root, string program, byte[] library, byte[] script)
    {
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        Directory.CreateDirectory(Path.Combine(root, "lib"));
        File.WriteAllBytes(Path.Combine(root, "lib/libapp.so"), library);
        File.WriteAllBytes(Path.Combine(root, program), script);
        File.SetUnixFileMode(Path.Combine(root, program), (UnixFileMode)Convert.ToInt32("755", 8));
    }
}
