using Doras.Delta.Bsdiff;

namespace Doras.Tests.Delta;

public class ExactCoversTests
{
    /// <summary>Random blocks with runs of one byte between them, as in a file system image.</summary>
    private static byte[] Image(int size, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[size];
        for (var at = 0; at < size;)
        {
            var block = Math.Min(size - at, random.Next(1000, 20_000));
            if (random.Next(3) == 0) bytes.AsSpan(at, block).Fill((byte)random.Next(3) switch { 0 => 0x00, 1 => 0xff, _ => 0x20 });
            else random.NextBytes(bytes.AsSpan(at, block));
            at += block;
        }
        return bytes;
    }

    private static void AssertExactOrderedDisjoint(byte[] old, byte[] @new, List<ExactCover> covers)
    {
        var end = 0;
        foreach (var cover in covers)
        {
            Assert.That(cover.NewStart, Is.GreaterThanOrEqualTo(end), "in the new version's order, not overlapping");
            Assert.That(cover.Length, Is.GreaterThanOrEqualTo(ExactCovers.MinLength));
            Assert.That(@new.AsSpan(cover.NewStart, cover.Length).SequenceEqual(old.AsSpan(cover.OldStart, cover.Length)), Is.True, $"exact at {cover}");
            end = cover.NewEnd;
        }
    }

    [TestCase(61)]
    [TestCase(62)]
    [TestCase(63)]
    public void Covers_are_exact_ordered_disjoint_and_hold_an_edited_version(int seed)
    {
        var old = Image(2 << 20, seed);
        var @new = TestData.Edit(old, seed + 100, edits: 60);
        var covers = ExactCovers.Find(old, @new);
        AssertExactOrderedDisjoint(old, @new, covers);
        // 60 edits of at most 64 bytes each, and the bytes near them that no window of 32 agreeing bytes reaches.
        Assert.That(ExactCovers.CoveredBytes(covers), Is.GreaterThan(@new.Length - 60 * (64 + 2 * ExactCovers.Window + 2 * ExactCovers.AnchorSpacing)));
    }

    [Test]
    public void Moved_blocks_are_covered_where_they_went()
    {
        var old = TestData.Random(1 << 20, 64);
        var @new = old.AsSpan(600_000).ToArray().Concat(old.AsSpan(0, 600_000).ToArray()).ToArray();
        var covers = ExactCovers.Find(old, @new);
        AssertExactOrderedDisjoint(old, @new, covers);
        Assert.That(ExactCovers.CoveredBytes(covers), Is.EqualTo(@new.Length), "two covers, every byte");
        Assert.That(covers, Has.Count.EqualTo(2));
    }

    [Test]
    public void Runs_of_one_byte_are_covered_whatever_their_window_hash()
    {
        // Runs' windows all hash alike, so content-defined anchors would take every one of them or none.
        var old = new byte[300_000];
        old.AsSpan(100_000, 100_000).Fill(0xff);
        old.AsSpan(200_000).Fill(0x20);
        var @new = old.Concat(new byte[50_000]).ToArray();
        var covers = ExactCovers.Find(old, @new);
        AssertExactOrderedDisjoint(old, @new, covers);
        Assert.That(ExactCovers.CoveredBytes(covers), Is.EqualTo(@new.Length));
    }

    [Test]
    public void A_run_goes_to_the_old_versions_longest_run_of_its_byte_not_its_first()
    {
        // The first zero run of the old version is 64 bytes, a later one 1 MiB: the new 1 MiB run is one cover, not
        // sixteen thousand covers of the first run.
        var old = TestData.Random(3 << 20, 67);
        old.AsSpan(1000, 64).Clear();
        old.AsSpan(1 << 20, 1 << 20).Clear();
        var @new = TestData.Random(100_000, 68).Concat(new byte[1 << 20]).Concat(TestData.Random(100_000, 69)).ToArray();
        var covers = ExactCovers.Find(old, @new);
        AssertExactOrderedDisjoint(old, @new, covers);
        Assert.That(covers, Has.Count.EqualTo(1));
        Assert.That(covers[0], Is.EqualTo(new ExactCover(100_000, 1 << 20, 1 << 20)));
    }

    [Test]
    public void Unrelated_versions_have_no_covers() =>
        Assert.That(ExactCovers.Find(TestData.Random(1 << 20, 65), TestData.Random(1 << 20, 66)), Is.Empty);

    [Test]
    public async Task A_version_past_the_remainder_size_is_scanned_through_its_covers_and_round_trips()
    {
        // Past OldIndex.RemainderFromBytes only what the covers leave is suffix-sorted; the delta must still reproduce
        // the new version and stay small: edits, a block moved, a block copied from elsewhere, longer runs.
        using var dir = new TempDirectory();
        var old = Image(40 << 20, 67);
        var edited = TestData.Edit(old, 68, edits: 200);
        var @new = edited.AsSpan(1 << 20).ToArray().Concat(old.AsSpan(5 << 20, 100_000).ToArray()).Concat(edited.AsSpan(0, 1 << 20).ToArray())
            .Concat(new byte[300_000]).ToArray();
        var records = new MemoryStream();
        BsdiffDelta.Write(old, @new, BsdiffDelta.Parts.Interleaved(records), parallelism: 2);
        var output = new MemoryStream();
        await BsdiffDelta.ApplyAsync(dir.Write("old", old), new MemoryStream(records.ToArray()), output, long.MaxValue);
        Assert.That(output.ToArray().AsSpan().SequenceEqual(@new), Is.True, "byte for byte");
        // What cannot be copied is 200 edits of at most 64 new bytes; the record stream stays near that (uncompressed).
        Assert.That(records.Length, Is.LessThan(200 * 64 * 4));
    }

    [Test]
    public async Task A_small_version_with_16_KiB_outside_its_covers_is_scanned_through_them_and_round_trips()
    {
        // Under OldIndex.RemainderFromBytes, 16 KiB of new bytes outside the covers (RemainderFromUncoveredBytes) is
        // enough for the remainder index: 64 KiB of new data, a block moved, edits. Every byte must come back.
        using var dir = new TempDirectory();
        var old = Image(4 << 20, 69);
        var edited = TestData.Edit(old, 70, edits: 50);
        var @new = edited.AsSpan(0, 1 << 20).ToArray().Concat(TestData.Random(64 << 10, 71)).Concat(edited.AsSpan(2 << 20).ToArray())
            .Concat(edited.AsSpan(1 << 20, 1 << 20).ToArray()).ToArray();
        var records = new MemoryStream();
        BsdiffDelta.Write(old, @new, BsdiffDelta.Parts.Interleaved(records), parallelism: 1);
        var output = new MemoryStream();
        await BsdiffDelta.ApplyAsync(dir.Write("old", old), new MemoryStream(records.ToArray()), output, long.MaxValue);
        Assert.That(output.ToArray().AsSpan().SequenceEqual(@new), Is.True, "byte for byte");
        // The 64 KiB travel as they are; the rest is 50 edits of at most 64 bytes and the moves.
        Assert.That(records.Length, Is.LessThan((64 << 10) + 50 * 64 * 4));
    }
}
