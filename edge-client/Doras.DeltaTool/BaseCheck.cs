using Doras.Delta.Algorithms;

namespace Doras.DeltaTool;

/// <summary>
/// Verifies the installed old version against the base a delta's header names while the delta applies, on another
/// thread, instead of hashing it whole first: the apply reads the base the header claims (<see cref="Claimed"/>), and
/// its output is accepted only after <see cref="RequireAsync"/> has proved the file to be that base. A file of
/// another size is refused at once, before any work.
/// </summary>
internal sealed class BaseCheck
{
    private readonly DeltaHeader _header;
    private readonly Task<DeltaInput> _actual;

    public BaseCheck(string path, DeltaHeader header, CancellationToken ct = default)
    {
        _header = header;
        var size = new FileInfo(path).Length;
        if (size != header.BaseSize) throw Mismatch(header, $"{size} bytes");
        Claimed = new DeltaInput(path, header.BaseDigest, header.BaseSize);
        _actual = Task.Run(() => FileDigest.Input(path, header.BaseDigest.Algorithm, ct), ct);
    }

    /// <summary>The old version as its header names it; not yet verified.</summary>
    public DeltaInput Claimed { get; }

    /// <summary>Waits for the old version's digest; throws <see cref="CorruptDeltaException"/> when it is not the delta's base.</summary>
    public async Task RequireAsync()
    {
        var actual = await _actual.ConfigureAwait(false);
        if (actual.Digest != _header.BaseDigest || actual.Size != _header.BaseSize)
            throw Mismatch(_header, $"{actual.Digest} ({actual.Size} bytes)");
    }

    private static CorruptDeltaException Mismatch(DeltaHeader header, string installed) =>
        new($"delta was made for base {header.BaseDigest} ({header.BaseSize} bytes), not for the installed {installed}");
}
