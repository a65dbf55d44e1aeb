namespace Doras.Tests.Support;

/// <summary>
/// Runs a linux-arm64 executable on this x64 machine under qemu-user (`qemu-aarch64-static`), as CI proves the
/// arm64 `doras`. The arm64 C library and OpenSSL come from Debian's multiarch packages (libc6:arm64,
/// libssl3:arm64), which .ci/run installs. No `-L` sysroot: the cross sysroot's loader would load libc6:arm64's
/// libc.so.6, another glibc build, and hang (see the README's "Publishing the edge client").
/// </summary>
public static class Arm64Emulator
{
    public const string Qemu = "/usr/bin/qemu-aarch64-static";

    /// <summary>What qemu-user needs here, each with the package that brings it.</summary>
    private static readonly (string Path, string Package)[] Needs =
    [
        (Qemu, "qemu-user-static"),
        ("/lib/ld-linux-aarch64.so.1", "libc6:arm64"),
        ("/usr/lib/aarch64-linux-gnu/libssl.so.3", "libssl3:arm64"),
    ];

    /// <summary>Fails with what to install when anything qemu-user needs to run an arm64 program is missing.</summary>
    public static void RequireInstalled()
    {
        var missing = Needs.Where(n => !File.Exists(n.Path)).ToList();
        if (missing.Count > 0)
            Assert.Fail("running the arm64 client needs " + string.Join(", ", missing.Select(m => $"{m.Path} ({m.Package})")) +
                "; install them as .ci/run does: dpkg --add-architecture arm64 && apt-get update && apt-get install -y qemu-user-static libssl3:arm64");
    }

    /// <summary>Runs the arm64 program with its arguments under qemu-user; its exit code and its output.</summary>
    public static (int Code, string Output) Run(string executable, params string[] args) => ExternalTool.Run(Qemu, [executable, .. args]);
}
