using System.Runtime.InteropServices;

using Doras.Oci.Content;

namespace Doras.Oci.Model;

/// <summary>Choosing the manifest for a platform out of an image index.</summary>
public static class Platforms
{
    /// <summary>
    /// This process, in OCI terms (GOOS/GOARCH names). The process's architecture, not the kernel's, as Go's
    /// runtime.GOARCH: a 32-bit userland on a 64-bit kernel (Raspberry Pi OS) runs arm builds, not arm64 ones.
    /// </summary>
    public static Platform Host => new()
    {
        Os = OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsWindows() ? "windows" : OperatingSystem.IsMacOS() ? "darwin" : "unknown",
        Architecture = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            Architecture.Arm => "arm",
            Architecture.X86 => "386",
            Architecture.RiscV64 => "riscv64",
            Architecture.S390x => "s390x",
            Architecture.Ppc64le => "ppc64le",
            var other => other.ToString().ToLowerInvariant(),
        },
        Variant = RuntimeInformation.ProcessArchitecture == Architecture.Arm ? "v7" : null,
    };

    /// <summary>Parses "os/arch[/variant]", e.g. linux/arm64 or linux/arm/v7.</summary>
    public static Platform Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
            throw new FormatException($"invalid platform '{text}': expected os/arch[/variant], e.g. linux/arm64");
        return new Platform { Os = parts[0], Architecture = parts[1], Variant = parts.Length == 3 ? parts[2] : null };
    }

    /// <summary>The index entry for <paramref name="wanted"/>; a missing variant in the wish matches any variant.</summary>
    public static Descriptor Select(ImageIndex index, Platform wanted, string what)
    {
        var match = index.Manifests.FirstOrDefault(m => m.Platform is { } p && Matches(p, wanted))
                    ?? (index.Manifests.Count == 1 && index.Manifests[0].Platform is null ? index.Manifests[0] : null);
        return match ?? throw new NotFoundException(
            $"{what} has no manifest for {Format(wanted)}; it has: {string.Join(", ", index.Manifests.Select(m => m.Platform is { } p ? Format(p) : "(no platform)"))}");
    }

    /// <summary>Whether a build for <paramref name="actual"/> is what <paramref name="wanted"/> asks for; a missing variant in the wish matches any.</summary>
    public static bool Matches(Platform actual, Platform wanted) =>
        actual.Os == wanted.Os && actual.Architecture == wanted.Architecture && (wanted.Variant is null || VariantOf(actual) == VariantOf(wanted));

    /// <summary>The variant, with the defaults containerd assumes when none is written: arm is v7, arm64 is v8.</summary>
    private static string? VariantOf(Platform p) => p.Variant ?? p.Architecture switch { "arm" => "v7", "arm64" => "v8", _ => null };

    public static string Format(Platform p) => p.Variant is null ? $"{p.Os}/{p.Architecture}" : $"{p.Os}/{p.Architecture}/{p.Variant}";
}
