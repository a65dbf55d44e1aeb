using Doras.Delta.Algorithms;

namespace Doras.Delta.Lzma;

/// <summary>Raw LZMA2 streams (no xz container: the delta's own header carries digests and lengths).</summary>
internal static class Lzma2
{
    /// <summary>The largest dictionary a delta may ask the device for: its decoder allocates it whole.</summary>
    public const int MaxDictionaryLog = 23;

    /// <summary>
    /// The largest dictionary deltas are built with (4 MiB; earlier builds used 8 MiB, which devices still accept):
    /// half the device's decoder memory, and on esbuild's 8.6 MB diff part 114 bytes smaller and 8 % less CPU than 8 MiB.
    /// </summary>
    public const int MaxBuildDictionaryLog = 22;

    public const int MinDictionaryLog = 12;

    /// <summary>
    /// The smallest dictionary that holds <paramref name="length"/> bytes, within the bound deltas are built with, or
    /// within <paramref name="maxLog"/> where a part is better served by a smaller one.
    /// </summary>
    public static int DictionaryLogFor(long length, int maxLog = MaxBuildDictionaryLog) =>
        Math.Clamp(64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)Math.Max(1, length - 1)), MinDictionaryLog, Math.Min(maxLog, MaxBuildDictionaryLog));

    /// <summary>Refuses the build (so <c>auto</c> uses the others) where the system has no liblzma.</summary>
    public static void EnsureAvailable()
    {
        if (!LzmaLibrary.IsAvailable)
            throw new Artifacts.IncompatibleArtifactException($"{LzmaNative.Library} (XZ Utils) is not installed here");
    }

    /// <summary>Compresses <paramref name="raw"/> whole into <paramref name="output"/>; returns the compressed length.</summary>
    /// <param name="positionBits">LZMA's pb: 2 (xz's default) suits 4-byte aligned data such as machine code, 0 bytes with no alignment.</param>
    public static long Compress(ReadOnlySpan<byte> raw, Stream output, int dictionaryLog, int positionBits = 2, CancellationToken ct = default)
    {
        using var encoder = Lzma2Coder.Encoder(dictionaryLog, positionBits);
        var buffer = new byte[1 << 16];
        long written = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested(); // each call codes at most a buffer's worth of output
            var result = encoder.Code(raw, buffer, finish: true, out var consumed, out var produced);
            raw = raw[consumed..];
            output.Write(buffer, 0, produced);
            written += produced;
            if (result == LzmaNative.StreamEnd) return written;
            if (result != LzmaNative.Ok) throw new InvalidOperationException($"liblzma failed to compress (error {result})");
        }
    }
}

/// <summary>
/// Decodes a raw LZMA2 stream read from <c>compressed</c>, refusing more than <c>maxOutputBytes</c> (a bomb), a
/// stream that ends early, or corrupt data (<see cref="CorruptDeltaException"/>). Memory: the dictionary
/// (2^dictionaryLog bytes, at most 8 MiB) and a 64 KiB input buffer.
/// </summary>
internal sealed class Lzma2DecoderStream : Doras.Oci.Content.ReadOnlyStream
{
    private readonly Stream _compressed;
    private readonly long _maxOutputBytes;
    private readonly Lzma2Coder _decoder;
    private readonly byte[] _input = new byte[1 << 16];
    private int _start, _end;
    private bool _inputEnded, _streamEnded;
    private long _produced;

    public Lzma2DecoderStream(Stream compressed, int dictionaryLog, long maxOutputBytes)
    {
        if (dictionaryLog is < Lzma2.MinDictionaryLog or > Lzma2.MaxDictionaryLog)
            throw new CorruptDeltaException($"LZMA2 part asks for a dictionary of 2^{dictionaryLog} bytes; at most 2^{Lzma2.MaxDictionaryLog} is allowed");
        _compressed = compressed;
        _maxOutputBytes = maxOutputBytes;
        // Where liblzma is missing or cannot start a decoder, this device cannot apply the delta: the updater then
        // downloads the full version instead of failing every run.
        if (!LzmaLibrary.IsAvailable) throw new Artifacts.IncompatibleArtifactException($"{LzmaNative.Library} (XZ Utils) is not installed here, which LZMA2 deltas need");
        try { _decoder = Lzma2Coder.Decoder(dictionaryLog); }
        catch (Exception e) when (e is InvalidOperationException or EntryPointNotFoundException or DllNotFoundException)
        {
            throw new Artifacts.IncompatibleArtifactException($"{LzmaNative.Library} cannot decode here: {e.Message}");
        }
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _streamEnded) return 0;
        while (true)
        {
            if (_start == _end && !_inputEnded)
            {
                _start = 0;
                _end = _compressed.Read(_input);
                _inputEnded = _end == 0;
            }
            var result = _decoder.Code(_input.AsSpan(_start, _end - _start), buffer, finish: _inputEnded, out var consumed, out var produced);
            _start += consumed;
            _produced += produced;
            if (_produced > _maxOutputBytes) throw new CorruptDeltaException($"LZMA2 part decodes to more than its bound of {_maxOutputBytes} bytes");
            if (result == LzmaNative.StreamEnd)
            {
                _streamEnded = true;
                if (_start != _end || _compressed.ReadByte() >= 0) throw new CorruptDeltaException("LZMA2 part has data after its end");
                return produced;
            }
            if (result == LzmaNative.BufError && _inputEnded) throw new CorruptDeltaException("LZMA2 part is truncated");
            if (result != LzmaNative.Ok && result != LzmaNative.BufError) throw new CorruptDeltaException($"LZMA2 part is corrupt (liblzma error {result})");
            if (produced > 0) return produced;
        }
    }

    /// <summary>Decoding is CPU work over an already buffered delta: done inline.</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _decoder.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Whether the system's liblzma (XZ Utils) loads here: devices list bsdiff-lzma and bsdiff-exe only then.</summary>
public static class LzmaLibrary
{
    private static readonly Lazy<bool> Probe = new(() =>
    {
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad(LzmaNative.Library, out var handle)) return false;
        System.Runtime.InteropServices.NativeLibrary.Free(handle);
        return true;
    });

    public static bool IsAvailable => Probe.Value;
}
