using Doras.Oci;

namespace Doras.Delta.Zstd;

/// <summary>Loads the native libzstd once (for <see cref="ZstdCodec.Native"/>) and turns its absence into one clear, actionable error.</summary>
public static class ZstdLibrary
{
    private static readonly Lazy<(uint Version, string? Error)> Probe = new(() =>
    {
        try { return (ZstdNative.VersionNumber(), null); }
        catch (DllNotFoundException) { return (0, MissingMessage); }
        catch (EntryPointNotFoundException) { return (0, MissingMessage); }
    });

    public const string MissingMessage =
        "the native zstd library (libzstd.so.1) could not be loaded: install it, e.g. 'apt-get install libzstd1' on Debian/Ubuntu, 'apk add zstd-libs' on Alpine";

    /// <summary>libzstd's version, e.g. "1.5.4".</summary>
    public static string Version
    {
        get
        {
            EnsureAvailable();
            var v = Probe.Value.Version;
            return $"{v / 10000}.{v / 100 % 100}.{v % 100}";
        }
    }

    /// <summary>libzstd's version as a number (10504 for 1.5.4); 0 where it does not load.</summary>
    internal static uint VersionNumber => Probe.Value.Version;

    /// <summary>Whether libzstd.so.1 loads in this process.</summary>
    public static bool IsAvailable => Probe.Value.Error is null;

    public static void EnsureAvailable()
    {
        if (Probe.Value.Error is { } error) throw new ZstdUnavailableException(error);
    }
}

public sealed class ZstdUnavailableException(string message) : Exception(message), IFailure
{
    public FailureKind Kind => FailureKind.Internal; // the installation lacks a library
}
