using Doras.Delta.Bsdiff;

namespace Doras.Tests.Delta;

/// <summary>
/// The short-match shortcut against the suffix search it stands in for: whenever it answers, its length is the
/// search's, and its position holds the match's first bytes (up to two: the scan uses no position of a match this short).
/// </summary>
public class ShortMatchesTests
{
    [Test]
    public void Its_answers_are_the_suffix_searchs_lengths()
    {
        var old = TestData.Binary(ShortMatches.FromBytes, 41);
        var search = new SuffixSearch(old);
        var shortcut = new ShortMatches(old);
        var random = new Random(42);
        var answered = new int[4];
        for (var i = 0; i < 200_000; i++)
        {
            // Random bytes, and pieces of the old version with one of their first five bytes changed: lengths 0 to 4+.
            var target = new byte[16];
            if (i % 2 == 0) random.NextBytes(target);
            else
            {
                old.AsSpan(random.Next(old.Length - 16), 16).CopyTo(target);
                target[random.Next(5)] = (byte)random.Next(256);
            }
            if (!shortcut.TryLongest(target, out var length, out var position)) continue;
            Assert.That(length, Is.EqualTo(search.Longest(target, out _)), $"target {Convert.ToHexString(target)}");
            Assert.That(old.AsSpan(position, Math.Min(length, 2)).SequenceEqual(target.AsSpan(0, Math.Min(length, 2))), Is.True);
            answered[length]++;
        }
        // Every length it can give here came up, three bytes (the four-byte bitmap's answer) included; none is 0, as
        // every byte value occurs in the old version.
        Assert.That(answered[1..], Has.All.GreaterThan(100), string.Join(", ", answered));
    }
}

/// <summary>The two ways to a two-byte bucket (a table from 64 KiB, binary searches below) give the same suffixes, so the same match.</summary>
public class SuffixBucketTests
{
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    public void Binary_searches_find_the_tables_bucket_for_every_pair(int kind)
    {
        var random = new Random(43 + kind);
        var data = new byte[5_000];
        // Random bytes; a small alphabet (long shared prefixes); a run of zeros ending the data (one-byte suffix ties).
        if (kind == 0) random.NextBytes(data);
        else if (kind == 1) for (var i = 0; i < data.Length; i++) data[i] = (byte)('a' + random.Next(3));
        else { random.NextBytes(data.AsSpan(0, 2_000)); }
        var suffixes = Doras.Delta.Bsdiff.SuffixArray.Build(data);
        var table = SuffixSearch.PrefixBuckets(suffixes, data);
        for (var k = 0; k < 65536; k++)
        {
            var (start, count) = SuffixSearch.Bucket(suffixes, data, [(byte)(k >> 8), (byte)k]);
            Assert.That(count, Is.EqualTo(table[2 * k + 1]), $"pair {k:X4}");
            if (count > 0) Assert.That(start, Is.EqualTo(table[2 * k]), $"pair {k:X4}");
        }
    }
}
