using System.Formats.Tar;
using Doras.Delta.Algorithms;
using Doras.Delta.Images;
using Doras.Oci.Model;

namespace Doras.Tests.Images;

/// <summary>The image delta file's reader refuses what no server writes, before allocating for it; the base rule is one tar.</summary>
public class ImageDeltaFormatTests
{
    private static readonly byte[] Manifest = "{\"schemaVersion\":2}"u8.ToArray();

    private static byte[] Valid(params LayerPlan[] plans)
    {
        var output = new MemoryStream();
        ImageDeltaFile.WriteHeader(output, new ImageDeltaHeader(Digest.Compute("old"u8), Digest.Compute(Manifest), Digest.Compute("base"u8), 4), plans.Length);
        foreach (var plan in plans) ImageDeltaFile.WriteLayerAsync(output, plan, plan is LayerPlan.Rebuilt r ? new MemoryStream(new byte[r.DeltaLength]) : null, default).GetAwaiter().GetResult();
        return output.ToArray();
    }

    [Test]
    public void A_written_delta_reads_back_plan_by_plan()
    {
        var bytes = Valid(new LayerPlan.Held(), new LayerPlan.Rebuilt(new LayerRecipe.Zstd(3, true, false), "zstd", 1000, 7), new LayerPlan.Fetch(), new LayerPlan.Foreign());
        var input = new MemoryStream(bytes);
        var (header, count) = ImageDeltaFile.ReadHeader(input);
        Assert.That(count, Is.EqualTo(4));
        Assert.That(header.To, Is.EqualTo(Digest.Compute(Manifest)));
        Assert.That(ImageDeltaFile.ReadLayer(input), Is.InstanceOf<LayerPlan.Held>());
        var rebuilt = (LayerPlan.Rebuilt)ImageDeltaFile.ReadLayer(input);
        Assert.That((rebuilt.Recipe, rebuilt.Algorithm, rebuilt.TarSize, rebuilt.DeltaLength), Is.EqualTo((new LayerRecipe.Zstd(3, true, false), "zstd", 1000L, 7L)));
        input.Position += 7;
        Assert.That(ImageDeltaFile.ReadLayer(input), Is.InstanceOf<LayerPlan.Fetch>());
        Assert.That(ImageDeltaFile.ReadLayer(input), Is.InstanceOf<LayerPlan.Foreign>());
        Assert.That(input.Position, Is.EqualTo(bytes.Length));
    }

    [Test]
    public void Every_truncation_of_a_delta_is_a_clear_error()
    {
        var bytes = Valid(new LayerPlan.Held(), new LayerPlan.Rebuilt(new LayerRecipe.Uncompressed(), "zstd", 10, 5));
        for (var length = 0; length < bytes.Length - 5; length++)
        {
            var input = new MemoryStream(bytes[..length]);
            Assert.Throws<CorruptDeltaException>(() =>
            {
                var (_, count) = ImageDeltaFile.ReadHeader(input);
                for (var i = 0; i < count; i++) ImageDeltaFile.ReadLayer(input);
            }, $"cut at {length}");
        }
    }

    /// <summary>LEB128, as the format's varints are written.</summary>
    private static void WriteVarint(Stream output, long value)
    {
        var v = (ulong)value;
        while (v >= 0x80)
        {
            output.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        output.WriteByte((byte)v);
    }

    [Test]
    public void Claimed_sizes_and_counts_over_the_limits_are_refused_before_anything_is_allocated()
    {
        var huge = new MemoryStream();
        huge.Write("DORASIMG"u8);
        huge.WriteByte(1);
        foreach (var text in new[] { Digest.Compute("a"u8).ToString(), Digest.Compute("b"u8).ToString(), Digest.Compute("c"u8).ToString() })
        {
            huge.WriteByte((byte)text.Length);
            huge.Write(System.Text.Encoding.ASCII.GetBytes(text));
        }
        WriteVarint(huge, 1L); // base size
        WriteVarint(huge, 1L << 40); // a trillion layers
        var error = Assert.Throws<CorruptDeltaException>(() => ImageDeltaFile.ReadHeader(new MemoryStream(huge.ToArray())))!;
        Assert.That(error.Message, Does.Contain("plans 1099511627776 layers, over the limit of 1000"));

        var recipe = new MemoryStream();
        recipe.WriteByte(3); // rebuilt
        recipe.WriteByte(2); // gzip recipe
        WriteVarint(recipe, 1L << 40);
        error = Assert.Throws<CorruptDeltaException>(() => ImageDeltaFile.ReadLayer(new MemoryStream(recipe.ToArray())))!;
        Assert.That(error.Message, Does.Contain("over the limit of 67108864"));

        var claimed = new MemoryStream();
        claimed.WriteByte(3);
        claimed.WriteByte(2);
        WriteVarint(claimed, 60L << 20); // 60 MiB claimed by a 30-byte delta: refused before the allocation
        error = Assert.Throws<CorruptDeltaException>(() => ImageDeltaFile.ReadLayer(new MemoryStream(claimed.ToArray())))!;
        Assert.That(error.Message, Does.Contain("truncated in a gzip recipe"));

        var level = new MemoryStream(new byte[] { 3, 1, 22, 0 });
        error = Assert.Throws<CorruptDeltaException>(() => ImageDeltaFile.ReadLayer(level))!;
        Assert.That(error.Message, Does.Contain("invalid zstd recipe (level 22"), "the ultra levels are more than a device should be asked for");
    }

    [Test]
    public async Task The_base_is_the_old_layers_members_in_order_as_one_tar()
    {
        using var dir = new TempDirectory();
        static byte[] Tar(string name, string content)
        {
            var output = new MemoryStream();
            using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)) });
            return output.ToArray();
        }
        var layers = new[] { Tar("a.txt", "first"), Tar("b.txt", "second") };
        var input = await ImageDeltaBase.WriteAsync(dir["base"], layers.Select(l => (Func<CancellationToken, Task<Stream>>)(_ => Task.FromResult<Stream>(new MemoryStream(l)))), default);
        using var reader = new TarReader(File.OpenRead(dir["base"]));
        var names = new List<string>();
        while (reader.GetNextEntry() is { } entry) names.Add(entry.Name);
        Assert.That(names, Is.EqualTo(new[] { "a.txt", "b.txt" }), "both layers' members, readable as one archive");
        Assert.That(input.Size, Is.EqualTo(new FileInfo(dir["base"]).Length));
        Assert.That(input.Digest, Is.EqualTo(Digest.Compute(File.ReadAllBytes(dir["base"]))));
    }
}
