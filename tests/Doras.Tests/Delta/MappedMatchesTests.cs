using Doras.Delta.Bsdiff;

namespace Doras.Tests.Delta;

/// <summary>
/// The rule of the matches a prediction maps: all when they fit, else the longest (ties to the earlier), in the
/// order offered; what it holds never exceeds its limit, however many matches stream through.
/// </summary>
public class MappedMatchesTests
{
    private static BsdiffMatch Match(long newStart, long length) => new(newStart, 0, length, 0);

    [Test]
    public void Matches_that_fit_are_all_kept_in_order_less_those_without_bytes()
    {
        var matches = new[] { Match(0, 5), Match(5, 0), Match(5, 1), Match(6, 9) };
        Assert.That(MappedMatches.Choose(matches, 3), Is.EqualTo(new[] { matches[0], matches[2], matches[3] }));
    }

    [Test]
    public void Past_the_limit_the_longest_are_kept_ties_to_the_earlier_in_the_order_offered()
    {
        var matches = new[] { Match(0, 3), Match(3, 7), Match(10, 3), Match(13, 1), Match(14, 7), Match(21, 3) };
        Assert.That(MappedMatches.Choose(matches, 4), Is.EqualTo(new[] { matches[0], matches[1], matches[2], matches[4] }));
    }

    [Test]
    public void A_million_matches_stream_through_a_map_of_a_thousand()
    {
        var chosen = new MappedMatches(1000);
        var random = new Random(3);
        for (var i = 0; i < 1_000_000; i++) chosen.Add(Match(i, random.Next(1, 1 << 20)));
        var kept = chosen.ToList();
        Assert.That(kept, Has.Count.EqualTo(1000));
        Assert.That(kept.Select(m => m.NewStart), Is.Ordered.Ascending);
        Assert.That(kept.Min(m => m.Length), Is.GreaterThan((1 << 20) - 5000), "the longest: about the top thousandth of lengths");
    }

    [TestCase(0)]
    [TestCase(2)]
    [TestCase(1_000_000)]
    public void The_matches_expected_change_what_is_allocated_not_what_is_chosen(int expected)
    {
        var random = new Random(4);
        var matches = Enumerable.Range(0, 5000).Select(i => Match(i, random.Next(0, 100))).ToList();
        var chosen = new MappedMatches(300, expected);
        foreach (var match in matches) chosen.Add(match);
        Assert.That(chosen.ToList(), Is.EqualTo(MappedMatches.Choose(matches, 300)));
        Assert.That(MappedMatches.Choose(matches, 300), Is.EqualTo(MappedMatches.Choose(matches.Select(m => m), 300)), "a list or a stream");
    }
}
