using Doras.Delta.Algorithms;
using Doras.Delta.Bsdiff;
using Doras.Delta.Executables;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>
/// bsdiff-exe's parser against hostile deltas: each is refused with a clear <see cref="CorruptDeltaException"/>
/// and leaves no output file behind.
/// </summary>
public class BsdiffExeHostileTests
{
    private static readonly BsdiffExeAlgorithm Exe = new();

    /// <summary>A bsdiff-exe delta taken apart: header, format, instruction set, the two layouts as written, dictionary logs, parts.</summary>
    public sealed record Body(byte[] Header, byte Format, byte Set, byte[] Layouts, byte[] DictionaryLogs, byte[] Control, byte[] Extra, byte[] Diff)
    {
        public static Body Parse(byte[] delta)
        {
            var stream = new MemoryStream(delta);
            var (_, unconsumed) = DeltaHeader.ReadAsync(stream, CancellationToken.None).GetAwaiter().GetResult();
            var p = (int)stream.Position - unconsumed.Length;
            var header = delta[..p];
            var (format, set) = (delta[p], delta[p + 1]);
            stream.Position = p + 2;
            AddressLayout.Read(stream);
            AddressLayout.Read(stream);
            var layouts = delta[(p + 2)..(int)stream.Position];
            p = (int)stream.Position;
            var logs = delta[p..(p + 3)];
            p += 3;
            var controlLength = (int)ReadVarint(delta, ref p);
            var extraLength = (int)ReadVarint(delta, ref p);
            return new Body(header, format, set, layouts, logs, delta[p..(p + controlLength)],
                delta[(p + controlLength)..(p + controlLength + extraLength)], delta[(p + controlLength + extraLength)..]);
        }

        /// <summary>Bytes from the delta's start to where the parts begin.</summary>
        public int HeadLength => ToBytes().Length - Control.Length - Extra.Length - Diff.Length;

        public byte[] ToBytes()
        {
            var body = new MemoryStream();
            body.Write(Header);
            body.WriteByte(Format);
            body.WriteByte(Set);
            body.Write(Layouts);
            body.Write(DictionaryLogs);
            WriteVarint(body, Control.Length);
            WriteVarint(body, Extra.Length);
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

    /// <summary>An address layout as a delta carries it (count, then offset, address, file size, memory size of each).</summary>
    private static byte[] Layout(params LoadSegment[] segments)
    {
        var bytes = new MemoryStream();
        WriteVarint(bytes, segments.Length);
        foreach (var s in segments)
            foreach (var value in new[] { s.Offset, s.Address, s.FileSize, s.MemorySize })
                WriteVarint(bytes, value);
        return bytes.ToArray();
    }

    private static BsdiffExeTests.Pair MakePair(TempDirectory dir)
    {
        var program = SyntheticElf.Random(InstructionSet.X64, 31, functions: 400, data: 100);
        return BsdiffExeTests.Write(dir, program.Link(), program.Next(32, edits: 10).Link());
    }

    /// <summary>Raw LZMA2 by the xz CLI (an encoder independent of ours) with a 2^20-byte dictionary.</summary>
    private static byte[] Xz(TempDirectory dir, byte[] input)
    {
        var path = dir.Write($"xz-{Guid.NewGuid():N}", input);
        ExternalTool.RunOk("sh", "-c", $"xz -z -c --format=raw --lzma2=preset=6,dict={1 << 20} '{path}' > '{path}.xz'");
        return File.ReadAllBytes(path + ".xz");
    }

    /// <summary>Applies into a new file; the error must be exactly <paramref name="message"/> (a prefix when it ends in *) and no file is left.</summary>
    private static void AssertRefused(TempDirectory dir, DeltaInput old, DeltaTarget target, byte[] delta, string message)
    {
        var output = dir[$"out-{Guid.NewGuid():N}"];
        var error = Assert.ThrowsAsync<CorruptDeltaException>(() => Exe.ApplyToFileAsync(old, new MemoryStream(delta), output, target)).GetAwaiter().GetResult();
        Assert.That(error!.Message, message.EndsWith('*') ? (NUnit.Framework.Constraints.IResolveConstraint)Does.StartWith(message.TrimEnd('*')) : Is.EqualTo(message));
        Assert.That(File.Exists(output), Is.False, "no output file is left");
    }

    public static IEnumerable<TestCaseData> Hostile()
    {
        TestCaseData Case(string name, Func<Body, Body> corrupt, string message) => new TestCaseData(corrupt, message).SetName(name);
        yield return Case("unknown format", b => b with { Format = 2 }, "bsdiff-exe delta has format 2, which this build does not know");
        yield return Case("unknown instruction set", b => b with { Set = 3 }, "bsdiff-exe delta is for instruction set 3, which this build does not know");
        yield return Case("instruction set 0", b => b with { Set = 0 }, "bsdiff-exe delta is for instruction set 0, which this build does not know");
        yield return Case("an address layout of 65 segments",
            b => b with { Layouts = Layout([.. Enumerable.Range(0, 65).Select(i => new LoadSegment(i * 16L, 0x400000 + i * 16L, 16, 16))]) },
            "bsdiff-exe delta has an address layout of 65 segments; at most 64 are allowed");
        yield return Case("an address layout claiming 2^62 segments", b => b with { Layouts = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40] },
            "bsdiff-exe delta has an address layout of 4611686018427387904 segments; at most 64 are allowed");
        yield return Case("a segment whose memory is smaller than its file bytes",
            b => b with { Layouts = [.. Layout(new LoadSegment(0, 0x400000, 0x1000, 0xFFF)), .. Layout(new LoadSegment(0, 0x400000, 0x1000, 0x1000))] },
            "bsdiff-exe delta has a malformed segment in its address layout");
        yield return Case("a segment at an address whose end passes long's range",
            b => b with { Layouts = [.. Layout(new LoadSegment(0, long.MaxValue - 10, 0x1000, 0x1000)), .. Layout(new LoadSegment(0, 0x400000, 0x1000, 0x1000))] },
            "bsdiff-exe delta has a malformed segment in its address layout");
        yield return Case("a layout value past long's range", b => b with { Layouts = [1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] },
            "bsdiff-exe delta has a length out of range");
        yield return Case("a dictionary past the device's bound", b => b with { DictionaryLogs = [b.DictionaryLogs[0], 30, b.DictionaryLogs[2]] },
            "bsdiff-exe delta asks for an LZMA2 dictionary of 2^30 bytes for its extra part; 2^12 to 2^23 are allowed");
    }

    [TestCaseSource(nameof(Hostile))]
    public void Hostile_deltas_are_refused_with_a_clear_error_and_leave_no_output(Func<Body, Body> corrupt, string message)
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var body = Body.Parse(BsdiffExeTests.Encode(Exe, pair));
        Assert.That(body.ToBytes(), Is.EqualTo(BsdiffExeTests.Encode(Exe, pair)), "taken apart and put together again unchanged");
        AssertRefused(dir, pair.Old, pair.Target, corrupt(body).ToBytes(), message);
    }

    [Test]
    public void A_delta_cut_anywhere_in_its_head_is_refused_as_truncated()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var delta = BsdiffExeTests.Encode(Exe, pair);
        var body = Body.Parse(delta);
        var (layoutsStart, logsStart) = (body.Header.Length + 2, body.Header.Length + 2 + body.Layouts.Length);
        for (var length = 0; length < body.HeadLength; length++)
        {
            string expected = length switch
            {
                < 8 => "bsdiff-exe delta has no header",
                _ when length < body.Header.Length => "delta is truncated inside its header",
                _ when length < layoutsStart => "bsdiff-exe delta is truncated",
                _ when length < logsStart => "bsdiff-exe delta is truncated inside a record",
                _ when length < logsStart + 3 => "bsdiff-exe delta is truncated",
                _ => "bsdiff-exe delta is truncated inside a record",
            };
            AssertRefused(dir, pair.Old, pair.Target, delta[..length], expected);
        }
    }

    /// <summary>
    /// The device holds every match in memory to predict: a control part of one more than
    /// <see cref="BsdiffExeAlgorithm.MaxMatches"/> tiny matches is refused before anything is applied, while exactly
    /// that many apply.
    /// </summary>
    [TestCase(BsdiffExeAlgorithm.MaxMatches, true)]
    [TestCase(BsdiffExeAlgorithm.MaxMatches + 1, false)]
    public void A_control_part_of_more_matches_than_a_device_holds_is_refused(int matches, bool applies)
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        Assert.That(pair.OldBytes.Length, Is.GreaterThan(matches));
        var control = new MemoryStream();
        for (var i = 0; i < matches; i++)
        {
            BsdiffDelta.WriteRecord(control, diffLength: 1, extraLength: 0, adjust: 0);
            WriteVarint(control, 1); // one byte the same
            WriteVarint(control, 0); // none differing
        }
        // The target: the first bytes of the old version, one per match.
        var target = pair.OldBytes[..matches];
        var header = new DeltaHeader(pair.Old.Digest, pair.Old.Size, Digest.Compute(target), target.Length, BsdiffExeAlgorithm.AlgorithmName).ToBytes();
        var template = Body.Parse(BsdiffExeTests.Encode(Exe, pair));
        var delta = (template with { Header = header, DictionaryLogs = [20, 20, 20], Control = Xz(dir, control.ToArray()), Extra = Xz(dir, []), Diff = Xz(dir, []) }).ToBytes();
        var expected = new DeltaTarget(Digest.Compute(target), target.Length);
        if (applies)
        {
            var output = dir["out"];
            Exe.ApplyToFileAsync(pair.Old, new MemoryStream(delta), output, expected).GetAwaiter().GetResult();
            Assert.That(File.ReadAllBytes(output), Is.EqualTo(target));
        }
        else
            AssertRefused(dir, pair.Old, expected, delta, $"bsdiff delta has more than {BsdiffExeAlgorithm.MaxMatches} matches, more than a prediction may hold");
    }

    [Test]
    public void A_delta_for_another_base_is_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var delta = BsdiffExeTests.Encode(Exe, pair);
        var other = (byte[])pair.OldBytes.Clone();
        other[^1] ^= 1;
        var otherInput = new DeltaInput(dir.Write("other", other), Digest.Compute(other), other.Length);
        AssertRefused(dir, otherInput, pair.Target, delta,
            $"delta was made for base {pair.Old.Digest} ({pair.Old.Size} bytes), not for the installed {otherInput.Digest} ({otherInput.Size} bytes)");
    }

    [Test]
    public void A_delta_for_another_target_is_refused()
    {
        using var dir = new TempDirectory();
        var pair = MakePair(dir);
        var delta = BsdiffExeTests.Encode(Exe, pair);
        var wanted = new DeltaTarget(Digest.Compute(pair.OldBytes), pair.OldBytes.Length);
        AssertRefused(dir, pair.Old, wanted, delta, $"delta produces {pair.New.Digest}, not the expected target {wanted.Digest}");
    }
}
