using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// What the new bytes of a match are predicted to be, made from its old bytes: bsdiff then codes the differences
/// from the prediction instead of from the old bytes. Builder and device must predict alike, from the same matches
/// and the same old version; a prediction that is wrong costs bytes, never correctness.
/// </summary>
public interface IMatchPrediction
{
    /// <summary>
    /// Rewrites <paramref name="bytes"/>, the old bytes of <paramref name="match"/> from <paramref name="offset"/> on,
    /// into their prediction. Calls for one match come in order from offset 0, each where the last one ended.
    /// </summary>
    void Predict(in BsdiffMatch match, long offset, Span<byte> bytes);
}

/// <summary>Reads old bytes at <paramref name="position"/>; returns how many, fewer only at the end of the old version.</summary>
public delegate int OldBytesReader(long position, Span<byte> into);

/// <summary>Makes the prediction a delta was built with, once the device has read the delta's matches.</summary>
public abstract class MatchPredictionFactory
{
    /// <summary>
    /// The prediction from the delta's <paramref name="matches"/>, read once as a stream in the order of the new
    /// version: it keeps only what its format bounds (<see cref="MappedMatches"/>) and refuses what its format forbids.
    /// </summary>
    public abstract IMatchPrediction Create(IEnumerable<BsdiffMatch> matches, OldBytesReader old);

    /// <summary>
    /// The prediction for a delta whose control part (seekable: the device spools it) is <paramref name="control"/>:
    /// reads its matches once and puts it back where it was.
    /// </summary>
    public IMatchPrediction Create(Stream control, SafeFileHandle oldFile, long maxOutputBytes, CancellationToken ct) =>
        Create(control, RandomAccess.GetLength(oldFile), (position, into) => RandomAccess.Read(oldFile, into, position), maxOutputBytes, ct);

    /// <summary>Like <see cref="Create(Stream, SafeFileHandle, long, CancellationToken)"/>, reading the old version of <paramref name="oldSize"/> bytes through <paramref name="old"/>.</summary>
    public IMatchPrediction Create(Stream control, long oldSize, OldBytesReader old, long maxOutputBytes, CancellationToken ct)
    {
        var start = control.Position;
        var prediction = Create(RecordReader.ReadMatches(control, oldSize, maxOutputBytes, ct), old);
        control.Position = start;
        return prediction;
    }
}
