using Doras.Delta.Zstd;

namespace Doras.Tests.Delta;

/// <summary>
/// The managed port (what devices decode with) and libzstd (the server's choice) against each other: whatever one
/// writes, the other reads byte for byte, patch-from deltas included, and the managed one fails as clearly.
/// </summary>
public class ZstdCodecTests
{
    private static ZstdCodec Codec(string name) => name == "managed" ? ZstdCodec.Managed : ZstdCodec.Native;

    private static readonly string[][] Pairs = [["managed", "managed"], ["managed", "native"], ["native", "managed"]];

    private static byte[] Encode(ZstdCodec codec, byte[] content, ZstdCompressionOptions options, NativeView? prefix = null)
    {
        var output = new MemoryStream();
        using (var encoder = new ZstdEncoderStream(output, options, prefix, leaveOpen: true, codec)) encoder.Write(content);
        return output.ToArray();
    }

    [TestCaseSource(nameof(Pairs))]
    public async Task A_patch_from_delta_at_the_servers_settings_applies_into_a_file_across_implementations(string encoder, string decoder)
    {
        var v1 = TestData.Binary(3 << 20, 11);
        var v2 = TestData.Edit(v1, 12, edits: 40);
        using var dir = new TempDirectory();
        using var prefix = NativeView.Pin(v1);
        var patch = Encode(Codec(encoder), v2, ZstdCompressionOptions.ForPatch(v1.Length, v2.Length), prefix);
        Assert.That(patch.Length, Is.LessThan(v2.Length / 10), "long matching against the prefix must find the old version");

        await ZstdFileDecoder.DecompressToFileAsync(new MemoryStream(patch), dir["applied"], v2.Length, prefix, codec: Codec(decoder));
        Assert.That(File.ReadAllBytes(dir["applied"]), Is.EqualTo(v2));

        using var stream = new ZstdDecoderStream(new MemoryStream(patch), new ZstdDecompressionOptions { WindowLogMax = 31 }, prefix, codec: Codec(decoder));
        var streamed = new MemoryStream();
        await stream.CopyToAsync(streamed);
        Assert.That(streamed.ToArray(), Is.EqualTo(v2));
    }

    [TestCase("managed")]
    [TestCase("native")]
    public async Task A_file_compressed_in_place_is_the_frame_the_stream_writes_and_applies_with_either_codec(string codec)
    {
        // 20 MiB: several steps of the encoder and of the pages it gives back. Of a size that is no whole number of
        // zstd blocks the frame is the stream's byte for byte; of a whole number, the stream's ends with an empty last
        // block (3 bytes) the in-place encoder does not write.
        var v1 = TestData.Binary(20 << 20, 51);
        foreach (var size in new[] { (20 << 20) + 4321, 20 << 20 })
        {
            var edited = TestData.Edit(v1, 52, edits: 60);
            var v2 = edited.Concat(TestData.Binary(size, 53)).Take(size).ToArray();
            using var dir = new TempDirectory();
            using var prefix = NativeView.MapFile(dir.Write("old", v1)); // mapped, as a build maps it: its pages are given back too
            var options = ZstdCompressionOptions.ForPatch(v1.Length, v2.Length, level: 3);
            var streamed = Encode(Codec(codec), v2, options, prefix);
            var output = new MemoryStream();
            using (var source = NativeView.MapFile(dir.Write("new", v2)))
                await ZstdFileEncoder.CompressAsync(source, output, options, prefix, Codec(codec));
            var inPlace = output.ToArray();

            if (size % (128 << 10) != 0) Assert.That(inPlace, Is.EqualTo(streamed), $"{size} bytes");
            else Assert.That(inPlace.Length, Is.EqualTo(streamed.Length - 3), $"{size} bytes");
            foreach (var decoder in new[] { "managed", "native" })
            {
                await ZstdFileDecoder.DecompressToFileAsync(new MemoryStream(inPlace), dir[decoder], v2.Length, prefix, codec: Codec(decoder));
                Assert.That(File.ReadAllBytes(dir[decoder]), Is.EqualTo(v2), $"{size} bytes, decoded by {decoder}");
            }
        }
    }

    [TestCase("managed")]
    [TestCase("native")]
    public void A_size_hint_reaches_zstd_which_sizes_the_frame_for_a_small_stream(string codec)
    {
        var content = TestData.Binary(4096, 18);
        var hinted = Encode(Codec(codec), content, new ZstdCompressionOptions { SizeHint = content.Length });
        var unhinted = Encode(Codec(codec), content, new ZstdCompressionOptions());
        // Without a size (streamed, no pledge) level 19 takes its tables and window for inputs of any size (8 MiB);
        // with the hint, those of a 4 KiB input, which the frame's window descriptor shows.
        Assert.That(WindowLog(unhinted), Is.EqualTo(23));
        Assert.That(WindowLog(hinted), Is.EqualTo(12));
        foreach (var decoder in new[] { "managed", "native" })
        {
            using var stream = new ZstdDecoderStream(new MemoryStream(hinted), codec: Codec(decoder));
            var decoded = new MemoryStream();
            stream.CopyTo(decoded);
            Assert.That(decoded.ToArray(), Is.EqualTo(content), decoder);
        }
    }

    /// <summary>The window a frame asks for (RFC 8878 3.1.1.1.2), from a frame without a single segment.</summary>
    private static int WindowLog(byte[] frame)
    {
        Assert.That(frame[4] & 0x20, Is.Zero, "a streamed frame of unknown size has a window descriptor");
        return 10 + (frame[5] >> 3);
    }

    [Test]
    public void The_managed_encoders_patch_applies_with_the_zstd_cli()
    {
        var v1 = TestData.Binary(1 << 20, 13);
        var v2 = TestData.Edit(v1, 14);
        using var dir = new TempDirectory();
        using var prefix = NativeView.Pin(v1);
        dir.Write("old", v1);
        dir.Write("patch.zst", Encode(ZstdCodec.Managed, v2, ZstdCompressionOptions.ForPatch(v1.Length, v2.Length), prefix));
        ExternalTool.RunOk("zstd", "-q", "-d", "--long=31", $"--patch-from={dir["old"]}", dir["patch.zst"], "-o", dir["new"]);
        Assert.That(File.ReadAllBytes(dir["new"]), Is.EqualTo(v2));
    }

    [Test]
    public void The_managed_decoder_refuses_a_truncated_stream_and_a_wrong_base_like_libzstd()
    {
        var v1 = TestData.Binary(1 << 20, 15);
        var v2 = TestData.Edit(v1, 16);
        using var prefix = NativeView.Pin(v1);
        var patch = Encode(ZstdCodec.Native, v2, ZstdCompressionOptions.ForPatch(v1.Length, v2.Length), prefix);

        var truncated = new ZstdDecoderStream(new MemoryStream(patch[..(patch.Length / 2)]), prefix: prefix, codec: ZstdCodec.Managed);
        Assert.That(() => truncated.CopyTo(Stream.Null), Throws.TypeOf<ZstdException>().With.Message.EqualTo("zstd stream is truncated: it ended inside a frame"));

        using var wrongBase = NativeView.Pin(TestData.Edit(v1, 17, edits: 400));
        var wrong = new ZstdDecoderStream(new MemoryStream(patch), prefix: wrongBase, codec: ZstdCodec.Managed);
        Assert.That(() => wrong.CopyTo(Stream.Null), Throws.TypeOf<ZstdException>().With.Message.StartsWith("zstd decompress failed: "));
    }

    [Test]
    public void Each_implementation_names_itself_and_the_process_default_is_the_servers_choice()
    {
        Assert.That(ZstdCodec.Managed.Name, Does.StartWith("ZstdSharp (managed) 1.5."));
        Assert.That(ZstdCodec.Native.Name, Does.StartWith("libzstd 1."));
        // The test project sets the server's switch (libzstd where it loads), as the server's own project does.
        Assert.That(ZstdCodec.Default, Is.SameAs(ZstdCodec.Native));
    }
}
