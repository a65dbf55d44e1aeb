using System.Text;
using Doras.Delta.Algorithms;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

public class DeltaHeaderTests
{
    private static readonly Digest Base = Digest.Compute("base"u8.ToArray());
    private static readonly Digest Target = Digest.Compute("target"u8.ToArray());

    [Test]
    public async Task A_header_round_trips_and_is_a_zstd_skippable_frame_of_about_a_hundred_bytes()
    {
        var header = new DeltaHeader(Base, 1234, Target, 5678, "bsdiff");
        var bytes = header.ToBytes();
        Assert.That(Convert.ToHexString(bytes.AsSpan(0, 4)), Is.EqualTo("5D2A4D18"), "skippable frame magic, little-endian");
        Assert.That(BitConverter.ToUInt32(bytes, 4), Is.EqualTo(bytes.Length - 8));
        Assert.That(bytes.Length, Is.EqualTo(8 + 8 + 1 + 33 + 8 + 33 + 8 + 1 + 6));
        var (read, rest) = await DeltaHeader.ReadAsync(new MemoryStream([.. bytes, 42]), CancellationToken.None);
        Assert.That(read, Is.EqualTo(header));
        Assert.That(rest, Is.Empty);
    }

    [Test]
    public async Task Version_2_headers_with_text_digests_are_still_read()
    {
        var payload = new MemoryStream();
        payload.Write("DORASDLT"u8);
        payload.WriteByte(2);
        foreach (var (digest, size) in new[] { (Base, 1234L), (Target, 5678L) })
        {
            var text = Encoding.ASCII.GetBytes(digest.ToString());
            payload.WriteByte((byte)text.Length);
            payload.Write(text);
            payload.Write(BitConverter.GetBytes(size));
        }
        payload.WriteByte(8);
        payload.Write("octodiff"u8);
        byte[] bytes = [.. BitConverter.GetBytes(0x184D2A5Du), .. BitConverter.GetBytes((uint)payload.Length), .. payload.ToArray()];
        var (read, _) = await DeltaHeader.ReadAsync(new MemoryStream(bytes), CancellationToken.None);
        Assert.That(read, Is.EqualTo(new DeltaHeader(Base, 1234, Target, 5678, "octodiff")));
    }

    [Test]
    public async Task A_malformed_header_is_a_corrupt_delta()
    {
        var bytes = new DeltaHeader(Base, 1, Target, 2, "zstd").ToBytes();
        bytes[8 + 8 + 1] = 9; // unknown digest algorithm
        var error = (await Assert.ThrowsAsync<CorruptDeltaException>(() => DeltaHeader.ReadAsync(new MemoryStream(bytes), CancellationToken.None)))!;
        Assert.That(error.Message, Is.EqualTo("delta header is malformed: unknown digest algorithm 9"));
    }
}
