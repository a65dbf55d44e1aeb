namespace Doras.Tests.EndToEnd;

/// <summary>
/// The linux-arm64 `doras` (Native AOT, cross-compiled here with clang and lld) is an arm64 executable. Running it
/// under qemu-user does not work yet (it spins at start-up; see the README), so this proves the cross-compilation
/// only; the qemu run waits until that is solved.
/// </summary>
[NonParallelizable]
public class Arm64ClientTests
{
    private static readonly Lazy<string> Doras = new(() => Binaries.NativeExecutable("edge-client/Doras.Cli", "doras", "linux-arm64"));

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
}
