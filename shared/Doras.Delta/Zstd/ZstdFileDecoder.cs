using System.IO.MemoryMappedFiles;
using Doras.Oci.IO;
using Microsoft.Win32.SafeHandles;

namespace Doras.Delta.Zstd;

/// <summary>
/// Decodes a zstd stream of known size straight into a file through a memory map of it. zstd's streaming
/// decoder otherwise keeps a private buffer as large as the frame's window, which for a patch (window sized
/// to the whole artifact) means as much memory as the artifact; with a stable output buffer the decoder uses
/// the mapped file itself as its history, so the device's private memory stays a few hundred KiB whatever
/// the artifact's size, and the written pages are ordinary page cache the kernel can flush and evict.
/// </summary>
public static class ZstdFileDecoder
{
    /// <summary>
    /// Writes exactly <paramref name="size"/> decoded bytes to a new file at <paramref name="path"/>, flushed to
    /// disk. Throws <see cref="ZstdException"/> when the input is corrupt, truncated, decodes to another size,
    /// or does not match <paramref name="prefix"/>.
    /// </summary>
    public static async Task DecompressToFileAsync(Stream input, string path, long size, NativeView? prefix = null, int windowLogMax = 31, CancellationToken ct = default, ZstdCodec? codec = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        codec ??= ZstdCodec.Default;
        // Allocated whole up front (fallocate): a full disk is an IOException here, never a SIGBUS when a write
        // through the map finds no block, and no later write can take space the free-space checks did not count.
        await using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.None, PreallocationSize = size,
        });
        if (size == 0)
        {
            // Nothing to map: decode to nowhere, insisting that nothing comes out.
            await using var empty = new ZstdDecoderStream(input, new ZstdDecompressionOptions { WindowLogMax = windowLogMax, MaxOutputBytes = 0 }, prefix, leaveOpen: true, codec);
            await empty.CopyToAsync(Stream.Null, ct).ConfigureAwait(false);
            return;
        }
        file.SetLength(size);
        using (var map = MemoryMappedFile.CreateFromFile(file, null, size, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true))
        using (var view = map.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite))
        using (var context = codec.CreateDecompressor())
        {
            var decoder = new Decoder(context, view, size, prefix, file.SafeFileHandle);
            try
            {
                decoder.Start(prefix, windowLogMax);
                var buffer = new byte[context.InputBufferSize];
                var sawInput = false;
                int read;
                while ((read = await input.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    sawInput = true;
                    decoder.Consume(buffer.AsSpan(0, read));
                }
                if (!sawInput) throw new ZstdException("zstd stream is empty");
                if (decoder.FrameOpen) throw new ZstdException("zstd stream is truncated: it ended inside a frame");
                if (decoder.Produced != size) throw new ZstdException($"zstd stream decoded to {decoder.Produced} bytes, not the expected {size}");
                view.Flush();
            }
            finally
            {
                decoder.Release();
                GC.KeepAlive(prefix);
            }
        }
        file.Flush(flushToDisk: true);
    }

    /// <summary>The zstd side: the mapped output as one stable zstd output buffer, fed input chunk by chunk.</summary>
    private sealed unsafe class Decoder(ZstdDecompressionContext context, MemoryMappedViewAccessor view, long size, NativeView? prefix, SafeFileHandle file)
    {
        /// <summary>How much output between two trims: the decoder's resident pages stay within a few times this.</summary>
        private const long TrimEveryBytes = 1 << 20;

        /// <summary>Input per call: 64 bytes of a patch code at most a few 128 KiB blocks.</summary>
        private const int InputSliceBytes = 64;

        private ulong _trimmedAt;
        private long _writtenBack;
        private ZstdOutBuffer _out;
        private bool _acquired;

        public bool FrameOpen { get; private set; }
        public long Produced => (long)_out.Pos;

        public void Start(NativeView? prefix, int windowLogMax)
        {
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _acquired = true;
            _out = new ZstdOutBuffer { Dst = p + view.PointerOffset, Size = (nuint)size, Pos = 0 };
            context.SetParameter(ZstdDParameter.WindowLogMax, windowLogMax);
            context.SetParameter(ZstdDParameter.StableOutBuffer, 1);
            if (prefix is { Length: > 0 }) context.ReferencePrefix(prefix.Pointer, (nuint)prefix.Length);
        }

        public void Consume(ReadOnlySpan<byte> chunk)
        {
            fixed (byte* src = chunk)
            {
                var input = new ZstdInBuffer { Src = src, Size = (nuint)chunk.Length };
                while (input.Pos < (nuint)chunk.Length)
                {
                    // A few bytes of a patch can decode to megabytes (typescript's 9 MB from a delta of 1,317 bytes): fed
                    // in slices, each call's output stays near the trim interval, so the trims keep resident memory bounded.
                    input.Size = Math.Min((nuint)chunk.Length, input.Pos + InputSliceBytes);
                    var before = _out.Pos;
                    var consumedBefore = input.Pos;
                    var output = _out;
                    var hint = context.Decompress(&output, &input);
                    _out = output;
                    if (_out.Pos - _trimmedAt >= TrimEveryBytes) Trim();
                    FrameOpen = hint != 0;
                    if (_out.Pos == before && input.Pos == consumedBefore)
                        throw new ZstdException($"zstd stream decodes to more than the expected {size} bytes");
                }
            }
        }

        /// <summary>
        /// Gives back the pages of the output and of a file-mapped prefix that this process has mapped: they stay in the
        /// page cache (the output's written pages too, to be flushed), and what the decoder reads again faults back in.
        /// Without it, a patch of biome (98 MB) held both versions, 196 MiB, in the device's resident memory; with it
        /// 74 MiB (the decoder's references back into the output fault pages in again, 64 KiB around each).
        /// Released pages are dirty in the page cache: every <see cref="Durable.WritebackStretchBytes"/> the kernel is
        /// asked to start writing them, so the final flush has little left.
        /// </summary>
        private void Trim()
        {
            _trimmedAt = _out.Pos;
            if (!MappedPages.Release(_out.Dst - view.PointerOffset, view.PointerOffset + (long)_out.Pos)) return;
            if (prefix is { IsFileMapping: true }) MappedPages.Release(prefix.Pointer, prefix.Length);
            if ((long)_out.Pos - _writtenBack >= Durable.WritebackStretchBytes) _writtenBack = Durable.StartWriteback(file, _writtenBack, (long)_out.Pos);
        }

        public void Release()
        {
            if (_acquired) view.SafeMemoryMappedViewHandle.ReleasePointer();
            _acquired = false;
        }
    }
}
