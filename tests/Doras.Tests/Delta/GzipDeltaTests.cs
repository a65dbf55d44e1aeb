using System.Formats.Tar;
using System.IO.Compression;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Gzip;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>Deltas between gzip files whose exact bytes the device must get (a .tgz, a .gz image).</summary>
public class GzipDeltaTests
{
    private static readonly IDeltaAlgorithm Gzip = DeltaAlgorithms.Default(zstdLevel: 3).Find("gzip")!;

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
        await Gzip.EncodeAsync(old, @new, delta);
        await Gzip.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.tgz"], new DeltaTarget(@new.Digest, @new.Size));

        Assert.That(File.ReadAllBytes(dir["out.tgz"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        Assert.That(delta.Length, Is.LessThan(@new.Size / 20), "the delta is between the decompressed versions");
        // An independent decoder agrees on the content.
        Assert.That(ExternalTool.Run("gzip", "-t", dir["out.tgz"]).ExitCode, Is.Zero);
        Assert.That(Directory.GetDirectories(dir.Path, ".doras-gzip-*"), Is.Empty, "decompressed versions are removed");
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
        await Gzip.EncodeAsync(old, @new, gzipAware);
        Assert.That(byteLevel.Length, Is.GreaterThan(@new.Size / 2));
        Assert.That(gzipAware.Length * 10, Is.LessThan(byteLevel.Length));
    }

    [Test]
    public async Task A_gzip_file_zlib_cannot_reproduce_is_refused_so_the_device_downloads_it_whole()
    {
        using var dir = new TempDirectory();
        var old = Input(ZlibGzip(dir, "v1.tgz", Tar(1), 9));
        // Stored (uncompressed) deflate blocks from .NET's own compressor: no zlib setting we try makes them.
        await using (var file = File.Create(dir["v2.tgz"]))
        await using (var gzip = new GZipStream(file, CompressionLevel.NoCompression))
            gzip.Write(Tar(2));
        var e = (await Assert.ThrowsAsync<IncompatibleArtifactException>(() => Gzip.EncodeAsync(old, Input(dir["v2.tgz"]), new MemoryStream())))!;
        Assert.That(e.Message, Is.EqualTo("the new version's gzip stream was not made by zlib with any settings tried, so it cannot be rebuilt exactly"));
    }

    [Test]
    public async Task Files_that_are_not_single_gzip_members_are_refused()
    {
        using var dir = new TempDirectory();
        var plain = Input(dir.Write("plain", Tar(1)));
        var e = (await Assert.ThrowsAsync<IncompatibleArtifactException>(() => Gzip.EncodeAsync(plain, plain, new MemoryStream())))!;
        Assert.That(e.Message, Is.EqualTo("the versions are not both gzip files"));

        var one = File.ReadAllBytes(ZlibGzip(dir, "one.gz", Tar(1), 9));
        var twoMembers = Input(dir.Write("two.gz", [.. one, .. one]));
        e = (await Assert.ThrowsAsync<IncompatibleArtifactException>(() => Gzip.EncodeAsync(Input(dir["one.gz"]), twoMembers, new MemoryStream())))!;
        Assert.That(e.Message, Is.EqualTo("the gzip file has more than one member or trailing bytes"));
    }

    [Test]
    public async Task Damaged_recipes_and_wrong_bases_are_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory();
        var old = Input(ZlibGzip(dir, "v1.tgz", Tar(1), 9));
        var @new = Input(ZlibGzip(dir, "v2.tgz", Tar(2), 9));
        var delta = new MemoryStream();
        await Gzip.EncodeAsync(old, @new, delta);
        var bytes = delta.ToArray();
        var headerLength = (await DeltaHeader.ReadAsync(new MemoryStream(bytes), default)).Header is not null
            ? new DeltaHeader(old.Digest, old.Size, @new.Digest, @new.Size, "gzip").ToBytes().Length
            : throw new AssertionException("no delta header");
        var target = new DeltaTarget(@new.Digest, @new.Size);

        async Task<string> Refusal(byte[] damaged, DeltaInput baseVersion)
        {
            var output = dir["out-" + Guid.NewGuid().ToString("N")];
            var error = (await Assert.ThrowsAsync<CorruptDeltaException>(() => Gzip.ApplyToFileAsync(baseVersion, new MemoryStream(damaged), output, target)))!;
            return error.Message;
        }

        var badVersion = (byte[])bytes.Clone();
        badVersion[headerLength] = 7;
        Assert.That(await Refusal(badVersion, old), Is.EqualTo("gzip delta has an unknown recipe version 7"));
        var badLevel = (byte[])bytes.Clone();
        badLevel[headerLength + 1] = 42;
        Assert.That(await Refusal(badLevel, old), Does.StartWith("gzip delta has invalid deflate settings"));
        Assert.That(await Refusal(bytes[..(headerLength + 3)], old), Is.EqualTo("gzip delta is truncated in its recipe"));
        var other = Input(ZlibGzip(dir, "other.tgz", Tar(2), 6));
        Assert.That(await Refusal(bytes, other), Does.StartWith("delta was made for base "));
        var corruptInner = (byte[])bytes.Clone();
        corruptInner[^5] ^= 0xFF;
        Assert.That(await Refusal(corruptInner, old), Does.StartWith("delta cannot be applied").Or.StartWith("bsdiff delta").Or.StartWith("tardiff delta").Or.Contains("produced"));
    }
}
