using System.Formats.Tar;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Tardiff;
using Doras.Delta.Zstd;
using Doras.Oci.Model;
using FsCheck;
using FsCheck.Fluent;
using TestData = Doras.Tests.Support.TestData;

namespace Doras.Tests.Delta;

public class TardiffTests
{
    private static readonly IDeltaAlgorithm Tardiff = DeltaAlgorithms.Default(zstdLevel: 3).Find("tardiff")!;
    private static readonly DateTime Then = new(2024, 5, 1, 12, 0, 0, DateTimeKind.Utc);

    /// <summary>Version 1 of a small tree: text, binaries, a long path, a script, a symlink.</summary>
    private static void WriteVersion1(TempDirectory dir, string root)
    {
        dir.Write($"{root}/a.txt", TestData.Binary(50_000, 1));
        dir.Write($"{root}/big.bin", TestData.Binary(300_000, 2));
        dir.Write($"{root}/docs/readme.md", "# readme\n"u8.ToArray());
        dir.Write($"{root}/old-name.dat", TestData.Random(20_000, 3));
        dir.Write($"{root}/lib/moved.js", TestData.Binary(40_000, 4));
        dir.Write($"{root}/gone.txt", "removed in version 2"u8.ToArray());
        dir.Write($"{root}/{new string('d', 120)}/{new string('f', 110)}.txt", TestData.Binary(5_000, 5));
        dir.Write($"{root}/run.sh", "#!/bin/sh\necho 1\n"u8.ToArray());
        File.SetUnixFileMode(dir[$"{root}/run.sh"], (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(dir[$"{root}/current"], "a.txt");
        foreach (var file in Directory.EnumerateFiles(dir[root], "*", SearchOption.AllDirectories))
            if (new FileInfo(file).LinkTarget is null) File.SetLastWriteTimeUtc(file, Then);
    }

    /// <summary>Version 2: one edit, a rename, a move with edits, a new file, a removal, a mode, time and link change.</summary>
    private static void WriteVersion2(TempDirectory dir, string root)
    {
        WriteVersion1(dir, root);
        File.WriteAllBytes(dir[$"{root}/big.bin"], TestData.Edit(TestData.Binary(300_000, 2), 7, edits: 10));
        File.Move(dir[$"{root}/old-name.dat"], dir[$"{root}/renamed.dat"]);
        Directory.CreateDirectory(dir[$"{root}/src"]);
        File.Delete(dir[$"{root}/lib/moved.js"]);
        dir.Write($"{root}/src/moved.js", TestData.Edit(TestData.Binary(40_000, 4), 8, edits: 5));
        dir.Write($"{root}/new.bin", TestData.Random(30_000, 9));
        File.Delete(dir[$"{root}/gone.txt"]);
        File.SetUnixFileMode(dir[$"{root}/run.sh"], (UnixFileMode)0b111_000_000);
        File.SetLastWriteTimeUtc(dir[$"{root}/run.sh"], Then.AddDays(1));
        File.Delete(dir[$"{root}/current"]);
        File.CreateSymbolicLink(dir[$"{root}/current"], "renamed.dat");
    }

    /// <summary>Packs a tree with our packer (pax) or GNU tar in its own formats (GNU long names, ustar prefixes).</summary>
    private static async Task<string> PackAsync(TempDirectory dir, string root, string format)
    {
        var tar = dir[root + ".tar"];
        if (format == "pax")
        {
            await using var output = File.Create(tar);
            await TarPacking.PackAsync(dir[root], output);
        }
        else
        {
            ExternalTool.RunOk("tar", $"--format={format}", "--sort=name", "-cf", tar, "-C", dir[root], ".");
        }
        return tar;
    }

    private static DeltaInput Input(string path) => new(path, Digest.Compute(File.ReadAllBytes(path)), new FileInfo(path).Length);

    /// <summary>Versions 1 and 2 of the test tree as pax tars, and tardiff's delta between them.</summary>
    private static async Task<(DeltaInput Old, DeltaInput New, MemoryStream Delta)> EncodedVersionsAsync(TempDirectory dir)
    {
        WriteVersion1(dir, "v1");
        WriteVersion2(dir, "v2");
        var (old, @new) = (Input(await PackAsync(dir, "v1", "pax")), Input(await PackAsync(dir, "v2", "pax")));
        var delta = new MemoryStream();
        await Tardiff.EncodeAsync(old, @new, delta);
        return (old, @new, delta);
    }

    [TestCase("pax")]
    [TestCase("gnu")]
    [TestCase("posix")]
    public async Task A_changed_tree_is_rebuilt_byte_for_byte_and_unchanged_or_renamed_files_are_not_sent(string format)
    {
        using var dir = new TempDirectory();
        WriteVersion1(dir, "v1");
        WriteVersion2(dir, "v2");
        var (old, @new) = (Input(await PackAsync(dir, "v1", format)), Input(await PackAsync(dir, "v2", format)));

        var delta = new MemoryStream();
        await Tardiff.EncodeAsync(old, @new, delta);
        await Tardiff.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.tar"], new DeltaTarget(@new.Digest, @new.Size));

        Assert.That(File.ReadAllBytes(dir["out.tar"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        // 30 000 random bytes of the new file must be sent; the 20 000 of the renamed one must not be.
        Assert.That(delta.Length, Is.LessThan(30_000 + 12_000), "renamed and unchanged files are referenced, not re-sent");
    }

    /// <summary>
    /// The operation stream is compressed once whole, its length pledged, so zstd sizes its level-19 tables to it, not to
    /// the new tree (prettier's 8.5 MB tar makes a 1.4 MB stream: 130 -> 74 MiB of build memory).
    /// </summary>
    [Test]
    public async Task The_operation_stream_is_one_frame_that_declares_its_length()
    {
        using var dir = new TempDirectory();
        var (old, @new, delta) = await EncodedVersionsAsync(dir);
        var stream = new MemoryStream(delta.ToArray());
        var (_, unconsumed) = await DeltaHeader.ReadAsync(stream, CancellationToken.None);
        var frame = delta.ToArray()[((int)stream.Position - unconsumed.Length)..];
        await using var decoder = new Doras.Delta.Zstd.ZstdDecoderStream(new MemoryStream(frame), new Doras.Delta.Zstd.ZstdDecompressionOptions());
        var operations = new MemoryStream();
        await decoder.CopyToAsync(operations);
        Assert.That(operations.Length, Is.GreaterThan(30_000), "the changed file's bytes are in it");
        Assert.That(ZstdFrameHeader.ContentSize(frame), Is.EqualTo(operations.Length));
        Assert.That(Directory.GetFiles(dir.Path, ".doras-*"), Is.Empty, "no spool is left");
    }

    /// <summary>
    /// A relinked program inside the tree (as in a container layer) is sent as its bsdiff-exe delta, which follows moved
    /// code; the same tree without that operation costs more, and both rebuild the tar byte for byte.
    /// </summary>
    [Test]
    public async Task A_changed_executable_in_the_tree_is_sent_as_its_bsdiff_exe_delta()
    {
        using var dir = new TempDirectory();
        var program = SyntheticElf.Random(Doras.Delta.Executables.InstructionSet.X64, 5, functions: 700, data: 400, new SyntheticElf.Layout(0x400000, 0x600000, 2, 0x4000));
        dir.Write("v1/bin/app", program.Link());
        dir.Write("v1/etc/app.conf", "answer = 41\n"u8.ToArray());
        dir.Write("v2/bin/app", program.Next(105, edits: 40, bssGrowth: 0x100).Link());
        dir.Write("v2/etc/app.conf", "answer = 41\n"u8.ToArray());
        var (old, @new) = (Input(await PackAsync(dir, "v1", "gnu")), Input(await PackAsync(dir, "v2", "gnu")));

        using (var oldView = NativeView.MapFile(old.Path))
        using (var newView = NativeView.MapFile(@new.Path))
            Assert.That(TardiffDelta.Write(oldView, newView, Stream.Null, level: 3, bsdiffMaxBytes: 1 << 30).Executable, Is.EqualTo(1), "the program goes by bsdiff-exe");
        var delta = new MemoryStream();
        await Tardiff.EncodeAsync(old, @new, delta);
        await Tardiff.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.tar"], new DeltaTarget(@new.Digest, @new.Size));
        Assert.That(File.ReadAllBytes(dir["out.tar"]), Is.EqualTo(File.ReadAllBytes(@new.Path)));
        Assert.That(Directory.GetFiles(dir.Path, ".doras-tardiff-member-*"), Is.Empty, "the member's work file is gone");

        var lzma = BsdiffExeTests.Encode(new BsdiffLzmaAlgorithm(), BsdiffExeTests.Write(dir, File.ReadAllBytes(dir["v1/bin/app"]), File.ReadAllBytes(dir["v2/bin/app"]), "-lzma"));
        TestContext.Out.WriteLine($"tardiff with bsdiff-exe: {delta.Length} bytes; bsdiff-lzma of the program alone: {lzma.Length}");
        Assert.That(delta.Length, Is.LessThan(lzma.Length * 0.6), "the tree's delta is about the program's bsdiff-exe delta, well under bsdiff-lzma's");
    }

    [Test]
    public async Task Members_are_matched_by_path_content_and_file_name()
    {
        using var dir = new TempDirectory();
        WriteVersion1(dir, "v1");
        WriteVersion2(dir, "v2");
        using var old = NativeView.MapFile(await PackAsync(dir, "v1", "pax"));
        using var @new = NativeView.MapFile(await PackAsync(dir, "v2", "pax"));
        var stats = TardiffDelta.Write(old, @new, Stream.Null, level: 3, bsdiffMaxBytes: 1 << 30);

        // renamed.dat (by content) and src/moved.js (by file name); a.txt, readme, the long path, docs/, lib/ unchanged.
        Assert.That(stats.Renamed, Is.EqualTo(2));
        Assert.That(stats.Copied, Is.GreaterThanOrEqualTo(5));
        Assert.That(stats.Added, Is.EqualTo(2), "new.bin and src/ have nothing to be expressed against");
        Assert.That(stats.Bsdiff, Is.GreaterThanOrEqualTo(2), "big.bin and src/moved.js are small deltas");
    }

    [Test]
    public async Task One_old_member_is_the_base_of_a_bounded_number_of_deltas()
    {
        // Every d*/big of the new tree matches the old tree's only big by file name; each delta against it would index
        // its 1 MB again. Past twice both archives' bytes the members go as they are, and the tree still rebuilds.
        using var dir = new TempDirectory();
        var old = PackInMemory(new() { ["big"] = TestData.Binary(1 << 20, 31) });
        var @new = PackInMemory(Enumerable.Range(0, 40).ToDictionary(i => $"d{i:D2}/big", i => TestData.Random(600, 32 + i)));
        using var oldView = NativeView.Pin(old);
        using var newView = NativeView.Pin(@new);
        var stats = TardiffDelta.Write(oldView, newView, Stream.Null, level: 3, bsdiffMaxBytes: 1 << 30);

        Assert.That(stats.Renamed, Is.EqualTo(40), "each matched by file name");
        Assert.That(stats.Literal, Is.EqualTo(38), "two data deltas against big fit in twice the archives (2.3 MB), the other 38 go as they are");
        var (oldInput, newInput) = (Input(dir.Write("v1.tar", old)), Input(dir.Write("v2.tar", @new)));
        var delta = new MemoryStream();
        await Tardiff.EncodeAsync(oldInput, newInput, delta);
        await Tardiff.ApplyToFileAsync(oldInput, new MemoryStream(delta.ToArray()), dir["out.tar"], new DeltaTarget(newInput.Digest, newInput.Size));
        Assert.That(File.ReadAllBytes(dir["out.tar"]), Is.EqualTo(@new));
    }

    [Test]
    public void A_member_changed_in_place_keeps_its_delta_after_members_matched_by_file_name()
    {
        // Six small */model.bin match the old tree's only model.bin by file name and spend the budget (each delta against
        // it counts its 1 MB); the changed data/model.bin, matched by path, still goes by a delta, not as its 1 MB.
        var model = TestData.Binary(1 << 20, 51);
        var old = PackInMemory(new() { ["data/model.bin"] = model });
        var @new = PackInMemory(new()
        {
            ["a/model.bin"] = TestData.Random(600, 52), ["b/model.bin"] = TestData.Random(600, 53), ["c/model.bin"] = TestData.Random(600, 54),
            ["d/model.bin"] = TestData.Random(600, 56), ["e/model.bin"] = TestData.Random(600, 57), ["f/model.bin"] = TestData.Random(600, 58),
            ["data/model.bin"] = TestData.Edit(model, 55, edits: 4),
        });
        using var oldView = NativeView.Pin(old);
        using var newView = NativeView.Pin(@new);
        var output = new MemoryStream();
        var stats = TardiffDelta.Write(oldView, newView, output, level: 3, bsdiffMaxBytes: 1 << 30);

        Assert.That(stats.Renamed, Is.EqualTo(6));
        Assert.That(stats.Literal, Is.GreaterThanOrEqualTo(1), "a file-name match past the budget goes as it is");
        Assert.That(output.Length, Is.LessThan(100_000), "data/model.bin is a delta of its few edits");
    }

    [Test]
    public async Task An_applied_tree_extracts_with_its_modes_times_and_symlinks()
    {
        using var dir = new TempDirectory();
        var (old, @new, delta) = await EncodedVersionsAsync(dir);
        await Tardiff.ApplyToFileAsync(old, new MemoryStream(delta.ToArray()), dir["out.tar"], new DeltaTarget(@new.Digest, @new.Size));

        await using (var tar = File.OpenRead(dir["out.tar"])) await TarPacking.ExtractAsync(tar, dir["extracted"]);
        Assert.That(File.GetUnixFileMode(dir["extracted/run.sh"]), Is.EqualTo((UnixFileMode)0b111_000_000));
        Assert.That(File.GetLastWriteTimeUtc(dir["extracted/run.sh"]), Is.EqualTo(Then.AddDays(1)));
        Assert.That(new FileInfo(dir["extracted/current"]).LinkTarget, Is.EqualTo("renamed.dat"));
        Assert.That(File.ReadAllBytes(dir["extracted/renamed.dat"]), Is.EqualTo(TestData.Random(20_000, 3)));
        Assert.That(File.Exists(dir["extracted/gone.txt"]), Is.False);
    }

    [Test]
    public async Task Content_that_is_not_a_tar_is_refused_so_auto_moves_on()
    {
        using var dir = new TempDirectory();
        var old = Input(dir.Write("old", TestData.Binary(10_000, 1)));
        var @new = Input(dir.Write("new", TestData.Binary(10_000, 2)));
        var e = (await Assert.ThrowsAsync<IncompatibleArtifactException>(() => Tardiff.EncodeAsync(old, @new, new MemoryStream())))!;
        Assert.That(e.Message, Does.StartWith("not a tar archive: bad header checksum at 0"));
    }

    public static IEnumerable<TestCaseData> HostileOperations()
    {
        yield return new TestCaseData(new byte[] { 1, 0x80, 0x80, 0x04, 10, 0 }, "tardiff delta refers to bytes [65536, +10) outside the old archive of 10240 bytes").SetName("copy outside the old archive");
        yield return new TestCaseData(new byte[] { 9 }, "tardiff delta has an unknown operation 9").SetName("unknown operation");
        yield return new TestCaseData(new byte[] { 1, 0, 10 }, "tardiff delta is truncated (no end marker)").SetName("no end marker");
        yield return new TestCaseData(new byte[] { 2, 5, 1, 2 }, "tardiff delta is truncated inside a literal").SetName("truncated literal");
        yield return new TestCaseData(new byte[] { 2, 0x80, 0x80, 0x80, 0x80, 0x10 }, "tardiff delta produces more than the limit of 10240 bytes").SetName("over the output limit");
        yield return new TestCaseData(new byte[] { 0, 0 }, "tardiff delta has data after its end marker").SetName("data after the end");
        yield return new TestCaseData(new byte[] { 3, 0, 100, 50, 3, 101, 0, 0, 0 }, "bsdiff delta has a record (101, 0) outside the old file of 100 bytes at 0").SetName("bsdiff member reaching past its region");
        yield return new TestCaseData(new byte[] { 4, 0, 100, 50, 4, 1, 2, 3, 4, 0 }, "tardiff delta has a member that cannot be decoded").SetName("corrupt zstd member");
    }

    [TestCaseSource(nameof(HostileOperations))]
    public async Task Hostile_operations_are_refused(byte[] operations, string expected)
    {
        using var dir = new TempDirectory();
        var old = dir.Write("old", new byte[10_240]);
        var e = (await Assert.ThrowsAsync<CorruptDeltaException>(() => TardiffDelta.ApplyAsync(old, new MemoryStream(operations), new MemoryStream(), maxOutputBytes: 10_240)))!;
        Assert.That(e.Message, Does.StartWith(expected));
    }

    /// <summary>A random tree: up to 12 files from a pool of names, random or structured content.</summary>
    public sealed record Tree(int Seed, int Files);

    /// <summary>
    /// Property: for random trees and random changes (edits, renames, removals, additions), the delta rebuilds
    /// the new tar exactly.
    /// </summary>
    [Test]
    public void Random_tree_changes_round_trip()
    {
        var trees = (from seed in Gen.Choose(0, 1_000_000) from files in Gen.Choose(0, 12) select new Tree(seed, files)).ToArbitrary();
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(20), Prop.ForAll(trees, trees, (before, changes) =>
        {
            using var dir = new TempDirectory();
            var files = RandomFiles(before);
            var changed = Change(files, changes);
            var old = Input(dir.Write("old.tar", PackInMemory(files)));
            var @new = Input(dir.Write("new.tar", PackInMemory(changed)));
            var delta = new MemoryStream();
            Tardiff.EncodeAsync(old, @new, delta).GetAwaiter().GetResult();
            var output = new MemoryStream();
            Tardiff.ApplyAsync(old, new MemoryStream(delta.ToArray()), output, new DeltaTarget(@new.Digest, @new.Size)).GetAwaiter().GetResult();
            return output.ToArray().AsSpan().SequenceEqual(File.ReadAllBytes(@new.Path));
        }));
    }

    private static Dictionary<string, byte[]> RandomFiles(Tree tree)
    {
        var random = new Random(tree.Seed);
        var files = new Dictionary<string, byte[]>();
        for (var i = 0; i < tree.Files; i++)
        {
            var size = random.Next(0, 3) switch { 0 => random.Next(0, 10), 1 => random.Next(10, 2_000), _ => random.Next(2_000, 60_000) };
            files[$"dir{random.Next(3)}/file{random.Next(20)}.bin"] = random.Next(2) == 0 ? TestData.Random(size, random.Next()) : TestData.Binary(size, random.Next());
        }
        return files;
    }

    private static Dictionary<string, byte[]> Change(Dictionary<string, byte[]> files, Tree changes)
    {
        var random = new Random(changes.Seed);
        var changed = new Dictionary<string, byte[]>(files);
        foreach (var (path, content) in files)
        {
            switch (random.Next(5))
            {
                case 0: changed[path] = TestData.Edit(content, random.Next(), random.Next(1, 10)); break;
                case 1: changed.Remove(path); changed[$"moved/{path}"] = content; break;
                case 2: changed.Remove(path); break;
            }
        }
        foreach (var (path, content) in RandomFiles(changes)) changed.TryAdd("new/" + path, content);
        return changed;
    }

    private static byte[] PackInMemory(Dictionary<string, byte[]> files)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var (path, content) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(content), ModificationTime = Then });
        return tar.ToArray();
    }
}
