using Doras.Delta.Algorithms;
using Doras.Delta.Zstd;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

public class ZstdTests
{
    internal static byte[] Compress(byte[] input, ZstdCompressionOptions? options = null)
    {
        var output = new MemoryStream();
        using (var encoder = new ZstdEncoderStream(output, options ?? new ZstdCompressionOptions { Level = 3 }, leaveOpen: true))
            encoder.Write(input);
        return output.ToArray();
    }

    private static byte[] Decompress(byte[] input, ZstdDecompressionOptions? options = null)
    {
        using var decoder = new ZstdDecoderStream(new MemoryStream(input), options);
        var output = new MemoryStream();
        decoder.CopyTo(output);
        return output.ToArray();
    }

    public static IEnumerable<TestCaseData> Inputs()
    {
        yield return new TestCaseData(Array.Empty<byte>()).SetName("empty");
        yield return new TestCaseData(new byte[] { 42 }).SetName("one byte");
        yield return new TestCaseData(TestData.Random(1 << 20, 1)).SetName("1 MiB random");
        yield return new TestCaseData(TestData.Binary(3 << 20, 2)).SetName("3 MiB structured");
        yield return new TestCaseData(new byte[5_000_000]).SetName("5 MB zeros");
    }

    [TestCaseSource(nameof(Inputs))]
    public void Round_trips(byte[] input)
    {
        var compressed = Compress(input);
        Assert.That(Decompress(compressed), Is.EqualTo(input));
    }

    [Test]
    public async Task Round_trips_asynchronously_in_small_writes_with_workers()
    {
        var input = TestData.Binary(2 << 20, 3);
        var output = new MemoryStream();
        await using (var encoder = new ZstdEncoderStream(output, new ZstdCompressionOptions { Level = 5, Workers = 2 }, leaveOpen: true))
            for (var i = 0; i < input.Length; i += 777)
                await encoder.WriteAsync(input.AsMemory(i, Math.Min(777, input.Length - i)));
        await using var decoder = new ZstdDecoderStream(new MemoryStream(output.ToArray()));
        var result = new MemoryStream();
        var buffer = new byte[333];
        int n;
        while ((n = await decoder.ReadAsync(buffer)) > 0) result.Write(buffer, 0, n);
        Assert.That(result.ToArray(), Is.EqualTo(input));
    }

    [Test]
    public void Standard_zstd_cli_reads_ours_and_we_read_its_output()
    {
        using var dir = new TempDirectory();
        var input = TestData.Binary(1 << 20, 4);
        var ours = dir.Write("ours.zst", Compress(input));
        ExternalTool.RunOk("zstd", "-q", "-d", ours, "-o", dir["ours.out"]);
        Assert.That(File.ReadAllBytes(dir["ours.out"]), Is.EqualTo(input));

        var plain = dir.Write("plain", input);
        ExternalTool.RunOk("zstd", "-q", "-19", plain, "-o", dir["theirs.zst"]);
        Assert.That(Decompress(File.ReadAllBytes(dir["theirs.zst"])), Is.EqualTo(input));
    }

    [Test]
    public void Truncated_stream_fails_clearly()
    {
        var compressed = Compress(TestData.Binary(1 << 20, 5));
        var error = Assert.Throws<ZstdException>(() => Decompress(compressed[..(compressed.Length / 2)]))!;
        Assert.That(error.Message, Is.EqualTo("zstd stream is truncated: it ended inside a frame"));
        Assert.That(Assert.Throws<ZstdException>(() => Decompress([]))!.Message, Is.EqualTo("zstd stream is empty"));
    }

    [Test]
    public void Corrupt_stream_fails_clearly()
    {
        var compressed = Compress(TestData.Binary(1 << 20, 6));
        compressed[compressed.Length / 2] ^= 0x55;
        var error = Assert.Throws<ZstdException>(() => Decompress(compressed))!;
        Assert.That(error.Message, Does.StartWith("zstd decompress failed: "));
    }

    [Test]
    public void Output_limit_stops_a_decompression_bomb()
    {
        var bomb = Compress(new byte[50_000_000]);
        Assert.That(bomb.Length, Is.LessThan(10_000));
        var error = Assert.Throws<ZstdException>(() => Decompress(bomb, new ZstdDecompressionOptions { MaxOutputBytes = 1_000_000 }))!;
        Assert.That(error.Message, Is.EqualTo("decompressed content exceeds the limit of 1000000 bytes"));
    }

    [Test]
    public void Window_size_follows_zstd_patch_from()
    {
        Assert.That(ZstdCompressionOptions.WindowLogFor(0), Is.EqualTo(10));
        Assert.That(ZstdCompressionOptions.WindowLogFor(1000), Is.EqualTo(10));
        Assert.That(ZstdCompressionOptions.WindowLogFor(1 << 20), Is.EqualTo(21));
        Assert.That(ZstdCompressionOptions.WindowLogFor((1 << 20) + 1), Is.EqualTo(21));
        Assert.That(ZstdCompressionOptions.WindowLogFor(long.MaxValue), Is.EqualTo(31));
    }
}

public class ZstdPatchTests
{
    private readonly ZstdPatchAlgorithm _zstd = new(level: 19);

    private static DeltaInput Input(string path) => new(path, Digest.Compute(File.ReadAllBytes(path)), new FileInfo(path).Length);

    private async Task<byte[]> DiffAsync(string oldPath, string newPath)
    {
        var delta = new MemoryStream();
        await _zstd.EncodeAsync(Input(oldPath), Input(newPath), delta);
        return delta.ToArray();
    }

    private async Task<byte[]> ApplyAsync(string oldPath, byte[] delta, DeltaTarget? expected = null)
    {
        var output = new MemoryStream();
        await _zstd.ApplyAsync(Input(oldPath), new MemoryStream(delta), output, expected);
        return output.ToArray();
    }

    public static IEnumerable<TestCaseData> Pairs()
    {
        var binary = TestData.Binary(2 << 20, 10);
        yield return new TestCaseData(Array.Empty<byte>(), Array.Empty<byte>()).SetName("empty to empty");
        yield return new TestCaseData(Array.Empty<byte>(), TestData.Random(1000, 1)).SetName("empty to data");
        yield return new TestCaseData(TestData.Random(1000, 2), Array.Empty<byte>()).SetName("data to empty");
        yield return new TestCaseData(new byte[] { 1 }, new byte[] { 2 }).SetName("tiny");
        yield return new TestCaseData(binary, binary).SetName("identical");
        yield return new TestCaseData(binary, TestData.Edit(binary, 3)).SetName("edited binary");
        yield return new TestCaseData(TestData.Random(300_000, 4), TestData.Random(300_000, 5)).SetName("unrelated random");
    }

    [TestCaseSource(nameof(Pairs))]
    public async Task Patch_round_trips(byte[] oldContent, byte[] newContent)
    {
        using var dir = new TempDirectory();
        var delta = await DiffAsync(dir.Write("old", oldContent), dir.Write("new", newContent));
        Assert.That(await ApplyAsync(dir["old"], delta, new DeltaTarget(Digest.Compute(newContent), newContent.Length)), Is.EqualTo(newContent));
    }

    [Test]
    public async Task Delta_of_an_edited_binary_is_a_small_fraction_of_it()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(4 << 20, 11);
        var newContent = TestData.Edit(oldContent, 12);
        var delta = await DiffAsync(dir.Write("old", oldContent), dir.Write("new", newContent));
        Assert.That(delta.Length, Is.LessThan(newContent.Length / 100), $"delta {delta.Length} bytes for {newContent.Length}");
    }

    [Test]
    public async Task Our_delta_applies_with_zstd_cli_and_zstd_cli_delta_applies_with_ours()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(3 << 20, 13);
        var newContent = TestData.Edit(oldContent, 14);
        var oldPath = dir.Write("old", oldContent);
        var newPath = dir.Write("new", newContent);

        // Ours, header frame included, through the reference CLI.
        var ours = dir.Write("ours.patch", await DiffAsync(oldPath, newPath));
        ExternalTool.RunOk("zstd", "-q", "-d", $"--patch-from={oldPath}", ours, "-o", dir["by-cli"]);
        Assert.That(File.ReadAllBytes(dir["by-cli"]), Is.EqualTo(newContent));

        // The CLI's, through ours.
        ExternalTool.RunOk("zstd", "-q", "-19", "--long", $"--patch-from={oldPath}", newPath, "-o", dir["theirs.patch"]);
        Assert.That(await ApplyAsync(oldPath, File.ReadAllBytes(dir["theirs.patch"])), Is.EqualTo(newContent));
    }

    [Test]
    public async Task Delta_for_another_base_is_refused_before_producing_output()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(1 << 20, 15);
        var delta = await DiffAsync(dir.Write("old", oldContent), dir.Write("new", TestData.Edit(oldContent, 16)));
        var other = dir.Write("other", TestData.Edit(oldContent, 17));

        var output = new MemoryStream();
        var error = (await Assert.ThrowsAsync<CorruptDeltaException>(() => _zstd.ApplyAsync(Input(other), new MemoryStream(delta), output, null)))!;
        Assert.That(error.Message, Does.StartWith("delta was made for base " + Digest.Compute(oldContent)));
        Assert.That(output.Length, Is.Zero);
    }

    [Test]
    public async Task Raw_patch_applied_to_a_wrong_base_fails_instead_of_producing_wrong_bytes()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(1 << 20, 18);
        var newContent = TestData.Edit(oldContent, 19);
        var oldPath = dir.Write("old", oldContent);
        ExternalTool.RunOk("zstd", "-q", "-19", $"--patch-from={oldPath}", dir.Write("new", newContent), "-o", dir["raw.patch"]);
        var wrongBase = dir.Write("wrong", TestData.Edit(oldContent, 20));

        // No header to check: the frame checksum catches the wrong base.
        var error = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(wrongBase, File.ReadAllBytes(dir["raw.patch"]))))!;
        Assert.That(error.Message, Does.StartWith("delta cannot be applied: zstd decompress failed"));
    }

    [Test]
    public async Task Truncated_and_corrupt_deltas_are_refused()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(1 << 20, 21);
        var newContent = TestData.Edit(oldContent, 22);
        var delta = await DiffAsync(dir.Write("old", oldContent), dir.Write("new", newContent));
        var target = new DeltaTarget(Digest.Compute(newContent), newContent.Length);

        foreach (var cut in new[] { 5, 40, delta.Length / 2, delta.Length - 1 })
            await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir["old"], delta[..cut], target), $"cut at {cut}");

        var flipped = (byte[])delta.Clone();
        flipped[^10] ^= 0x20;
        await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir["old"], flipped, target));
    }

    [Test]
    public async Task Delta_for_another_target_is_refused()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(256 * 1024, 23);
        var delta = await DiffAsync(dir.Write("old", oldContent), dir.Write("new", TestData.Edit(oldContent, 24)));
        var elsewhere = TestData.Edit(oldContent, 25);
        var error = (await Assert.ThrowsAsync<CorruptDeltaException>(() => ApplyAsync(dir["old"], delta, new DeltaTarget(Digest.Compute(elsewhere), elsewhere.Length))))!;
        Assert.That(error.Message, Does.Contain("not the expected target " + Digest.Compute(elsewhere)));
    }

    [Test]
    public async Task Deltas_apply_into_a_memory_mapped_file_ours_and_the_cli_s_alike()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(3 << 20, 26);
        var newContent = TestData.Edit(oldContent, 27);
        var oldPath = dir.Write("old", oldContent);
        var newPath = dir.Write("new", newContent);
        var target = new DeltaTarget(Digest.Compute(newContent), newContent.Length);
        ExternalTool.RunOk("zstd", "-q", "-19", "--long", $"--patch-from={oldPath}", newPath, "-o", dir["theirs.patch"]);

        foreach (var (name, delta) in new[] { ("ours", await DiffAsync(oldPath, newPath)), ("theirs", File.ReadAllBytes(dir["theirs.patch"])) })
        {
            await ((IDeltaAlgorithm)_zstd).ApplyToFileAsync(Input(oldPath), new MemoryStream(delta), dir[$"out-{name}"], target);
            Assert.That(File.ReadAllBytes(dir[$"out-{name}"]), Is.EqualTo(newContent), name);
        }
    }

    [Test]
    public async Task In_place_decoding_refuses_truncated_corrupt_oversized_and_wrong_base_input()
    {
        using var dir = new TempDirectory();
        var oldContent = TestData.Binary(1 << 20, 28);
        var newContent = TestData.Edit(oldContent, 29);
        var delta = await DiffAsync(dir.Write("old", oldContent), dir.Write("new", newContent));
        var target = new DeltaTarget(Digest.Compute(newContent), newContent.Length);
        var attempt = 0;
        Task Apply(byte[] bytes, DeltaTarget expected, string old = "old") =>
            ((IDeltaAlgorithm)_zstd).ApplyToFileAsync(Input(dir[old]), new MemoryStream(bytes), dir[$"out-{attempt++}"], expected);

        var truncated = (await Assert.ThrowsAsync<CorruptDeltaException>(() => Apply(delta[..(delta.Length / 2)], target)))!;
        Assert.That(truncated.Message, Is.EqualTo("delta cannot be applied: zstd stream is truncated: it ended inside a frame"));
        var flipped = (byte[])delta.Clone();
        flipped[^10] ^= 0x20;
        await Assert.ThrowsAsync<CorruptDeltaException>(() => Apply(flipped, target));
        // A target announced smaller than what the frame holds: the mapped buffer is never overrun.
        ExternalTool.RunOk("zstd", "-q", "-19", $"--patch-from={dir["old"]}", dir["new"], "-o", dir["raw.patch"]);
        using var prefix = NativeView.MapFile(dir["old"]);
        var small = (await Assert.ThrowsAsync<ZstdException>(() =>
            ZstdFileDecoder.DecompressToFileAsync(File.OpenRead(dir["raw.patch"]), dir["raw-out"], newContent.Length - 1, prefix)))!;
        Assert.That(small.Message, Does.StartWith("zstd decompress failed"));
        var wrongBase = dir.Write("wrong", TestData.Edit(oldContent, 30));
        using var wrongPrefix = NativeView.MapFile(wrongBase);
        await Assert.ThrowsAsync<ZstdException>(() =>
            ZstdFileDecoder.DecompressToFileAsync(File.OpenRead(dir["raw.patch"]), dir["raw-wrong"], newContent.Length, wrongPrefix));
    }

    [Test]
    public async Task A_compressed_layer_decodes_in_place_including_empty_and_multi_frame_content()
    {
        using var dir = new TempDirectory();
        var part1 = TestData.Binary(700_000, 30);
        var part2 = TestData.Random(300_000, 31);
        var multiFrame = ZstdTests.Compress(part1).Concat(ZstdTests.Compress(part2)).ToArray();
        await ZstdFileDecoder.DecompressToFileAsync(new MemoryStream(multiFrame), dir["multi"], part1.Length + part2.Length);
        Assert.That(File.ReadAllBytes(dir["multi"]), Is.EqualTo(part1.Concat(part2).ToArray()));

        await ZstdFileDecoder.DecompressToFileAsync(new MemoryStream(ZstdTests.Compress([])), dir["empty"], 0);
        Assert.That(new FileInfo(dir["empty"]).Length, Is.Zero);

        var bigger = (await Assert.ThrowsAsync<ZstdException>(() => ZstdFileDecoder.DecompressToFileAsync(new MemoryStream(ZstdTests.Compress(part1)), dir["short"], part1.Length + 10)))!;
        Assert.That(bigger.Message, Is.EqualTo($"zstd stream decoded to {part1.Length} bytes, not the expected {part1.Length + 10}"));
    }
}
