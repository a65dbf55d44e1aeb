using Doras.Delta.Algorithms;
using Doras.Delta.Octodiff;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>Octodiff's formats byte for byte (from the format reference), and deltas that apply exactly or not at all.</summary>
public class OctodiffTests
{
    private static byte[] Signature(byte[] old, int chunkSize = 2048)
    {
        var output = new MemoryStream();
        OctodiffSignature.WriteAsync(new MemoryStream(old), output, chunkSize).GetAwaiter().GetResult();
        return output.ToArray();
    }

    private static byte[] RawDelta(byte[] old, byte[] @new, int chunkSize = 2048)
    {
        var signature = OctodiffSignature.Read(new MemoryStream(Signature(old, chunkSize)));
        var delta = new MemoryStream();
        OctodiffDelta.Write(signature, new MemoryStream(@new), delta);
        return delta.ToArray();
    }

    private static async Task<byte[]> ApplyRawAsync(TempDirectory dir, byte[] old, byte[] delta)
    {
        var output = new MemoryStream();
        await OctodiffDelta.ApplyAsync(dir.Write($"old-{Guid.NewGuid():N}", old), new MemoryStream(delta), output);
        return output.ToArray();
    }

    [Test]
    public void The_rolling_checksum_rolls_to_what_a_fresh_computation_gives()
    {
        var data = TestData.Random(10_000, 1);
        const int n = 2048;
        var rolling = RollingAdler32.Of(data.AsSpan(0, n));
        for (var i = 0; i + n < data.Length; i++)
        {
            rolling.Roll(data[i], data[i + n], n);
            Assert.That(rolling.Value, Is.EqualTo(RollingAdler32.Of(data.AsSpan(i + 1, n)).Value), $"at {i + 1}");
        }
    }

    [Test]
    public void The_signature_header_and_first_record_match_the_reference_vector()
    {
        var signature = Signature(TestData.Random(520, 2));
        Assert.That(Convert.ToHexStringLower(signature.AsSpan(0, 26)), Is.EqualTo("4f43544f53494701045348413107416" + "46c657233323e3e3e" + "0802"));
        Assert.That(signature.Length, Is.EqualTo(24 + 26), "one record for one short chunk");
        Assert.That(Signature(TestData.Random(5000, 3)).Length, Is.EqualTo(24 + 3 * 26), "2048 + 2048 + 904");
    }

    [Test]
    public void An_unchanged_file_is_one_copy_command_encoded_as_octodiff_does()
    {
        var old = TestData.Random(315412 + 9874563, 4);
        var delta = RawDelta(old, old);
        var header = 9 + 1 + 5 + 4 + 20 + 3;
        Assert.That(Convert.ToHexStringLower(delta.AsSpan(0, 19)), Is.EqualTo("4f43544f44454c5441" + "01" + "0453484131" + "14000000"));
        Assert.That(delta.AsSpan(19, 20).ToArray(), Is.EqualTo(System.Security.Cryptography.SHA1.HashData(old)));
        Assert.That(Convert.ToHexStringLower(delta.AsSpan(header - 3)), Is.EqualTo("3e3e3e" + "60" + "0000000000000000" + Convert.ToHexStringLower(BitConverter.GetBytes((long)old.Length))));
    }

    [Test]
    public async Task A_handwritten_delta_in_the_reference_encoding_applies()
    {
        using var dir = new TempDirectory();
        var old = TestData.Random(315412 + 9874563, 5);
        var expected = old.AsSpan(315412, 9874563).ToArray().Concat("tail"u8.ToArray()).ToArray();
        var delta = new MemoryStream();
        delta.Write("OCTODELTA"u8); delta.WriteByte(1); delta.Write("\u0004SHA1"u8); delta.Write(new byte[] { 20, 0, 0, 0 });
        delta.Write(System.Security.Cryptography.SHA1.HashData(expected)); delta.Write(">>>"u8);
        delta.Write(Convert.FromHexString("6014d004000000000083ac960000000000"));
        delta.WriteByte(0x80); delta.Write(BitConverter.GetBytes(4L)); delta.Write("tail"u8);
        Assert.That(await ApplyRawAsync(dir, old, delta.ToArray()), Is.EqualTo(expected));
    }

    [TestCase(128)]
    [TestCase(2048)]
    [TestCase(31744)]
    public async Task Edited_binaries_round_trip_byte_for_byte(int chunkSize)
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(3 << 20, 6);
        var @new = TestData.Edit(old, 7, edits: 10);
        var delta = RawDelta(old, @new, chunkSize);
        Assert.That(await ApplyRawAsync(dir, old, delta), Is.EqualTo(@new));
        Assert.That(delta.Length, Is.LessThan(@new.Length / 4), $"delta {delta.Length} bytes for {@new.Length}");
    }

    [Test]
    public async Task Empty_and_tiny_files_round_trip()
    {
        using var dir = new TempDirectory();
        foreach (var (old, @new) in new[] { (Array.Empty<byte>(), Array.Empty<byte>()), ([], [1, 2, 3]), ([1, 2, 3], []), (TestData.Random(3000, 8), TestData.Random(3000, 8)[..2500]) })
            Assert.That(await ApplyRawAsync(dir, old, RawDelta(old, @new)), Is.EqualTo(@new));
    }

    [Test]
    public async Task Truncated_corrupt_hostile_and_wrong_base_deltas_are_refused()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(200_000, 9);
        var @new = TestData.Edit(old, 10);
        var delta = RawDelta(old, @new);
        foreach (var cut in new[] { 0, 5, 12, 40, 45, 46, 60, delta.Length / 2, delta.Length - 1 })
            await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyRawAsync(dir, old, delta[..cut]), $"cut at {cut}");

        var unknown = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyRawAsync(dir, old, [.. delta[..42], 0x42])))!;
        Assert.That(unknown.Message, Is.EqualTo("Octodiff delta has an unknown command byte 0x42"));
        var outside = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyRawAsync(dir, old, [.. delta[..42], 0x60, .. BitConverter.GetBytes(199_000L), .. BitConverter.GetBytes(2000L)])))!;
        Assert.That(outside.Message, Is.EqualTo("Octodiff delta copies 2000 bytes at 199000, outside the old file of 200000 bytes"));
        var wrongBase = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyRawAsync(dir, TestData.Edit(old, 11), delta)))!;
        Assert.That(wrongBase.Message, Does.StartWith("applying the Octodiff delta gave SHA1 "));
        var bomb = (await Assert.ThrowsAsync<CorruptDeltaException>(() =>
            OctodiffDelta.ApplyAsync(dir.Write("old", old), new MemoryStream(delta), Stream.Null, maxOutputBytes: 1000)))!;
        Assert.That(bomb.Message, Is.EqualTo("Octodiff delta produces more than the limit of 1000 bytes"));
    }

    [Test]
    public void Malformed_signatures_are_refused_clearly()
    {
        var good = Signature(TestData.Random(5000, 12));
        Assert.That(() => OctodiffSignature.Read(new MemoryStream(good[..^1])), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("not a multiple of 26 bytes"));
        Assert.That(() => OctodiffSignature.Read(new MemoryStream("OCTODELTA"u8.ToArray())), Throws.InstanceOf<InvalidDataException>().With.Message.EqualTo("not an Octodiff signature: expected 'OCTOSIG'"));
        var v2 = good.ToArray();
        v2[19] = (byte)'V'; // "Adler32" -> "Adler3V"? keep the length, change the name
        Assert.That(() => OctodiffSignature.Read(new MemoryStream(v2)), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("only Adler32 is supported"));
    }

    [Test]
    public async Task The_wrapped_algorithm_round_trips_and_refuses_deltas_of_another_algorithm()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(2 << 20, 13);
        var @new = TestData.Edit(old, 14);
        var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
        var newInput = new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length);
        IDeltaAlgorithm octodiff = new OctodiffAlgorithm(level: 9);
        var delta = new MemoryStream();
        await octodiff.EncodeAsync(oldInput, newInput, delta);
        var target = new DeltaTarget(newInput.Digest, newInput.Size);
        await octodiff.ApplyToFileAsync(oldInput, new MemoryStream(delta.ToArray()), dir["out"], target);
        Assert.That(File.ReadAllBytes(dir["out"]), Is.EqualTo(@new));
        Assert.That(delta.Length, Is.LessThan(RawDelta(old, @new).Length), "zstd shrinks the literals");
        // One frame that declares the raw delta's length, so zstd sized its tables to it, not to the new version.
        var bytes = delta.ToArray();
        var stream = new MemoryStream(bytes);
        var (_, unconsumed) = await DeltaHeader.ReadAsync(stream, CancellationToken.None);
        Assert.That(ZstdFrameHeader.ContentSize(bytes.AsSpan((int)stream.Position - unconsumed.Length)), Is.EqualTo(RawDelta(old, @new).Length));
        Assert.That(Directory.GetFiles(dir.Path, ".doras-*"), Is.Empty, "no spool is left");

        var zstdDelta = new MemoryStream();
        await new ZstdPatchAlgorithm(3).EncodeAsync(oldInput, newInput, zstdDelta);
        var error = (await Assert.ThrowsAsync<CorruptDeltaException>(() => octodiff.ApplyAsync(oldInput, new MemoryStream(zstdDelta.ToArray()), Stream.Null, target)))!;
        Assert.That(error.Message, Is.EqualTo("delta was made by the zstd algorithm, not octodiff"));
    }
}
