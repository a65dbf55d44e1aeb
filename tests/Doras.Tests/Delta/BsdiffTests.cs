using Doras.Delta.Algorithms;
using Doras.Delta.Bsdiff;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

public class BsdiffTests
{
    private static byte[] Records(byte[] old, byte[] @new)
    {
        var output = new MemoryStream();
        BsdiffDelta.Write(old, @new, output);
        return output.ToArray();
    }

    private static async Task<byte[]> ApplyAsync(TempDirectory dir, byte[] old, byte[] records, long max = long.MaxValue)
    {
        var output = new MemoryStream();
        await BsdiffDelta.ApplyAsync(dir.Write($"old-{Guid.NewGuid():N}", old), new MemoryStream(records), output, max);
        return output.ToArray();
    }

    public static IEnumerable<TestCaseData> Pairs()
    {
        var binary = TestData.Binary(1 << 20, 61);
        yield return new TestCaseData(binary, TestData.Edit(binary, 62, edits: 40)).SetName("edited binary");
        yield return new TestCaseData(TestData.Random(100_000, 63), TestData.Random(120_000, 64)).SetName("unrelated random");
        yield return new TestCaseData(Array.Empty<byte>(), TestData.Random(1000, 65)).SetName("from empty");
        yield return new TestCaseData(TestData.Random(1000, 66), Array.Empty<byte>()).SetName("to empty");
        yield return new TestCaseData(new byte[50_000], new byte[60_000]).SetName("zeros");
        yield return new TestCaseData(TestData.Random(3, 67), TestData.Random(3, 67)).SetName("tiny and equal");
    }

    [TestCaseSource(nameof(Pairs))]
    public async Task Round_trips_byte_for_byte(byte[] old, byte[] @new)
    {
        using var dir = new TempDirectory();
        Assert.That(await ApplyAsync(dir, old, Records(old, @new)), Is.EqualTo(@new));
    }

    [Test]
    public async Task Scattered_matches_that_come_back_to_old_bytes_apply_from_a_region_of_a_file()
    {
        // Matches of a few bytes to a few hundred jumping around the old version and often back to bytes read a few
        // matches before (as bsdiff-exe's do), from the region's first byte (where records start) to its last, and one longer
        // than the old file's read cache; the region sits inside a larger file, whose other bytes must never show.
        var random = new Random(73);
        var old = TestData.Binary(700_000, 74);
        var matches = new List<BsdiffMatch>();
        var @new = new MemoryStream();
        var recent = new List<long>();
        for (var k = 0; k < 3000; k++)
        {
            var length = k == 1500 ? 400_000 : random.Next(1, 300);
            long oldStart = k == 0 ? 0 : k == 2999 ? old.Length - length
                : recent.Count > 0 && random.Next(3) > 0 ? Math.Clamp(recent[random.Next(recent.Count)] + random.Next(-200, 200), 0, old.Length - length)
                : random.Next(old.Length - length);
            recent.Add(oldStart);
            if (recent.Count > 20) recent.RemoveAt(0);
            var extra = random.Next(4) == 0 ? random.Next(1, 50) : 0;
            matches.Add(new BsdiffMatch(@new.Length, oldStart, length, extra));
            var bytes = old.AsSpan((int)oldStart, length).ToArray();
            for (var i = 0; i < bytes.Length; i += random.Next(1, 40)) bytes[i] ^= (byte)random.Next(1, 256);
            @new.Write(bytes);
            @new.Write(TestData.Random(extra, k));
        }
        var records = new MemoryStream();
        BsdiffDelta.Write(old, @new.ToArray(), matches, BsdiffDelta.Parts.Interleaved(records));
        using var dir = new TempDirectory();
        var (before, after) = (TestData.Random(1000, 75), TestData.Random(1000, 76));
        using var file = File.OpenHandle(dir.Write("old", [.. before, .. old, .. after]));
        var output = new MemoryStream();
        await BsdiffDelta.ApplyAsync(file, before.Length, old.Length, new MemoryStream(records.ToArray()), output, long.MaxValue);
        Assert.That(output.ToArray(), Is.EqualTo(@new.ToArray()));
    }

    [TestCase(0)]
    [TestCase(100_000)]
    public async Task A_varint_of_more_than_ten_bytes_is_refused_wherever_it_falls_in_the_buffer(int recordsBefore)
    {
        // Records of one byte each, then a diff length of eleven bytes: read from the middle of a buffered block of
        // the control stream, or a byte at a time at its very end, it is the same malformed record.
        using var dir = new TempDirectory();
        var old = TestData.Random(1000, 77);
        var records = new MemoryStream();
        for (var i = 0; i < recordsBefore; i++) BsdiffDelta.WriteRecord(records, 0, 0, 0);
        records.Write([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        var e = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, records.ToArray())))!;
        Assert.That(e.Message, Is.EqualTo("bsdiff delta has a malformed record"));
        var truncated = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, records.ToArray()[..^2])))!;
        Assert.That(truncated.Message, Is.EqualTo("bsdiff delta is truncated inside a record"));
    }

    [TestCaseSource(nameof(Pairs))]
    public async Task A_scan_split_over_parts_round_trips_and_costs_little(byte[] old, byte[] @new)
    {
        using var dir = new TempDirectory();
        var parts = new MemoryStream();
        BsdiffDelta.Write(old, @new, BsdiffDelta.Parts.Interleaved(parts), parallelism: 4, minPartBytes: 1000);
        Assert.That(await ApplyAsync(dir, old, parts.ToArray()), Is.EqualTo(@new));
        Assert.That(parts.Length, Is.LessThanOrEqualTo(Records(old, @new).Length + 4 * 64), "each part boundary costs a few records");
    }

    [TestCaseSource(nameof(Pairs))]
    public void A_scans_parts_depend_on_the_versions_not_on_the_cores(byte[] old, byte[] @new)
    {
        // The tool on a laptop and every server instance must give the same delta: one thread or four, the same parts.
        var one = MatchScan.Find(old, @new, parallelism: 1, minPartBytes: 1000);
        Assert.That(MatchScan.Find(old, @new, parallelism: 4, minPartBytes: 1000), Is.EqualTo(one));
        Assert.That(MatchScan.Find(old, @new, parallelism: 2, minPartBytes: 1000), Is.EqualTo(one));
    }

    [Test]
    public void What_each_reader_of_the_new_version_gives_back_it_never_reads_again()
    {
        // A 20 MiB pair: past the step at which the covers, the scan (in two parts) and the writer give back what is behind
        // them. Each reads the version anew (what was given back faults in again), but none reads again what it gave
        // back itself: here that is overwritten with other bytes as soon as it is given, and every result must be the
        // same as without.
        var old = TestData.Binary(20 << 20, 41);
        var @new = TestData.Edit(old, 42, edits: 400);

        var (poisoned, given) = (@new.ToArray(), new List<(int Start, int End)>());
        var covers = ExactCovers.Find(old, poisoned, doneWith: Poisoning(poisoned, given));
        Assert.That(covers, Is.EqualTo(ExactCovers.Find(old, @new)));
        Assert.That(given, Is.Not.Empty, "the covers gave back what is behind them");
        var coversGave = given.Count;

        // The scan runs after the covers, which give back the same stretches again (left alone here).
        var expected = MatchScan.Find(old, @new, parallelism: 2, minPartBytes: 10 << 20);
        (poisoned, given) = (@new.ToArray(), []);
        var calls = 0;
        var poisoning = Poisoning(poisoned, given);
        var matches = MatchScan.Find(old, poisoned, parallelism: 2, minPartBytes: 10 << 20, doneWith: (start, end) =>
        {
            if (Interlocked.Increment(ref calls) > coversGave) poisoning(start, end);
        });
        Assert.That(matches, Is.EqualTo(expected));
        Assert.That(given.Select(g => g.Start >= 10 << 20).Distinct().Count(), Is.EqualTo(2), "both parts of the scan gave back stretches");

        (poisoned, given) = (@new.ToArray(), []);
        Assert.That(Parts(old, poisoned, expected, Poisoning(poisoned, given)), Is.EqualTo(Parts(old, @new, expected, doneWith: null)));
        Assert.That(given.Sum(g => (long)(g.End - g.Start)), Is.GreaterThan(8L << 20), "the writer gave back what it wrote");
    }

    /// <summary>Records each stretch given back and overwrites it with other bytes.</summary>
    private static DoneWith Poisoning(byte[] bytes, List<(int Start, int End)> given) => (start, end) =>
    {
        lock (given) given.Add((start, end));
        for (var i = start; i < end; i++) bytes[i] ^= 0xFF;
    };

    private static byte[] Parts(byte[] old, byte[] @new, List<BsdiffMatch> matches, DoneWith? doneWith)
    {
        var output = new MemoryStream();
        BsdiffDelta.Write(old, @new, matches, BsdiffDelta.Parts.Interleaved(output), doneWith: doneWith);
        return output.ToArray();
    }

    [TestCaseSource(nameof(Pairs))]
    public async Task Control_diff_and_extra_written_apart_round_trip(byte[] old, byte[] @new)
    {
        using var dir = new TempDirectory();
        var (control, diff, extra) = (new MemoryStream(), new MemoryStream(), new MemoryStream());
        BsdiffDelta.Write(old, @new, new BsdiffDelta.Parts(control, diff, extra), parallelism: 3, minPartBytes: 1000);
        var interleaved = new MemoryStream();
        BsdiffDelta.Write(old, @new, BsdiffDelta.Parts.Interleaved(interleaved), parallelism: 3, minPartBytes: 1000);
        Assert.That(control.Length + diff.Length + extra.Length, Is.EqualTo(interleaved.Length), "the same bytes, apart");
        var output = new MemoryStream();
        var parts = new BsdiffDelta.Parts(new MemoryStream(control.ToArray()), new MemoryStream(diff.ToArray()), new MemoryStream(extra.ToArray()));
        await BsdiffDelta.ApplyAsync(dir.Write("old", old), parts, output, long.MaxValue);
        Assert.That(output.ToArray(), Is.EqualTo(@new));

        if (@new.Length == 0) return;
        var unused = new BsdiffDelta.Parts(new MemoryStream(control.ToArray()), new MemoryStream([.. diff.ToArray(), 1]), new MemoryStream(extra.ToArray()));
        var e = (await Assert.ThrowsAsync<CorruptDeltaException>(() => BsdiffDelta.ApplyAsync(dir["old"], unused, new MemoryStream(), long.MaxValue)))!;
        Assert.That(e.Message, Is.EqualTo("bsdiff delta has diff or extra bytes no record uses"));
    }

    [Test]
    public async Task Agreement_of_the_coders_run_length_inside_a_match_leaves_the_diff_part_as_run_lengths()
    {
        // One match with changed bytes 300 apart: zstd's parts keep the 299 agreeing bytes between them as zeros in
        // diff, LZMA2's (256) end the differing run there. The device reads either.
        var old = new byte[20_000];
        new Random(7).NextBytes(old);
        var @new = (byte[])old.Clone();
        @new[5_000] ^= 0x55;
        @new[5_300] ^= 0x55;
        var matches = new List<BsdiffMatch> { new(0, 0, @new.Length, 0) };
        using var dir = new TempDirectory();
        var oldPath = dir.Write("old", old);
        foreach (var (run, diffBytes) in new[] { (BsdiffDelta.ZstdUnchangedRun, 301), (BsdiffDelta.LzmaUnchangedRun, 2) })
        {
            var (control, diff, extra) = (new MemoryStream(), new MemoryStream(), new MemoryStream());
            BsdiffDelta.Write(old, @new, matches, new BsdiffDelta.Parts(control, diff, extra, run));
            Assert.That(diff.Length, Is.EqualTo(diffBytes), $"runs of {run}");
            Assert.That(diff.ToArray().Count(b => b != 0), Is.EqualTo(2));
            var output = new MemoryStream();
            var parts = new BsdiffDelta.Parts(new MemoryStream(control.ToArray()), new MemoryStream(diff.ToArray()), new MemoryStream(extra.ToArray()));
            await BsdiffDelta.ApplyAsync(oldPath, parts, output, long.MaxValue);
            Assert.That(output.ToArray(), Is.EqualTo(@new));
        }
    }

    [Test]
    public async Task Large_control_and_extra_parts_wait_in_a_file_beside_the_output_and_truncation_is_refused()
    {
        using var dir = new TempDirectory();
        var old = TestData.Random(100_000, 73);
        var @new = TestData.Random(9 << 20, 74); // nothing in common: 9 MiB of extra bytes, kept while the diff part streams
        var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
        var newInput = new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length);
        IDeltaAlgorithm bsdiff = new BsdiffAlgorithm(level: 1);
        var delta = new MemoryStream();
        await bsdiff.EncodeAsync(oldInput, newInput, delta);
        Directory.CreateDirectory(dir["staging"]);
        var target = new DeltaTarget(newInput.Digest, newInput.Size);
        await bsdiff.ApplyToFileAsync(oldInput, new MemoryStream(delta.ToArray()), dir["staging/out"], target);
        Assert.That(File.ReadAllBytes(dir["staging/out"]), Is.EqualTo(@new));
        Assert.That(Directory.GetFiles(dir["staging"]), Is.EqualTo(new[] { dir["staging/out"] }), "the kept parts are removed");

        var truncated = delta.ToArray()[..(delta.ToArray().Length / 2)];
        var e = (await Assert.ThrowsAsync<CorruptDeltaException>(() => bsdiff.ApplyToFileAsync(oldInput, new MemoryStream(truncated), dir["staging/out2"], target)))!;
        Assert.That(e.Message, Is.EqualTo("bsdiff delta is truncated in its control or extra part"));
    }

    /// <summary>
    /// The control and extra parts are compressed once whole, their lengths pledged, so zstd sizes its level-19 tables to
    /// each part rather than to the new version (three encoders sized to typescript's 9 MB took 173 MiB of its build).
    /// </summary>
    [Test]
    public async Task Control_and_extra_frames_declare_their_length()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(300_000, 75);
        var @new = TestData.Edit(old, 76, edits: 30).Concat(TestData.Random(20_000, 77)).ToArray();
        var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
        var newInput = new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length);
        var delta = new MemoryStream();
        await new BsdiffAlgorithm().EncodeAsync(oldInput, newInput, delta);
        var bytes = delta.ToArray();
        var stream = new MemoryStream(bytes);
        var (_, unconsumed) = await DeltaHeader.ReadAsync(stream, CancellationToken.None);
        var p = (int)stream.Position - unconsumed.Length;
        Assert.That(bytes[p++], Is.EqualTo(2), "the split layout");
        var lengths = new MemoryStream(bytes) { Position = p };
        var (controlLength, extraLength) = ((int)Varint.ReadLength(lengths, "test"), (int)Varint.ReadLength(lengths, "test"));
        p = (int)lengths.Position;
        foreach (var frame in new[] { bytes[p..(p + controlLength)], bytes[(p + controlLength)..(p + controlLength + extraLength)] })
        {
            await using var decoder = new Doras.Delta.Zstd.ZstdDecoderStream(new MemoryStream(frame), new Doras.Delta.Zstd.ZstdDecompressionOptions());
            var raw = new MemoryStream();
            await decoder.CopyToAsync(raw);
            Assert.That(raw.Length, Is.GreaterThan(0));
            Assert.That(ZstdFrameHeader.ContentSize(frame), Is.EqualTo(raw.Length));
        }
        await new BsdiffAlgorithm().ApplyToFileAsync(oldInput, new MemoryStream(bytes), dir["out"], new DeltaTarget(newInput.Digest, newInput.Size));
        Assert.That(File.ReadAllBytes(dir["out"]), Is.EqualTo(@new));
    }

    [Test]
    public async Task A_delta_of_the_earlier_single_frame_layout_still_applies()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(300_000, 71);
        var @new = TestData.Edit(old, 72, edits: 20);
        var delta = new MemoryStream();
        delta.Write(new DeltaHeader(Digest.Compute(old), old.Length, Digest.Compute(@new), @new.Length, "bsdiff").ToBytes());
        await using (var frame = new Doras.Delta.Zstd.ZstdEncoderStream(delta, new Doras.Delta.Zstd.ZstdCompressionOptions { Level = 3 }, leaveOpen: true))
            BsdiffDelta.Write(old, @new, frame);
        var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
        await new BsdiffAlgorithm().ApplyToFileAsync(oldInput, new MemoryStream(delta.ToArray()), dir["out"], new DeltaTarget(Digest.Compute(@new), @new.Length));
        Assert.That(File.ReadAllBytes(dir["out"]), Is.EqualTo(@new));
    }

    [Test]
    public void The_suffix_array_is_sorted()
    {
        var data = TestData.Binary(50_000, 68);
        var sa = SuffixArray.Build(data, allowNative: false);
        Assert.That(SuffixArray.UsesNative, Is.True, "libdivsufsort3 is installed (as .ci/run does)");
        Assert.That(SuffixArray.Build(data), Is.EqualTo(sa), "libdivsufsort gives the same array");
        Assert.That(sa, Has.Length.EqualTo(data.Length + 1));
        Assert.That(sa.Order(), Is.EqualTo(Enumerable.Range(0, data.Length + 1)), "a permutation of all suffixes");
        for (var i = 1; i < sa.Length; i++)
            Assert.That(data.AsSpan(sa[i - 1]).SequenceCompareTo(data.AsSpan(sa[i])), Is.LessThan(0), $"at {i}");
    }

    [Test]
    public async Task The_algorithm_beats_plain_compression_on_an_edited_binary_and_applies_in_place()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(2 << 20, 69);
        var @new = TestData.Edit(old, 70, edits: 40);
        var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
        var newInput = new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length);
        IDeltaAlgorithm bsdiff = new BsdiffAlgorithm(level: 19);
        var delta = new MemoryStream();
        await bsdiff.EncodeAsync(oldInput, newInput, delta);
        await bsdiff.ApplyToFileAsync(oldInput, new MemoryStream(delta.ToArray()), dir["out"], new DeltaTarget(newInput.Digest, newInput.Size));
        Assert.That(File.ReadAllBytes(dir["out"]), Is.EqualTo(@new));
        Assert.That(delta.Length, Is.LessThan(ZstdTests.Compress(@new).Length / 20), $"delta {delta.Length} bytes");
    }

    [Test]
    public async Task Versions_over_the_configured_limit_are_refused_so_auto_picks_another()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(100_000, 73);
        var input = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
        IDeltaAlgorithm bsdiff = DeltaAlgorithms.Default(zstdLevel: 3, bsdiffMaxInputBytes: 50_000).Find("bsdiff")!;
        var error = (await Assert.ThrowsAsync<global::Doras.Delta.Artifacts.IncompatibleArtifactException>(() => bsdiff.EncodeAsync(input, input, Stream.Null)))!;
        Assert.That(error.Message, Is.EqualTo("bsdiff is limited to versions of 50000 bytes here"));
    }

    [Test]
    public async Task Truncated_hostile_and_oversized_record_streams_are_refused()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(100_000, 71);
        var records = Records(old, TestData.Edit(old, 72));
        foreach (var cut in new[] { 1, 2, 5, 30, records.Length - 1 })
            await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, records[..cut]), $"cut at {cut}");
        byte[] Record(long diff, long extra, long adjust)
        {
            var bytes = new MemoryStream();
            BsdiffDelta.WriteRecord(bytes, diff, extra, adjust);
            return bytes.ToArray();
        }
        var outside = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, [.. Record(200_000, 0, 0), .. new byte[200_000]])))!;
        Assert.That(outside.Message, Is.EqualTo("bsdiff delta has a record (200000, 0) outside the old file of 100000 bytes at 0"));
        var backwards = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, Record(0, 0, -5))))!;
        Assert.That(backwards.Message, Is.EqualTo("bsdiff delta moves to -5, outside the old file of 100000 bytes"));
        var emptyRun = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, [.. Record(10, 0, 0), 0, 0])))!;
        Assert.That(emptyRun.Message, Is.EqualTo("bsdiff delta has a malformed run (0, 0) in a match of 10 bytes"), "a run that covers nothing would loop forever");
        var longRun = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, [.. Record(10, 0, 0), 8, 3, 1, 2, 3])))!;
        Assert.That(longRun.Message, Is.EqualTo("bsdiff delta has a malformed run (8, 3) in a match of 10 bytes"));
        // Two run lengths whose sum wraps past long.MaxValue to a negative number: it must not pass as a short run
        // (it would move the position back and let later runs copy old bytes the output limit never counted).
        var wrapping = new MemoryStream();
        wrapping.Write(Record(10, 0, 0));
        foreach (var length in new[] { (ulong)long.MaxValue, (1UL << 63) - 4 }) // LEB128, as the record stream codes lengths
        {
            var rest = length;
            for (; rest >= 0x80; rest >>= 7) wrapping.WriteByte((byte)(rest | 0x80));
            wrapping.WriteByte((byte)rest);
        }
        var wrapped = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, wrapping.ToArray())))!;
        Assert.That(wrapped.Message, Is.EqualTo($"bsdiff delta has a malformed run ({long.MaxValue}, {long.MaxValue - 3}) in a match of 10 bytes"));
        var bomb = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir, old, Record(0, long.MaxValue / 2, 0), max: 1 << 20)))!;
        Assert.That(bomb.Message, Is.EqualTo($"bsdiff delta produces more than the limit of {1 << 20} bytes"));
    }
}
