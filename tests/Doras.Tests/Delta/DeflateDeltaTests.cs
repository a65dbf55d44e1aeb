using System.Formats.Tar;
using System.IO.Compression;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Deflate;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>Deltas between gzip files and zip archives whose exact bytes the device must get (.tgz, .gz image, .zip).</summary>
public class DeflateDeltaTests
{
    private static readonly IDeltaAlgorithm Deflate = DeltaAlgorithms.Default(zstdLevel: 3).Find("deflate")!;

    /// <summary>A gzip header as zlib-based tools write it: a file name, a modification time, OS Unix.</summary>
    private static readonly byte[] NamedHeader = [0x1f, 0x8b, 8, 8, 0x00, 0x2f, 0x60, 0x66, 2, 3, .. "site.tar"u8, 0];

    /// <summary>A tar of a few files, version 1 or 2 (one file edited, one added).</summary>
    private static byte[] Tar(int version)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            void Add(string name, byte[] content) => writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name)
                { DataStream = new MemoryStream(content), ModificationTime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero) });
            Add("app.js", version == 1 ? TestData.Binary(400_000, 1) : TestData.Edit(TestData.Binary(400_000, 1), 2, edits: 8));
            Add("logo.bin", TestData.Random(50_000, 3));
            if (version == 2) Add("notes.txt", "new in version 2"u8.ToArray());
        }
        return tar.ToArray();
    }

    /// <summary>Compresses with the system's zlib (as Python, Java and dpkg do) at the given level.</summary>
    private static string ZlibGzip(TempDirectory dir, string name, byte[] content, int level)
    {
        var contentPath = dir.Write(name + ".content", content);
        using (var output = File.Create(dir[name]))
            GzipFile.Compress(contentPath, NamedHeader, new GzipSettings(level), output);
        return dir[name];
    }

    private static DeltaInput Input(string path) => new(path, Digest.Compute(File.ReadAllBytes(path)), new FileInfo(path).Length);

    [TestCase(9)]
    [TestCase(6)]
    [TestCase(1)]
    public async Task A_zlib_made_gzip_file_is_rebuilt_byte_for_byte_from_a_small_delta(int level)
    {
        using var dir = new TempDirectory();
        var old = Input(ZlibGzip(dir, "v1.tgz", Tar(1), level));
        var @new = Input(ZlibGzip(dir, "v2.tgz", Tar(2), level));

        var delta = new MemoryStream();
        await Deflate.EncodeAsync(old, @new, delta);
        await Deflate.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.tgz"], new DeltaTarget(@new.Digest, @new.Size));

        Assert.That(File.ReadAllBytes(dir["out.tgz"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        Assert.That(delta.Length, Is.LessThan(@new.Size / 20), "the delta is between the decompressed versions");
        // An independent decoder agrees on the content.
        Assert.That(ExternalTool.Run("gzip", "-t", dir["out.tgz"]).ExitCode, Is.Zero);
        Assert.That(Directory.GetDirectories(dir.Path, ".doras-deflate-*"), Is.Empty, "expanded versions are removed");
    }

    [Test]
    public async Task A_byte_level_delta_between_the_same_files_saves_nothing()
    {
        // Why the gzip algorithm exists: the compressed bytes of two close versions have almost nothing in common.
        using var dir = new TempDirectory();
        var old = Input(ZlibGzip(dir, "v1.tgz", Tar(1), 9));
        var @new = Input(ZlibGzip(dir, "v2.tgz", Tar(2), 9));
        var (byteLevel, gzipAware) = (new MemoryStream(), new MemoryStream());
        await DeltaAlgorithms.Default(zstdLevel: 3).Find("zstd")!.EncodeAsync(old, @new, byteLevel);
        await Deflate.EncodeAsync(old, @new, gzipAware);
        Assert.That(byteLevel.Length, Is.GreaterThan(@new.Size / 2));
        Assert.That(gzipAware.Length * 10, Is.LessThan(byteLevel.Length));
    }

    /// <summary>A zip archive written here with the system's zlib (entries: name, content, deflate level or null for stored).</summary>
    private static string Zip(TempDirectory dir, string name, params (string Name, byte[] Content, int? Level)[] entries)
    {
        var archive = new MemoryStream();
        var central = new MemoryStream();
        foreach (var (entryName, content, level) in entries)
        {
            // A gzip member from zlib, less its header and trailer, is the raw deflate stream; its trailer has the CRC.
            var gz = new MemoryStream();
            GzipFile.Compress(dir.Write(name + ".entry", content), [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], new GzipSettings(level ?? 6), gz);
            var crc = BitConverter.ToUInt32(gz.ToArray(), (int)gz.Length - 8);
            var (data, method) = level is null ? (content, (ushort)0) : (gz.ToArray()[10..^8], (ushort)8);
            var nameBytes = System.Text.Encoding.UTF8.GetBytes(entryName);
            var offset = (uint)archive.Length;
            void Common(BinaryWriter w)
            {
                w.Write((ushort)20); w.Write((ushort)0); w.Write(method); w.Write((ushort)0); w.Write((ushort)0x5821);
                w.Write(crc); w.Write((uint)data.Length); w.Write((uint)content.Length); w.Write((ushort)nameBytes.Length); w.Write((ushort)0);
            }
            var local = new BinaryWriter(archive);
            local.Write(0x04034b50u); Common(local); local.Write(nameBytes); local.Write(data);
            var entry = new BinaryWriter(central);
            entry.Write(0x02014b50u); entry.Write((ushort)0x031e); Common(entry);
            entry.Write((ushort)0); entry.Write((ushort)0); entry.Write((ushort)0); entry.Write(0u); entry.Write(offset); entry.Write(nameBytes);
        }
        var directoryOffset = (uint)archive.Length;
        archive.Write(central.ToArray());
        var end = new BinaryWriter(archive);
        end.Write(0x06054b50u); end.Write((ushort)0); end.Write((ushort)0); end.Write((ushort)entries.Length); end.Write((ushort)entries.Length);
        end.Write((uint)central.Length); end.Write(directoryOffset); end.Write((ushort)0);
        return dir.Write(name, archive.ToArray());
    }

    [Test]
    public async Task A_zip_archive_is_rebuilt_byte_for_byte_including_streams_zlib_cannot_make()
    {
        using var dir = new TempDirectory();
        var app = TestData.Binary(400_000, 21);
        var old = Input(Zip(dir, "v1.zip", ("app.js", app, 9), ("logo.png", TestData.Random(30_000, 22), null), ("readme.txt", "version 1"u8.ToArray(), 6)));
        var @new = Input(Zip(dir, "v2.zip",
            ("app.js", TestData.Edit(app, 23, edits: 6), 9),
            ("logo.png", TestData.Random(30_000, 22), null),
            ("readme.txt", "version 2"u8.ToArray(), 6),
            ("data.bin", TestData.Binary(100_000, 24), 0))); // zlib level 0: stored blocks, a setting not tried: a recipe

        var delta = new MemoryStream();
        await Deflate.EncodeAsync(old, @new, delta);
        await Deflate.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.zip"], new DeltaTarget(@new.Digest, @new.Size));

        Assert.That(File.ReadAllBytes(dir["out.zip"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        // The edited entry costs a few KiB; the one zlib's settings tried do not reproduce (stored blocks) is rebuilt from a recipe.
        Assert.That(delta.Length, Is.LessThan(60_000));
        using var reader = ZipFile.OpenRead(dir["out.zip"]);
        Assert.That(reader.Entries.Select(e => e.FullName), Is.EqualTo(new[] { "app.js", "logo.png", "readme.txt", "data.bin" }));
        using var readme = reader.GetEntry("readme.txt")!.Open();
        Assert.That(new StreamReader(readme).ReadToEnd(), Is.EqualTo("version 2"));
    }

    [Test]
    public async Task Recipes_are_analyzed_for_a_bounded_number_of_streams_and_the_rest_stay_compressed()
    {
        // A zip of 300 small entries from .NET's compressor (zlib-ng: no zlib setting we try makes them, so each needs a
        // recipe), and each analysis costs milliseconds however small its stream. A version under 1 MiB gets 256 recipes;
        // the other entries stay compressed in the expanded form, and the delta still rebuilds the archive byte for byte.
        using var dir = new TempDirectory();
        var contents = Enumerable.Range(0, 300).Select(i => TestData.Binary(2_000, 100 + i)).ToArray();
        var old = Input(DotnetZip(dir, "v1.zip", contents[..299]));
        var @new = Input(DotnetZip(dir, "v2.zip", contents));

        var delta = new MemoryStream();
        await Deflate.EncodeAsync(old, @new, delta);
        await Deflate.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.zip"], new DeltaTarget(@new.Digest, @new.Size));

        Assert.That(File.ReadAllBytes(dir["out.zip"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        Assert.That(RecipeCount(delta.ToArray(), old, @new), Is.EqualTo(256));
    }

    /// <summary>A zip written by .NET's ZipArchive, each entry deflated at its fastest level.</summary>
    private static string DotnetZip(TempDirectory dir, string name, byte[][] contents)
    {
        using (var zip = ZipFile.Open(dir[name], ZipArchiveMode.Create))
            for (var i = 0; i < contents.Length; i++)
            {
                using var entry = zip.CreateEntry($"e{i}.bin", CompressionLevel.Fastest).Open();
                entry.Write(contents[i]);
            }
        return dir[name];
    }

    /// <summary>How many regions of a deflate delta are rebuilt from recipes (the others by zlib's settings).</summary>
    private static int RecipeCount(byte[] delta, DeltaInput old, DeltaInput @new)
    {
        var input = new MemoryStream(delta) { Position = new DeltaHeader(old.Digest, old.Size, @new.Digest, @new.Size, "deflate").ToBytes().Length };
        Assert.That(input.ReadByte(), Is.EqualTo(2), "recipe version");
        var nameLength = input.ReadByte();
        input.Position += nameLength; // container name
        long Varint()
        {
            long value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = input.ReadByte();
                value |= (long)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return value;
            }
        }
        var recipes = 0;
        for (var count = Varint(); count > 0; count--)
        {
            Varint(); Varint(); Varint(); // offset, inflated and compressed lengths
            if (input.ReadByte() == 0) input.Position += 4; // zlib's settings
            else { recipes++; Varint(); }
        }
        return recipes;
    }

    /// <summary>The kind byte of the first region in a deflate delta (0: zlib settings, 1: reconstruction recipe).</summary>
    private static int FirstRegionKind(byte[] delta, DeltaInput old, DeltaInput @new)
    {
        var input = new MemoryStream(delta) { Position = new DeltaHeader(old.Digest, old.Size, @new.Digest, @new.Size, "deflate").ToBytes().Length };
        Assert.That(input.ReadByte(), Is.EqualTo(2), "recipe version");
        var nameLength = input.ReadByte();
        input.Position += nameLength; // container name
        static void Varint(Stream s) { while ((s.ReadByte() & 0x80) != 0) { } }
        for (var i = 0; i < 4; i++) Varint(input); // count, offset, inflated, compressed
        return input.ReadByte();
    }

    [Test]
    public async Task A_gnu_gzip_tgz_zlib_does_not_reproduce_gets_a_small_delta_through_a_reconstruction_recipe()
    {
        using var dir = new TempDirectory();
        string GnuGzip(string name, byte[] content)
        {
            ExternalTool.RunOk("gzip", "-9", "-n", "-k", dir.Write(name, content));
            return dir[name + ".gz"];
        }
        var old = Input(GnuGzip("v1.tar", Tar(1)));
        var @new = Input(GnuGzip("v2.tar", Tar(2)));

        var delta = new MemoryStream();
        await Deflate.EncodeAsync(old, @new, delta);
        await Deflate.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.tgz"], new DeltaTarget(@new.Digest, @new.Size));

        Assert.That(File.ReadAllBytes(dir["out.tgz"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        Assert.That(FirstRegionKind(delta.ToArray(), old, @new), Is.EqualTo(1), "GNU gzip's stream is rebuilt from a recipe, not by zlib");
        Assert.That(delta.Length, Is.LessThan(@new.Size / 20), "the delta is between the decompressed versions");
    }

    [Test]
    public async Task A_gzip_file_of_stored_blocks_from_dotnet_is_rebuilt_from_a_recipe()
    {
        using var dir = new TempDirectory();
        var old = Input(ZlibGzip(dir, "v1.tgz", Tar(1), 9));
        // Stored (uncompressed) deflate blocks from .NET's own compressor: no zlib setting we try makes them.
        await using (var file = File.Create(dir["v2.tgz"]))
        await using (var gzip = new GZipStream(file, CompressionLevel.NoCompression))
            gzip.Write(Tar(2));
        var @new = Input(dir["v2.tgz"]);
        var delta = new MemoryStream();
        await Deflate.EncodeAsync(old, @new, delta);
        await Deflate.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.tgz"], new DeltaTarget(@new.Digest, @new.Size));
        Assert.That(File.ReadAllBytes(dir["out.tgz"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        Assert.That(FirstRegionKind(delta.ToArray(), old, @new), Is.EqualTo(1));
    }

    [Test]
    public async Task Files_that_are_not_single_gzip_members_are_refused()
    {
        using var dir = new TempDirectory();
        var plain = Input(dir.Write("plain", Tar(1)));
        var e = (await Assert.ThrowsAsync<IncompatibleArtifactException>(() => Deflate.EncodeAsync(plain, plain, new MemoryStream())))!;
        Assert.That(e.Message, Is.EqualTo("the versions are not both gzip files or both zip archives"));

        var one = File.ReadAllBytes(ZlibGzip(dir, "one.gz", Tar(1), 9));
        var twoMembers = Input(dir.Write("two.gz", [.. one, .. one]));
        e = (await Assert.ThrowsAsync<IncompatibleArtifactException>(() => Deflate.EncodeAsync(Input(dir["one.gz"]), twoMembers, new MemoryStream())))!;
        Assert.That(e.Message, Does.StartWith("a version is not a valid gzip file: a deflate stream ends after"));
    }

    [Test]
    public async Task Damaged_recipes_and_wrong_bases_are_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory();
        var old = Input(ZlibGzip(dir, "v1.tgz", Tar(1), 9));
        var @new = Input(ZlibGzip(dir, "v2.tgz", Tar(2), 9));
        var delta = new MemoryStream();
        await Deflate.EncodeAsync(old, @new, delta);
        var bytes = delta.ToArray();
        var headerLength = (await DeltaHeader.ReadAsync(new MemoryStream(bytes), default)).Header is not null
            ? new DeltaHeader(old.Digest, old.Size, @new.Digest, @new.Size, "deflate").ToBytes().Length
            : throw new AssertionException("no delta header");
        var target = new DeltaTarget(@new.Digest, @new.Size);

        async Task<string> Refusal(byte[] damaged, DeltaInput baseVersion)
        {
            var output = dir["out-" + Guid.NewGuid().ToString("N")];
            var error = (await Assert.ThrowsAsync<CorruptDeltaException>(() => Deflate.ApplyToFileAsync(baseVersion, new MemoryStream(damaged), output, target)))!;
            return error.Message;
        }

        var badVersion = (byte[])bytes.Clone();
        badVersion[headerLength] = 7;
        Assert.That(await Refusal(badVersion, old), Is.EqualTo("deflate delta has an unknown recipe version 7"));
        var badContainer = (byte[])bytes.Clone();
        badContainer[headerLength + 2] = (byte)'x'; // "gzip" -> "xzip"
        Assert.That(await Refusal(badContainer, old), Is.EqualTo("deflate delta is for 'xzip' files, which this build does not know"));
        Assert.That(await Refusal(bytes[..(headerLength + 3)], old), Is.EqualTo("deflate delta is truncated in its recipe"));
        var other = Input(ZlibGzip(dir, "other.tgz", Tar(2), 6));
        Assert.That(await Refusal(bytes, other), Does.StartWith("delta was made for base "));
        var corruptInner = (byte[])bytes.Clone();
        corruptInner[^5] ^= 0xFF;
        Assert.That(await Refusal(corruptInner, old), Does.StartWith("delta cannot be applied").Or.StartWith("bsdiff delta").Or.StartWith("tardiff delta").Or.Contains("produced"));
    }
}
