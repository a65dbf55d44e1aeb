using System.Formats.Tar;
using Doras.Delta.Artifacts;

namespace Doras.Tests.Delta;

public class TarPackingTests
{
    private static MemoryStream Tar(params TarEntry[] entries)
    {
        var stream = new MemoryStream();
        using (var writer = new TarWriter(stream, leaveOpen: true))
            foreach (var entry in entries) writer.WriteEntry(entry);
        stream.Position = 0;
        return stream;
    }

    private static PaxTarEntry File(string name, string content = "x") =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)) };

    [Test]
    public async Task Packing_is_deterministic_and_round_trips()
    {
        using var dir = new TempDirectory();
        dir.Write("src/b.txt", "bee"u8.ToArray());
        dir.Write("src/a/deep/c.bin", TestData.Random(10_000, 1));
        System.IO.File.CreateSymbolicLink(dir["src/link"], "a/deep/c.bin");

        var first = new MemoryStream();
        await TarPacking.PackAsync(dir["src"], first);
        var second = new MemoryStream();
        await TarPacking.PackAsync(dir["src"], second);
        Assert.That(first.ToArray(), Is.EqualTo(second.ToArray()));

        first.Position = 0;
        await TarPacking.ExtractAsync(first, dir["out"]);
        Assert.That(System.IO.File.ReadAllText(dir["out/b.txt"]), Is.EqualTo("bee"));
        Assert.That(System.IO.File.ReadAllBytes(dir["out/a/deep/c.bin"]), Is.EqualTo(TestData.Random(10_000, 1)));
        Assert.That(new FileInfo(dir["out/link"]).LinkTarget, Is.EqualTo("a/deep/c.bin"));
    }

    public static IEnumerable<TestCaseData> Hostile()
    {
        yield return new TestCaseData(new TarEntry[] { File("../escape.txt") }, "leads outside the target directory ('..')").SetName("dot-dot");
        yield return new TestCaseData(new TarEntry[] { File("a/../../escape.txt") }, "leads outside the target directory ('..')").SetName("nested dot-dot");
        yield return new TestCaseData(new TarEntry[] { File("/etc/escape.txt") }, "has an absolute path").SetName("absolute");
        yield return new TestCaseData(new TarEntry[] { new PaxTarEntry(TarEntryType.SymbolicLink, "link") { LinkName = "/etc/passwd" } }, "is a symlink to the absolute path '/etc/passwd'").SetName("absolute symlink");
        yield return new TestCaseData(new TarEntry[] { new PaxTarEntry(TarEntryType.SymbolicLink, "link") { LinkName = "../../outside" } }, "leads outside the target directory").SetName("escaping symlink");
        yield return new TestCaseData(new TarEntry[]
        {
            new PaxTarEntry(TarEntryType.SymbolicLink, "sub") { LinkName = "." },
            File("sub/through.txt"),
        }, "is written through a symlink").SetName("write through symlink");
        yield return new TestCaseData(new TarEntry[] { File("twice"), File("twice") }, "appears twice").SetName("duplicate");
        yield return new TestCaseData(new TarEntry[] { new PaxTarEntry(TarEntryType.CharacterDevice, "dev") }, "is a CharacterDevice, which is not extracted").SetName("device node");
    }

    [TestCaseSource(nameof(Hostile))]
    public async Task Hostile_archives_are_refused_and_nothing_escapes(TarEntry[] entries, string expected)
    {
        using var dir = new TempDirectory();
        var target = dir["target/inner"];
        var error = (await Assert.ThrowsAsync<HostileArchiveException>(() => TarPacking.ExtractAsync(Tar(entries), target)))!;
        Assert.That(error.Message, Does.Contain(expected));
        Assert.That(System.IO.File.Exists(dir["target/escape.txt"]) || System.IO.File.Exists(dir["escape.txt"]), Is.False);
    }
}
