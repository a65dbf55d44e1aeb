using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using Doras.Delta.Octodiff;

namespace Doras.Tests.Delta;

/// <summary>
/// Signatures come from devices, i.e. from anyone: the server must refuse what Octodiff would never write, build
/// deltas in time linear in the new file whatever the signature says, and stop when the client is gone.
/// </summary>
public class OctodiffHostileSignatureTests
{
    private const int RecordLength = 26;
    private static readonly byte[] Header = [.. "OCTOSIG"u8, 1, 4, .. "SHA1"u8, 7, .. "Adler32"u8, .. ">>>"u8];

    /// <summary>A signature in Octodiff's encoding with exactly the records given, valid or not.</summary>
    private static byte[] RawSignature(IEnumerable<(int Length, uint Rolling, byte[] Sha1)> chunks)
    {
        var output = new MemoryStream();
        output.Write(Header);
        var record = new byte[RecordLength];
        foreach (var (length, rolling, sha1) in chunks)
        {
            BinaryPrimitives.WriteInt16LittleEndian(record, (short)length);
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(2), rolling);
            sha1.CopyTo(record, 6);
            output.Write(record);
        }
        return output.ToArray();
    }

    private static byte[] Lengths(params int[] lengths) => RawSignature(lengths.Select(n => (n, 0u, new byte[20])));

    private static byte[] Signature(byte[] file, int chunkSize)
    {
        var output = new MemoryStream();
        OctodiffSignature.WriteAsync(new MemoryStream(file), output, chunkSize).GetAwaiter().GetResult();
        return output.ToArray();
    }

    /// <summary>A wrong SHA1 that differs for every chunk.</summary>
    private static byte[] Bogus(int i) => [.. BitConverter.GetBytes(i), .. new byte[16]];

    /// <summary>
    /// The delta, after checking the build's work against the bound the rationing promises (linear in the new file
    /// whatever the signature; counted, not timed, so a loaded machine cannot fail it): every byte scanned once at most, at most
    /// the allowance plus 17 bytes hashed per byte scanned plus a last chunk, SHA1s paid for by the budget or by the
    /// window moving a chunk, at most 8 chunks compared per SHA1.
    /// </summary>
    private static byte[] LinearDelta(OctodiffSignature signature, byte[] @new)
    {
        var delta = new MemoryStream();
        var work = OctodiffDelta.Write(signature, new MemoryStream(@new), delta);
        TestContext.Out.WriteLine($"{@new.Length} bytes against {signature.ChunkCount} chunks: {work}");
        Assert.That(work.BytesScanned, Is.InRange(@new.Length - OctodiffSignature.MaxChunkSize, @new.Length), "the window's last stretch is not scanned");
        Assert.That(work.BytesHashed, Is.LessThanOrEqualTo(OctodiffDelta.FalseHitAllowance + (OctodiffDelta.FalseHitBytesPerByte + 1L) * @new.Length + OctodiffSignature.MaxChunkSize));
        Assert.That(work.Hashes, Is.LessThanOrEqualTo((OctodiffDelta.FalseHitAllowance + OctodiffDelta.FalseHitBytesPerByte * (long)@new.Length) / OctodiffDelta.HashCallCost
            + @new.Length / OctodiffSignature.MinChunkSize + 1), "false hits pay for their calls; true hits move the window a chunk");
        Assert.That(work.ChunksCompared, Is.LessThanOrEqualTo(OctodiffDelta.MaxCandidatesPerRolling * work.Hashes));
        return delta.ToArray();
    }

    private static async Task<byte[]> ApplyAsync(TempDirectory dir, byte[] old, byte[] delta)
    {
        var output = new MemoryStream();
        await OctodiffDelta.ApplyAsync(dir.Write($"old-{Guid.NewGuid():N}", old), new MemoryStream(delta), output);
        return output.ToArray();
    }

    private static void Refused(byte[] signature, string message, long maxChunks = OctodiffSignature.DefaultMaxChunks)
    {
        Assert.That(() => OctodiffSignature.Read(new MemoryStream(signature), maxChunks), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo(message), "seekable");
        Assert.That(() => OctodiffSignature.Read(new OneWayStream(signature), maxChunks), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo(message), "not seekable");
    }

    [Test]
    public async Task Many_chunks_sharing_one_rolling_checksum_cost_linear_time_and_the_delta_still_applies()
    {
        // The old file's 1 MiB in 128-byte chunks, then 100,000 chunks claiming the rolling checksum of 128 zero
        // bytes with SHA1s that never match: every position of a zero run in the new file hits all of them.
        using var dir = new TempDirectory();
        const int n = 128;
        var old = TestData.Random(1 << 20, 31);
        var zeroRolling = RollingAdler32.Of(new byte[n]).Value;
        var real = OctodiffSignature.Read(new MemoryStream(Signature(old, n))).Chunks.Select(c => (c.Length, c.Rolling, c.Sha1.ToArray()));
        var hostile = Enumerable.Range(0, 100_000).Select(i => (n, zeroRolling, Bogus(i)));
        var signature = OctodiffSignature.Read(new MemoryStream(RawSignature(real.Concat(hostile))));
        Assert.That(signature.ChunkCount, Is.EqualTo(8192 + 100_000));
        byte[] @new = [.. new byte[1_500_000], .. old.AsSpan(0, 1 << 19), .. new byte[1_500_000], .. old.AsSpan(1 << 19), .. new byte[200_000]];

        var delta = LinearDelta(signature, @new);
        Assert.That(await ApplyAsync(dir, old, delta), Is.EqualTo(@new));
        Assert.That(delta.Length, Is.LessThan(@new.Length - (1 << 20) + (64 << 10)), "the old file's megabyte is still copied");
    }

    [Test]
    public async Task A_signature_naming_every_window_of_the_new_file_with_wrong_hashes_cannot_buy_a_hash_per_byte()
    {
        // Every window's rolling checksum at the largest chunk size: without a ration each position would hash 31 KiB.
        using var dir = new TempDirectory();
        const int n = OctodiffSignature.MaxChunkSize;
        var @new = TestData.Random((256 << 10) + n, 32);
        var chunks = new List<(int, uint, byte[])>();
        var rolling = RollingAdler32.Of(@new.AsSpan(0, n));
        chunks.Add((n, rolling.Value, Bogus(0)));
        for (var i = 0; i + n < @new.Length; i++)
        {
            rolling.Roll(@new[i], @new[i + n], n);
            chunks.Add((n, rolling.Value, Bogus(i + 1)));
        }
        var signature = OctodiffSignature.Read(new MemoryStream(RawSignature(chunks)));

        var delta = LinearDelta(signature, @new);
        Assert.That(await ApplyAsync(dir, [], delta), Is.EqualTo(@new));
    }

    [Test]
    public async Task Duplicate_chunks_beyond_the_candidate_limit_are_not_needed_for_a_correct_delta()
    {
        // A file of one repeated chunk: the index keeps only the first few, which is all a match needs.
        using var dir = new TempDirectory();
        var block = TestData.Random(2048, 33);
        var old = Enumerable.Repeat(block, 100).SelectMany(b => b).ToArray();
        var @new = old.Concat(TestData.Random(5000, 34)).Concat(old).ToArray();
        var delta = LinearDelta(OctodiffSignature.Read(new MemoryStream(Signature(old, 2048))), @new);
        Assert.That(await ApplyAsync(dir, old, delta), Is.EqualTo(@new));
        Assert.That(delta.Length, Is.LessThan(5000 + 4096));
    }

    [Test]
    public async Task A_tiny_single_chunk_signature_does_not_make_a_copy_of_every_byte()
    {
        // One chunk of one byte is a valid signature (of a 1-byte file); matched as a window it would cost a SHA1
        // and a 17-byte copy command per byte of the new file.
        using var dir = new TempDirectory();
        byte[] old = [7];
        var @new = Enumerable.Repeat((byte)7, 1 << 20).ToArray();
        var delta = LinearDelta(OctodiffSignature.Read(new MemoryStream(Signature(old, 2048))), @new);
        Assert.That(await ApplyAsync(dir, old, delta), Is.EqualTo(@new));
        Assert.That(delta.Length, Is.LessThan(@new.Length + 1000));
        // At the end of the new file it is still found.
        var tail = LinearDelta(OctodiffSignature.Read(new MemoryStream(Signature([1, 2, 3], 2048))), [9, 9, 1, 2, 3]);
        Assert.That(await ApplyAsync(dir, [1, 2, 3], tail), Is.EqualTo(new byte[] { 9, 9, 1, 2, 3 }));
        Assert.That(tail[^17], Is.EqualTo(0x60), "ends with a copy");
    }

    [Test]
    public void A_valid_signature_tells_its_chunk_count_chunk_size_and_file_size()
    {
        var file = TestData.Random(5000, 35);
        var signature = OctodiffSignature.Read(new MemoryStream(Signature(file, 2048)));
        Assert.That((signature.ChunkCount, signature.ChunkSize, signature.LastChunkLength, signature.FileSize), Is.EqualTo((3, 2048, 904, 5000L)));
        Assert.That(signature.Chunks.Select(c => (c.Offset, c.Length)), Is.EqualTo(new[] { (0L, 2048), (2048L, 2048), (4096L, 904) }));
        Assert.That(signature.Chunks[2].Sha1.ToArray(), Is.EqualTo(SHA1.HashData(file.AsSpan(4096))));
        Assert.That(signature.Chunks[1].Rolling, Is.EqualTo(RollingAdler32.Of(file.AsSpan(2048, 2048)).Value));

        var empty = OctodiffSignature.Read(new OneWayStream(Signature([], 2048)));
        Assert.That((empty.ChunkCount, empty.ChunkSize, empty.LastChunkLength, empty.FileSize, empty.Chunks.Count), Is.EqualTo((0, 0, 0, 0L, 0)));
    }

    [Test]
    public void Chunk_lengths_octodiff_can_write_are_accepted()
    {
        foreach (var lengths in new int[][] { [64], [31744], [128, 128, 1], [31744, 31744], [2048, 2048, 2047], [128] })
        {
            var signature = OctodiffSignature.Read(new MemoryStream(Lengths(lengths)));
            Assert.That(signature.FileSize, Is.EqualTo(lengths.Sum()), string.Join(",", lengths));
            Assert.That(OctodiffSignature.Read(new OneWayStream(Lengths(lengths))).ChunkCount, Is.EqualTo(lengths.Length));
        }
    }

    [Test]
    public void Mixed_chunk_sizes_are_refused()
    {
        Refused(Lengths(2048, 1024, 2048), "Octodiff signature mixes chunk sizes: chunk 1 has length 1024 but the chunk size is 2048; only the last chunk may be shorter");
        Refused(Lengths(2048, 2048, 4096), "Octodiff signature mixes chunk sizes: chunk 2 has length 4096 but the chunk size is 2048; only the last chunk may be shorter");
        // The attacker's measured case: 1-byte chunks.
        Refused(Lengths(1, 1, 1), "Octodiff signature has chunk size 1; Octodiff's chunk size is 128 to 31744 bytes");
    }

    [Test]
    public void Empty_and_negative_chunks_are_refused()
    {
        Refused(Lengths(2048, 0), "Octodiff signature chunk 1 has length 0; chunk lengths must be positive");
        Refused(Lengths(0), "Octodiff signature chunk 0 has length 0; chunk lengths must be positive");
        Refused(Lengths(-5, 2048), "Octodiff signature chunk 0 has length -5; chunk lengths must be positive");
    }

    [Test]
    public void Chunk_sizes_outside_octodiffs_range_are_refused()
    {
        Refused(Lengths(127, 127, 5), "Octodiff signature has chunk size 127; Octodiff's chunk size is 128 to 31744 bytes");
        Refused(Lengths(31745, 10), "Octodiff signature has chunk size 31745; Octodiff's chunk size is 128 to 31744 bytes");
        Refused(Lengths(32767), "Octodiff signature has chunk size 32767; Octodiff's chunk size is 128 to 31744 bytes");
    }

    [Test]
    public void Truncated_signatures_are_refused()
    {
        var good = Signature(TestData.Random(5000, 36), 2048);
        // Inside the header: after the magic, inside the version, a name, or the end marker.
        foreach (var cut in new[] { 0, 3, 7, 8, 10, 14, 20, 22, 23 })
            Refused(good[..cut], "Octodiff signature is truncated inside its header");
        // Inside a chunk record.
        Refused(good[..^1], "Octodiff signature is truncated: its chunk records are not a multiple of 26 bytes (25 bytes after the last whole record)");
        Refused(good[..(Header.Length + 30)], "Octodiff signature is truncated: its chunk records are not a multiple of 26 bytes (4 bytes after the last whole record)");
    }

    [Test]
    public void A_chunk_count_inconsistent_with_the_data_is_refused()
    {
        // The format has no count field: the count is what the bytes hold, so it must be whole and within the limit.
        Refused([.. Lengths(2048, 2048, 100), 0x08], "Octodiff signature is truncated: its chunk records are not a multiple of 26 bytes (1 bytes after the last whole record)");
        Refused(Lengths(Enumerable.Repeat(128, 11).ToArray()), "Octodiff signature has more than 10 chunks", maxChunks: 10);
        Assert.That(OctodiffSignature.Read(new OneWayStream(Lengths(Enumerable.Repeat(128, 10).ToArray())), maxChunks: 10).ChunkCount, Is.EqualTo(10));
        Refused(Lengths(Enumerable.Repeat(128, 5000).ToArray()), "Octodiff signature has more than 4096 chunks", maxChunks: 4096);
    }

    [Test]
    public void Header_names_longer_than_any_known_name_are_refused_before_reading_them()
    {
        byte[] hostile = [.. "OCTOSIG"u8, 1, 0xff, 0xff, 0xff, 0xff, 0x07, .. "SHA1"u8];
        Refused(hostile, "Octodiff signature's hash algorithm name is 2147483647 bytes long, over the 64 any known name needs");
    }

    [Test]
    public void A_cancelled_token_stops_write_promptly()
    {
        var old = TestData.Random(1 << 16, 37);
        var signature = OctodiffSignature.Read(new MemoryStream(Signature(old, 2048)));
        var @new = new byte[16 << 20];
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.That(() => OctodiffDelta.Write(signature, new MemoryStream(@new), Stream.Null, cancelled.Token), Throws.InstanceOf<OperationCanceledException>());

        // Cancelled while hashing the new file (first pass), then while scanning it (second pass).
        foreach (var cancelAt in new long[] { 1 << 20, @new.Length + (1 << 20) })
        {
            using var cts = new CancellationTokenSource();
            var input = new CountingStream(@new, cancelAt, cts);
            Assert.That(() => OctodiffDelta.Write(signature, input, Stream.Null, cts.Token), Throws.InstanceOf<OperationCanceledException>(), $"cancelled at {cancelAt}");
            Assert.That(input.TotalRead, Is.LessThanOrEqualTo(cancelAt + (2 << 20)), "stopped within a buffer of the cancellation");
        }
    }

    [Test]
    public void A_cancelled_token_stops_a_hostile_build_promptly()
    {
        const int n = 128;
        var zeroRolling = RollingAdler32.Of(new byte[n]).Value;
        var signature = OctodiffSignature.Read(new MemoryStream(RawSignature(Enumerable.Range(0, 100_000).Select(i => (n, zeroRolling, Bogus(i))))));
        var @new = new byte[64 << 20];
        using var cts = new CancellationTokenSource();
        var input = new CountingStream(@new, @new.Length + (4 << 20), cts);
        var stopwatch = Stopwatch.StartNew();
        Assert.That(() => OctodiffDelta.Write(signature, input, Stream.Null, cts.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(input.TotalRead, Is.LessThan(@new.Length + (8 << 20)));
        TestContext.Out.WriteLine($"hostile build cancelled after {stopwatch.ElapsedMilliseconds} ms");
    }

    /// <summary>A stream that cannot seek, to read signatures as a request body arrives.</summary>
    private sealed class OneWayStream(byte[] content) : Stream
    {
        private readonly MemoryStream _inner = new(content);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 1000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A seekable stream that counts every byte read and cancels <paramref name="cts"/> once <paramref name="cancelAt"/> are read.</summary>
    private sealed class CountingStream(byte[] content, long cancelAt, CancellationTokenSource cts) : MemoryStream(content, writable: false)
    {
        public long TotalRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Count(base.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(base.Read(buffer));

        private int Count(int n)
        {
            TotalRead += n;
            if (TotalRead >= cancelAt) cts.Cancel();
            return n;
        }
    }
}
