using Doras.Delta.Bsdiff;

namespace Doras.Delta.Executables;

/// <summary>
/// Predicts the new bytes of a match in code: each reference found in the old bytes is written again to name
/// where its old target went (through <see cref="MatchMap"/>, from where the reference itself now is). When code
/// moves, every call and address into or out of it changes; predicted, those changes cost bsdiff nothing, as in
/// Chromium's Zucchini. References are found front to back from each match's start, never overlapping, so the
/// builder and the device, reading the same old bytes, find the same ones.
/// </summary>
public sealed class ReferencePrediction : IMatchPrediction
{
    private readonly ReferenceCodec _codec;
    private readonly AddressLayout _old;
    private readonly AddressLayout _new;
    private readonly MatchMap _map;
    private readonly OldBytesReader _read;
    private byte[] _window = [];
    private long _windowFrom;
    private int _windowCount;

    // The match being predicted: where the next reference may start, and a reference that runs past the last piece.
    private long _next;
    private long _pendingAt = -1;
    private readonly byte[] _pending = new byte[ReferenceCodec.MaxWidth];
    private int _pendingWidth;

    public ReferencePrediction(InstructionSet set, AddressLayout old, AddressLayout @new, IReadOnlyList<BsdiffMatch> matches, OldBytesReader read)
    {
        _codec = ReferenceCodec.For(set);
        (_old, _new, _map, _read) = (old, @new, new MatchMap(matches), read);
    }

    public void Predict(in BsdiffMatch match, long offset, Span<byte> bytes)
    {
        var start = match.OldStart + offset;
        var end = start + bytes.Length;
        var matchEnd = match.OldStart + match.Length;
        if (offset == 0) (_next, _pendingAt) = (match.OldStart, -1);
        if (_pendingAt >= 0)
        {
            // A reference can span several pieces (a piece can be a byte): it is done once it ends in this one.
            Patch(bytes, start, _pendingAt, _pending.AsSpan(0, _pendingWidth));
            if (_pendingAt + _pendingWidth <= end) _pendingAt = -1;
        }

        if (!_old.HoldsCode(start, end)) return; // references are looked for in code only

        var from = start - ReferenceCodec.Lookbehind;
        var window = OldBytes(from, bytes.Length + ReferenceCodec.Lookbehind + ReferenceCodec.MaxWidth, matchEnd + ReferenceCodec.MaxWidth - from);

        // Where the piece's bytes are loaded, old and new, looked up once (per reference only where the piece straddles segments).
        var oldShift = _old.TryShiftOf(start, end, codeOnly: true, out var shift) ? shift : (long?)null;
        var newStart = match.NewStart + (start - match.OldStart);
        var newShift = _new.TryShiftOf(newStart, newStart + bytes.Length, codeOnly: false, out shift) ? shift : (long?)null;
        var step = _codec.Step;
        var position = Math.Max(_next, start);
        position += (step - position % step) % step;
        Span<byte> field = stackalloc byte[ReferenceCodec.MaxWidth];
        for (; position < end; position += step)
        {
            var at = _codec.NextCandidate(window, (int)(position - from), (int)(end - from));
            position = from + at;
            if (position >= end) break;
            if (!_codec.TryDecode(window, at, matchEnd - position, out var reference)) continue;
            if (!TryPredict(window.Slice(at, reference.Width), reference, match, position, oldShift, newShift, field[..reference.Width])) continue;
            Patch(bytes, start, position, field[..reference.Width]);
            if (position + reference.Width > end)
            {
                field[..reference.Width].CopyTo(_pending);
                (_pendingAt, _pendingWidth) = (position, reference.Width);
            }
            _next = position + reference.Width;
            position = _next - step;
        }
    }

    /// <summary>
    /// Whether a reference at old <paramref name="position"/> names a place in the old image (else it is taken for
    /// bytes that only look like one); if so, <paramref name="field"/> is its prediction: written to name its target's
    /// new place from its own new place, or its old bytes when either place is unknown or nothing moved.
    /// <paramref name="oldShift"/> and <paramref name="newShift"/> turn the reference's old and new offsets into
    /// addresses when its piece lies in one segment (<see cref="AddressLayout.TryShiftOf"/>); null, they are looked up.
    /// </summary>
    private bool TryPredict(ReadOnlySpan<byte> old, in CodeReference reference, in BsdiffMatch match, long position, long? oldShift, long? newShift, Span<byte> field)
    {
        var address = position + oldShift.GetValueOrDefault();
        if (oldShift is null && !_old.TryCodeAddressOf(position, out address)) return false;
        var target = Base(address, reference) + reference.Relative;
        long newTarget = 0;
        bool known;
        if (_old.TryOffsetOf(target, out var targetOffset))
            known = _map.TryMap(targetOffset, out var newOffset) && _new.TryAddressOf(newOffset, out newTarget);
        else if (_old.TryZeroFilled(target, out var segment, out var into))
            known = _new.TryZeroFilledAddress(segment, into, out newTarget);
        else
            return false;
        old.CopyTo(field);
        var newPosition = match.NewStart + (position - match.OldStart);
        var newAddress = newPosition + newShift.GetValueOrDefault();
        if (!known || (newShift is null && !_new.TryAddressOf(newPosition, out newAddress))) return true;
        var relative = newTarget - Base(newAddress, reference);
        // Unmoved, the old bytes are the prediction (some forms have several encodings of one target).
        if (relative != reference.Relative && !_codec.TryEncode(field, reference, relative)) old.CopyTo(field);
        return true;
    }

    /// <summary>
    /// The old bytes [<paramref name="from"/>, +<paramref name="length"/>), zeros outside the file, from a window
    /// read ahead up to 256 KiB within what the match will ask for (<paramref name="ahead"/>), so the device's
    /// pieces of a match (a run can be a few bytes) cost no read each, and a short match no long read.
    /// </summary>
    private ReadOnlySpan<byte> OldBytes(long from, int length, long ahead)
    {
        if (from < _windowFrom || from + length > _windowFrom + _windowCount)
        {
            var count = (int)Math.Max(length, Math.Min(ahead, 256 << 10));
            if (_window.Length < count) _window = new byte[count];
            var window = _window.AsSpan(0, count);
            var skip = (int)Math.Clamp(-from, 0, count);
            window[..skip].Clear();
            var read = 0;
            for (int n; skip + read < count && (n = _read(from + skip + read, window[(skip + read)..])) > 0;) read += n;
            window[(skip + read)..].Clear();
            (_windowFrom, _windowCount) = (from, count);
        }
        return _window.AsSpan((int)(from - _windowFrom), length);
    }

    private static long Base(long address, in CodeReference reference) => reference.PageRelative ? address & ~0xFFFL : address;

    /// <summary>Copies the part of a field at old <paramref name="position"/> that falls in the piece at <paramref name="start"/>.</summary>
    private static void Patch(Span<byte> bytes, long start, long position, ReadOnlySpan<byte> field)
    {
        var from = Math.Max(start, position);
        var to = Math.Min(start + bytes.Length, position + field.Length);
        if (from < to) field.Slice((int)(from - position), (int)(to - from)).CopyTo(bytes[(int)(from - start)..]);
    }
}
