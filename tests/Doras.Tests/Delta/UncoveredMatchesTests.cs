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
        // 2,000 single bytes changed: as many stretches, with shorter margins.
        var spread = (byte[])oldText.Clone();
        for (var at = 100; at < spread.Length; at += 150) spread[at] = (byte)'#';
        yield return new TestCaseData(oldText, spread, 0).SetName("Text with 2,000 bytes changed apart");
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
        var matches = UncoveredMatches.Find(old, @new, covers, CancellationToken.None);
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
                if (length > 8) found++;
            }
            next = Math.Max(next, cover.NewEnd);
        }
        Assert.That(checkedPositions, Is.GreaterThan(500));
        Assert.That(found, Is.GreaterThanOrEqualTo(longMatches), "matches long enough to start a record");
    }

    [Test]
    public void A_match_running_past_the_margin_into_the_covers_is_found_whole()
    {
        // The old version holds 2,000 bytes twice; the new one changes the ten bytes before the second copy, the last of
        // them into the byte before the first copy. From there a match runs 2,001 bytes at the first copy, far past the
        // margin into the second copy's cover (which stays at its own alignment, as the rest of the versions agree).
        var old = TestData.Binary(200_000, 87);
        old.AsSpan(50_000, 2000).CopyTo(old.AsSpan(150_000));
        (old[49_999], old[149_999]) = (1, 2);
        var @new = (byte[])old.Clone();
        for (var i = 149_990; i < 149_999; i++) @new[i] ^= 0x5A;
        @new[149_999] = 1;
        var covers = ExactCovers.Find(old, @new);
        Assert.That(covers.Any(c => c.NewStart <= 149_999 && c.NewEnd > 149_999), Is.False, "the changed byte is outside the covers");
        var matches = UncoveredMatches.Find(old, @new, covers, CancellationToken.None);
        var length = matches.Longest(@new.AsSpan(149_999), 149_999, out var position);
        Assert.That(position, Is.EqualTo(49_999));
        Assert.That(length, Is.EqualTo(new SuffixSearch(old).Longest(@new.AsSpan(149_999), out _)).And.GreaterThanOrEqualTo(2001));
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
