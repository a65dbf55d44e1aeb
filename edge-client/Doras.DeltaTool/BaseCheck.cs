using Doras.Delta.Algorithms;

namespace Doras.DeltaTool;

/// <summary>
/// The installed old version against the base a delta's header names. A file of another size is refused at once,
/// before any work. Its digest is computed only when the apply fails (<see cref="ExplainFailure"/>): the output is
/// accepted by its own digest, the target's, whatever file gave it, and another base explains a failed apply better than
/// the apply's own error. Hashing the base on every apply cost a second SHA-256 pass over the old version (the 240 MiB
/// firmware image: about a quarter of the apply's CPU).
/// </summary>
internal sealed class BaseCheck
{
    private readonly DeltaHeader _header;
    private readonly CancellationToken _ct;

    public BaseCheck(string path, DeltaHeader header, CancellationToken ct = default)
    {
        _header = header;
        _ct = ct;
        var size = new FileInfo(path).Length;
        if (size != header.BaseSize) throw Mismatch(header, $"{size} bytes");
        Claimed = new DeltaInput(path, header.BaseDigest, header.BaseSize);
    }

    /// <summary>The old version as its header names it; not verified.</summary>
    public DeltaInput Claimed { get; }

    /// <summary>After a failed apply: throws <see cref="CorruptDeltaException"/> when the old version is not the delta's base, else returns.</summary>
    public void ExplainFailure()
    {
        var actual = FileDigest.Input(Claimed.Path, _header.BaseDigest.Algorithm, _ct);
        if (actual.Digest != _header.BaseDigest || actual.Size != _header.BaseSize)
            throw Mismatch(_header, $"{actual.Digest} ({actual.Size} bytes)");
    }

    private static CorruptDeltaException Mismatch(DeltaHeader header, string installed) =>
        new($"delta was made for base {header.BaseDigest} ({header.BaseSize} bytes), not for the installed {installed}");
}
