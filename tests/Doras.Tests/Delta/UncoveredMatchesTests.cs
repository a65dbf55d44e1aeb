using Doras.Delta.Bsdiff;

namespace Doras.Tests.Delta;

/// <summary>
/// The suffix automaton's answers for the new bytes outside the covers against the suffix array's search they stand
/// in for: the same lengths, at an old position that holds the match.
/// </summary>
public class UncoveredMatchesTests
{
    private static IEnumerable<TestCaseData> Versions()
    {
        // Text of a few words (many equally long matches), and binary.
        var words = "function return const value the of and if else { } ( ) ; \n".Split(' ');
        var random = new Random(81);
        var text = new System.Text.StringBuilder();
        while (text.Length < 300_000) text.Append(words[random.Next(words.Length)]).Append(random.Next(4) == 0 ? "\n" : " ");
        var oldText = System.Text.Encoding.ASCII.GetBytes(text.ToString());
        yield return new TestCaseData(oldText, TestData.Edit(oldText, 82, edits: 40), 30).SetName("Text of repeated words");
        // 900 single bytes changed into others of the text, so whole pieces (stretch and margin) recur in the old version.
        var spread = (byte[])oldText.Clone();
        for (var at = 100; at < spread.Length; at += 330) spread[at] = spread[at] == (byte)'e' ? (byte)'o' : (byte)'e';
        yield return new TestCaseData(oldText, spread, 0).SetName("Text with 900 bytes changed apart");
        var binary = TestData.Binary(300_000, 83);
        yield return new TestCaseData(binary, TestData.Edit(binary, 84, edits: 40), 1).SetName("Binary");
        // New bytes found nowhere, and a stretch at the very end of the new version.
        yield return new TestCaseData(binary, TestData.Edit(binary, 85, edits: 10).Concat(TestData.Random(3000, 86)).ToArray(), 0).SetName("Binary with new bytes at the end");
    }

    [TestCaseSource(nameof(Versions))]
    public void Its_answers_are_the_suffix_searchs_lengths(byte[] old, byte[] @new, int longMatches)
    {
        var covers = ExactCovers.Find(old, @new);
        Assert.That(covers, Is.Not.Empty);
        var matches = UncoveredMatches.TryFind(old, @new, covers, CancellationToken.None)!;
        var search = new SuffixSearch(old);
        var (checkedPositions, next, found) = (0, 0, 0);
        foreach (var cover in covers.Append(new ExactCover(@new.Length, 0, 0)))
        {
            for (var p = next; p < cover.NewStart; p++, checkedPositions++)
            {
                var target = @new.AsSpan(p);
                var length = matches.Longest(target, p, out var position);
                Assert.That(length, Is.EqualTo(search.Longest(target, out _)), $"length at new position {p}");
                Assert.That(old.AsSpan(position, length).SequenceEqual(target[..length]), Is.True, $"the match at new position {p}");
                // A parallel scan's part ends the target early: the answer is cut there, as the search's.
                var part = target[..Math.Min(target.Length, 7)];
                Assert.That(matches.Longest(part, p, out _), Is.EqualTo(search.Longest(part, out _)), $"length at new position {p} in a part ending 7 bytes on");
                if (length > 8) found++;
            }
            next = Math.Max(next, cover.NewEnd);
        }
        Assert.That(checkedPositions, Is.GreaterThan(500));
        Assert.That(found, Is.GreaterThanOrEqualTo(longMatches), "matches long enough to start a record");
    }

    [Test]
    public void A_match_running_past_the_margin_into_the_covers_is_found_up_to_the_searchs_limit()
    {
        // The old version holds 6,000 bytes twice; the new one changes the ten bytes before the second copy, the last of
        // them into the byte before the first copy. From there a match runs 6,001 bytes at the first copy, far past the
        // margin into the second copy's cover (which stays at its own alignment, as the rest of the versions agree),
        // and past the most a search compares (SuffixSearch.MaxProbe).
        var old = TestData.Binary(200_000, 87);
        old.AsSpan(50_000, 6000).CopyTo(old.AsSpan(150_000));
        (old[49_999], old[149_999]) = (1, 2);
        var @new = (byte[])old.Clone();
        for (var i = 149_990; i < 149_999; i++) @new[i] ^= 0x5A;
        @new[149_999] = 1;
        var covers = ExactCovers.Find(old, @new);
        Assert.That(covers.Any(c => c.NewStart <= 149_999 && c.NewEnd > 149_999), Is.False, "the changed byte is outside the covers");
        var matches = UncoveredMatches.TryFind(old, @new, covers, CancellationToken.None)!;
        var length = matches.Longest(@new.AsSpan(149_999), 149_999, out var position);
        Assert.That((length, position), Is.EqualTo((SuffixSearch.MaxProbe, 49_999)));
        Assert.That(length, Is.EqualTo(new SuffixSearch(old).Longest(@new.AsSpan(149_999), out _)));
    }

    [Test]
    public void Of_two_equally_long_matches_the_earlier_is_taken()
    {
        // The old version holds 30 bytes twice; the new version is them and 10 bytes found nowhere, all uncovered.
        var old = TestData.Random(20_000, 90);
        var twice = TestData.Random(30, 91);
        twice.CopyTo(old, 1_000);
        twice.CopyTo(old, 15_000);
        var @new = twice.Concat(TestData.Random(10, 92)).ToArray();
        var matches = UncoveredMatches.TryFind(old, @new, [], CancellationToken.None)!;
        Assert.That((matches.Longest(@new, 0, out var position), position), Is.EqualTo((30, 1_000)));
    }

    [Test]
    public void A_match_inside_one_long_stretch_is_cut_at_the_searchs_limit()
    {
        // 6,000 bytes of the old version, uncovered (no covers given): the automaton itself finds all of them.
        var old = TestData.Random(20_000, 94);
        var @new = old[5_000..11_000];
        var matches = UncoveredMatches.TryFind(old, @new, [], CancellationToken.None)!;
        Assert.That((matches.Longest(@new, 0, out var position), position), Is.EqualTo((SuffixSearch.MaxProbe, 5_000)));
        Assert.That(matches.Longest(@new.AsSpan(3_000), 3_000, out position), Is.EqualTo(3_000));
    }

    [Test]
    public void Past_its_most_stretches_it_declines_and_the_old_version_is_sorted()
    {
        var old = TestData.Random(100_000, 93);
        // A byte before each cover, and the rest of the version after the last: one stretch more than covers.
        var covers = Enumerable.Range(0, UncoveredMatches.MaxStretches).Select(i => new ExactCover(i * 80 + 1, i * 80 + 1, 79)).ToList();
        Assert.That(UncoveredMatches.TryFind(old, old, covers, CancellationToken.None), Is.Null);
        Assert.That(UncoveredMatches.TryFind(old, old, covers[..^1], CancellationToken.None), Is.Not.Null);
    }

    [Test]
    public void Bsdiff_deltas_through_it_round_trip()
    {
        var old = TestData.Binary(1 << 20, 88);
        var @new = TestData.Edit(old, 89, edits: 30);
        var records = new MemoryStream();
        BsdiffDelta.Write(old, @new, BsdiffDelta.Parts.Interleaved(records), parallelism: 1);
        var output = new MemoryStream();
        using var dir = new TempDirectory();
        BsdiffDelta.ApplyAsync(dir.Write("old", old), new MemoryStream(records.ToArray()), output, long.MaxValue).GetAwaiter().GetResult();
        Assert.That(output.ToArray().AsSpan().SequenceEqual(@new), Is.True, "byte for byte");
    }
}
