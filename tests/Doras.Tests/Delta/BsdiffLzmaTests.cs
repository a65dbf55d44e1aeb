using Doras.Delta.Algorithms;
using Doras.Delta.Bsdiff;
using Doras.Delta.Lzma;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>
/// bsdiff-lzma: bsdiff's parts as raw LZMA2 streams (checked with the xz CLI as an independent decoder), and its
/// parser against hostile deltas: each is refused with a clear error before anything is produced from it.
/// </summary>
public class BsdiffLzmaTests
{
    private static readonly BsdiffLzmaAlgorithm Algorithm = new();

    private sealed record Pair(DeltaInput Old, DeltaInput New, byte[] NewBytes);

    private static Pair MakePair(TempDirectory dir, int size = 1 << 20, int seed = 81)
    {
        var old = TestData.Binary(size, seed);
        var @new = TestData.Edit(old, seed + 1, edits: 40);
        return new Pair(new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length),
            new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length), @new);
    }

    private static byte[] Encode(Pair pair)
    {
        var delta = new MemoryStream();
        Algorithm.EncodeAsync(pair.Old, pair.New, delta).GetAwaiter().GetResult();
        return delta.ToArray();
    }

    private static async Task<byte[]> ApplyAsync(TempDirectory dir, Pair pair, byte[] delta)
    {
        var output = dir[$"out-{Guid.NewGuid():N}"];
        await Algorithm.ApplyToFileAsync(pair.Old, new MemoryStream(delta), output, new DeltaTarget(pair.New.Digest, pair.New.Size));
        return File.ReadAllBytes(output);
    }

    /// <summary>The delta's body after its header: format, dictionary logs, part lengths, parts.</summary>
    public sealed record Body(byte[] Header, byte Format, byte[] DictionaryLogs, byte[] Control, byte[] Extra, byte[] Diff)
    {
        public static Body Parse(byte[] delta)
        {
            var stream = new MemoryStream(delta);
            var (_, unconsumed) = DeltaHeader.ReadAsync(stream, CancellationToken.None).GetAwaiter().GetResult();
            var headerLength = (int)stream.Position - unconsumed.Length;
            var p = headerLength;
            var format = delta[p++];
            var logs = delta[p..(p + 3)];
            p += 3;
            var controlLength = (int)ReadVarint(delta, ref p);
            var extraLength = (int)ReadVarint(delta, ref p);
            return new Body(delta[..headerLength], format, logs, delta[p..(p + controlLength)], delta[(p + controlLength)..(p + controlLength + extraLength)], delta[(p + controlLength + extraLength)..]);
        }

        public byte[] ToBytes(long? controlLength = null, long? extraLength = null)
        {
            var body = new MemoryStream();
            body.Write(Header);
            body.WriteByte(Format);
            body.Write(DictionaryLogs);
            WriteVarint(body, controlLength ?? Control.Length);
            WriteVarint(body, extraLength ?? Extra.Length);
            body.Write(Control);
            body.Write(Extra);
            body.Write(Diff);
            return body.ToArray();
        }
    }

    private static ulong ReadVarint(byte[] bytes, ref int p)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[p++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
    }

    private static void WriteVarint(Stream output, long value)
    {
        for (var v = (ulong)value; ; v >>= 7)
        {
            if (v < 0x80) { output.WriteByte((byte)v); return; }
            output.WriteByte((byte)(v | 0x80));
        }
    }

    /// <summary>Raw LZMA2 by the xz CLI, an implementation independent of ours.</summary>
    private static byte[] Xz(TempDirectory dir, string mode, byte[] input, int dictionaryLog)
    {
        var path = dir.Write($"xz-{Guid.NewGuid():N}", input);
        var output = path + ".out";
        ExternalTool.RunOk("sh", "-c", $"xz {mode} -c --format=raw --lzma2=preset=6,dict={1 << dictionaryLog} '{path}' > '{output}'");
        return File.ReadAllBytes(output);
    }

    [Test]
    public async Task A_version_whose_file_changed_after_it_was_hashed_is_refused()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir, size: 64 << 10);
        File.AppendAllText(pair.New.Path, "appended after hashing");
        var grown = await Assert.ThrowsAsync<IOException>(() => Algorithm.EncodeAsync(pair.Old, pair.New, new MemoryStream()));
        Assert.That(grown!.Message, Is.EqualTo($"{pair.New.Path} changed while the delta was built: it was hashed at {pair.New.Size} bytes, now holds {pair.New.Size + 22}"));
        File.WriteAllBytes(pair.Old.Path, new byte[10]);
        var shrunk = await Assert.ThrowsAsync<IOException>(() => Algorithm.EncodeAsync(pair.Old, pair.New, new MemoryStream()));
        Assert.That(shrunk!.Message, Is.EqualTo($"{pair.Old.Path} changed while the delta was built: it was hashed at {pair.Old.Size} bytes, now holds 10"));
    }

    [Test]
    public async Task Round_trips_and_its_parts_are_raw_lzma2_that_xz_decodes_to_bsdiff_parts()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var delta = Encode(pair);
        Assert.That(await ApplyAsync(dir, pair, delta), Is.EqualTo(pair.NewBytes));

        // One scan part at this size (under 4 MiB): the parts are exactly bsdiff's control, extra and diff.
        var (control, diff, extra) = (new MemoryStream(), new MemoryStream(), new MemoryStream());
        BsdiffDelta.Write(File.ReadAllBytes(pair.Old.Path), pair.NewBytes, new BsdiffDelta.Parts(control, diff, extra, BsdiffDelta.LzmaUnchangedRun), parallelism: 1);
        var body = Body.Parse(delta);
        Assert.That(body.Format, Is.EqualTo(1));
        Assert.That(Xz(dir, "-d", body.Control, body.DictionaryLogs[0]), Is.EqualTo(control.ToArray()));
        Assert.That(Xz(dir, "-d", body.Extra, body.DictionaryLogs[1]), Is.EqualTo(extra.ToArray()));
        Assert.That(Xz(dir, "-d", body.Diff, body.DictionaryLogs[2]), Is.EqualTo(diff.ToArray()));
        Assert.That(body.DictionaryLogs, Is.All.InRange(12, 22), "deltas are built with dictionaries of at most 4 MiB");
    }

    [Test]
    public async Task Control_and_diff_are_coded_with_pb_0_and_extra_with_xzs_pb_2()
    {
        using var dir = new TempDirectory();
        var old = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 4000).Select(i => $"line {i}: the quick brown fox jumps over the lazy dog\n")));
        var edited = (byte[])old.Clone();
        for (var i = 0; i < edited.Length; i += 60) edited[i]++; // differences inside the matches
        // 40 insertions: as many records, so that control compresses too.
        var @new = Enumerable.Range(0, 40).SelectMany(k => edited[(k * 5_000)..((k + 1) * 5_000)]
            .Concat(System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 12).Select(i => $"added {k}.{i}: nothing in the old version reads so\n"))))).ToArray();
        var pair = new Pair(new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length),
            new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length), @new);
        var delta = Encode(pair);
        Assert.That(await ApplyAsync(dir, pair, delta), Is.EqualTo(@new));

        // Each part's first LZMA2 chunk resets the dictionary and sets the properties, (pb * 5 + lp) * 9 + lc (lc 3, lp 0).
        var body = Body.Parse(delta);
        Assert.That(new[] { body.Control[0] & 0xE0, body.Extra[0] & 0xE0, body.Diff[0] & 0xE0 }, Is.All.EqualTo(0xE0), "three compressed first chunks");
        Assert.That(new[] { body.Control[5], body.Extra[5], body.Diff[5] }, Is.EqualTo(new byte[] { 3, 93, 3 }));
    }

    [Test]
    public async Task A_diff_part_past_1_MiB_is_built_with_a_1_MiB_dictionary_and_an_extra_part_with_its_own()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(3 << 19, 89);
        var edited = (byte[])old.Clone();
        for (var i = 0; i < edited.Length; i += 100) edited[i]++; // one match over the whole file, every byte in its diff part (agreement under 256 bytes)
        var @new = edited.Concat(TestData.Binary(3 << 19, 90)).ToArray(); // 1.5 MiB nothing old holds: the extra part
        var pair = new Pair(new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length),
            new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length), @new);
        var delta = Encode(pair);
        var body = Body.Parse(delta);
        Assert.That(Xz(dir, "-d", body.Diff, 20).Length, Is.GreaterThan(1 << 20));
        Assert.That(Xz(dir, "-d", body.Extra, 21).Length, Is.GreaterThan(1 << 20));
        Assert.That(body.DictionaryLogs[1..], Is.EqualTo(new byte[] { 21, 20 }), "extra's dictionary holds its 1.5 MiB; diff's is 1 MiB");
        Assert.That(await ApplyAsync(dir, pair, delta), Is.EqualTo(@new));
    }

    [Test]
    public void Parts_are_built_with_dictionaries_of_at_most_4_MiB() =>
        Assert.That(new[] { Lzma2.DictionaryLogFor(9 << 20), Lzma2.DictionaryLogFor(9 << 20, maxLog: 23), Lzma2.DictionaryLogFor(9 << 20, maxLog: 20), Lzma2.DictionaryLogFor(100), Lzma2.DictionaryLogFor((1 << 20) + 1) },
            Is.EqualTo(new[] { 22, 22, 20, 12, 21 }));

    /// <param name="dictionaryLog">Null: each part's own; 23: the 8 MiB dictionaries earlier builds used, which still apply.</param>
    [TestCase(null)]
    [TestCase(23)]
    public async Task Parts_compressed_by_xz_apply_too(int? dictionaryLog)
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir, seed: 83);
        var body = Body.Parse(Encode(pair));
        byte Log(int part) => (byte)(dictionaryLog ?? body.DictionaryLogs[part]);
        var recompressed = body with
        {
            DictionaryLogs = [Log(0), Log(1), Log(2)],
            Control = Xz(dir, "-z", Xz(dir, "-d", body.Control, body.DictionaryLogs[0]), Log(0)),
            Extra = Xz(dir, "-z", Xz(dir, "-d", body.Extra, body.DictionaryLogs[1]), Log(1)),
            Diff = Xz(dir, "-z", Xz(dir, "-d", body.Diff, body.DictionaryLogs[2]), Log(2)),
        };
        Assert.That(await ApplyAsync(dir, pair, recompressed.ToBytes()), Is.EqualTo(pair.NewBytes));
    }

    public static IEnumerable<TestCaseData> Hostile()
    {
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => (b with { Format = 7 }).ToBytes()),
            "bsdiff-lzma delta has format 7, which this build does not know").SetName("unknown format");
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => (b with { DictionaryLogs = [b.DictionaryLogs[0], b.DictionaryLogs[1], 30] }).ToBytes()),
            "bsdiff-lzma delta asks for an LZMA2 dictionary of 2^30 bytes for its diff part; 2^12 to 2^23 are allowed").SetName("dictionary over the device's bound");
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => (b with { DictionaryLogs = [0, b.DictionaryLogs[1], b.DictionaryLogs[2]] }).ToBytes()),
            "bsdiff-lzma delta asks for an LZMA2 dictionary of 2^0 bytes for its control part; 2^12 to 2^23 are allowed").SetName("dictionary under LZMA2's minimum");
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => b.ToBytes(controlLength: long.MaxValue / 2)),
            $"bsdiff-lzma delta has parts of {long.MaxValue / 2} and *").SetName("part lengths past the target's need");
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => b.ToBytes()[..(b.Header.Length + 2)]),
            "bsdiff-lzma delta is truncated").SetName("truncated in its head");
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => b.ToBytes()[..^(b.Diff.Length / 2)]),
            "LZMA2 part is truncated").SetName("truncated in the diff part");
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => (b with { Control = [0x05, .. TestData.Random(b.Control.Length, 5)] }).ToBytes()),
            "LZMA2 part is corrupt*").SetName("an invalid LZMA2 chunk for the control part");
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, _) => (b with { Control = [.. b.Control, 1, 2, 3, 4, 5] }).ToBytes()),
            "LZMA2 part has data after its end").SetName("data after the control part");
        // A bomb: 80 MiB of zeros for the control part of a 1 MiB target (bound: twice the target plus 64 MiB).
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, dir) => (b with { Control = Xz(dir, "-z", new byte[80 << 20], 23), DictionaryLogs = [23, b.DictionaryLogs[1], b.DictionaryLogs[2]] }).ToBytes()),
            "LZMA2 part decodes to more than its bound of *").SetName("a part that decodes past its bound");
        // Every extra byte is a target byte: 3 MiB of extra for a 1 MiB target is refused before it is spooled whole.
        yield return new TestCaseData(new Func<Body, TempDirectory, byte[]>((b, dir) => (b with { Extra = Xz(dir, "-z", new byte[3 << 20], 22), DictionaryLogs = [b.DictionaryLogs[0], 22, b.DictionaryLogs[2]] }).ToBytes()),
            "bsdiff-lzma delta's extra part decodes to more than its target's *").SetName("an extra part longer than the target");
    }

    [TestCaseSource(nameof(Hostile))]
    public async Task Hostile_deltas_are_refused_with_a_clear_error(Func<Body, TempDirectory, byte[]> corrupt, string message)
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir, seed: 85);
        var hostile = corrupt(Body.Parse(Encode(pair)), dir);
        var output = new MemoryStream();
        var error = await Assert.ThrowsAsync<CorruptDeltaException>(() => Algorithm.ApplyAsync(pair.Old, new MemoryStream(hostile), output, new DeltaTarget(pair.New.Digest, pair.New.Size)));
        Assert.That(error!.Message, message.EndsWith('*') ? (NUnit.Framework.Constraints.IResolveConstraint)Does.StartWith(message.TrimEnd('*')) : Is.EqualTo(message));
        Assert.That(output.Length, Is.LessThan(pair.New.Size), "never the whole target from a hostile delta");
    }

    [Test]
    public async Task A_delta_for_another_base_is_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir, seed: 87);
        var delta = Encode(pair);
        var other = TestData.Edit(File.ReadAllBytes(pair.Old.Path), 3, edits: 2);
        var otherInput = new DeltaInput(dir.Write("other", other), Digest.Compute(other), other.Length);
        var output = new MemoryStream();
        var error = await Assert.ThrowsAsync<CorruptDeltaException>(() => Algorithm.ApplyAsync(otherInput, new MemoryStream(delta), output, null));
        Assert.That(error!.Message, Is.EqualTo($"delta was made for base {pair.Old.Digest} ({pair.Old.Size} bytes), not for the installed {otherInput.Digest} ({otherInput.Size} bytes)"));
        Assert.That(output.Length, Is.Zero);
    }
}
