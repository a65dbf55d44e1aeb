namespace Doras.Tests.EndToEnd;

/// <summary>
/// The linux-arm64 `doras` (Native AOT, cross-compiled here with clang and lld) is an arm64 executable that starts
/// under qemu-user. Needs qemu-user-static and the arm64 C library (apt-get install qemu-user-static
/// libc6-arm64-cross; .ci/run does). Updates under qemu do not work yet: see the README.
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
        Assert.That(output, Is.EqualTo(ExternalTool.RunOk(Binaries.Doras, "--version")), "the same version as the x64 executable");
    }
}
