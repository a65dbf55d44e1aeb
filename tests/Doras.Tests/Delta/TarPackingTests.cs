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

    private static void SetTime(string path, int seconds) =>
        System.IO.File.SetLastWriteTimeUtc(path, new DateTime(2023, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(seconds));

    private static SortedDictionary<string, string> WithoutRoot(SortedDictionary<string, string> snapshot)
    {
        snapshot.Remove("."); // the root is not an entry of the tar
        return snapshot;
    }

    [Test]
    public async Task Packing_stores_links_as_links_never_enters_a_linked_directory_and_round_trips_exactly()
    {
        using var dir = new TempDirectory();
        var files = new (string Name, string Mode)[] { ("a/deep/c.bin", "600"), ("a/run.sh", "755"), ("a/readonly", "444"), ("b.txt", "640"), ("odd", "1751") };
        foreach (var (name, mode) in files)
        {
            dir.Write("src/" + name, TestData.Random(5_000 + name.Length, name.Length));
            System.IO.File.SetUnixFileMode(dir["src/" + name], (UnixFileMode)Convert.ToInt32(mode, 8));
        }
        Directory.CreateDirectory(dir["src/empty"]);
        System.IO.File.CreateSymbolicLink(dir["src/linkdir"], "a");                 // a symlinked directory
        System.IO.File.CreateSymbolicLink(dir["src/dangling"], "nowhere/yet");      // dangling, relative
        System.IO.File.CreateSymbolicLink(dir["src/rel"], "a/deep/c.bin");
        System.IO.File.CreateSymbolicLink(dir["src/a/deep/up"], "../../b.txt");     // '..' that stays inside
        System.IO.File.CreateSymbolicLink(dir["src/a/via"], "../linkdir/deep");     // through a link inside
        var i = 0;
        foreach (var name in files.Select(f => f.Name)) SetTime(dir["src/" + name], ++i);
        foreach (var (name, mode) in new[] { ("a/deep", "700"), ("a", "750"), ("empty", "755") })
        {
            System.IO.File.SetUnixFileMode(dir["src/" + name], (UnixFileMode)Convert.ToInt32(mode, 8));
            SetTime(dir["src/" + name], ++i);
        }

        var tar = new MemoryStream();
        await TarPacking.PackAsync(dir["src"], tar);
        tar.Position = 0;
        var names = new List<string>();
        await using (var reader = new TarReader(tar, leaveOpen: true))
            while (reader.GetNextEntry() is { } entry) names.Add(entry.Name);
        Assert.That(names, Does.Contain("linkdir"));
        Assert.That(names.Where(n => n.StartsWith("linkdir/", StringComparison.Ordinal)), Is.Empty, "a linked directory is not entered");

        tar.Position = 0;
        await TarPacking.ExtractAsync(tar, dir["out"]);
        var expected = WithoutRoot(TreeSnapshot.Take(dir["src"], times: true));
        var actual = WithoutRoot(TreeSnapshot.Take(dir["out"], times: true));
        Assert.That(actual, Is.EqualTo(expected), string.Join("\n", actual.Select(e => $"{e.Key}: {e.Value}")));
        Assert.That(expected["linkdir"], Is.EqualTo("link -> a"));
        Assert.That(expected["dangling"], Is.EqualTo("link -> nowhere/yet"));
        Assert.That(expected["odd"], Does.StartWith("file 1751 "));
    }

    public static IEnumerable<TestCaseData> Escaping()
    {
        yield return new TestCaseData(new[] { ("abs", "/etc") }, "'abs' is a symlink to the absolute path '/etc'").SetName("pack: absolute");
        yield return new TestCaseData(new[] { ("up", "../outside") }, "'up' is a symlink that leads outside the target directory ('../outside')").SetName("pack: dot-dot");
        yield return new TestCaseData(new[] { ("a/up", "../../x") }, "'a/up' is a symlink that leads outside the target directory ('../../x')").SetName("pack: nested dot-dot");
        yield return new TestCaseData(new[] { ("d", "."), ("x", "d/d/d/..") }, "'x' is a symlink that leads outside the target directory ('d/d/d/..')").SetName("pack: chain");
        yield return new TestCaseData(new[] { ("l1", "l2"), ("l2", "l1") }, "'l1' is a symlink loop").SetName("pack: loop");
    }

    [TestCaseSource(nameof(Escaping))]
    public async Task Packing_refuses_a_link_that_leads_outside_and_names_it((string Name, string Target)[] links, string expected)
    {
        using var dir = new TempDirectory();
        dir.Write("src/a/file", [1]);
        foreach (var (name, target) in links) System.IO.File.CreateSymbolicLink(dir["src/" + name], target);
        var error = (await Assert.ThrowsAsync<IOException>(() => TarPacking.PackAsync(dir["src"], new MemoryStream())))!;
        Assert.That(error.Message, Does.Contain(expected));
    }

    [Test]
    public async Task Packing_refuses_a_fifo_instead_of_blocking_on_it()
    {
        using var dir = new TempDirectory();
        dir.Write("src/a/file", [1]);
        ExternalTool.RunOk("mkfifo", dir["src/a/pipe"]);
        var error = (await Assert.ThrowsAsync<IOException>(() => TarPacking.PackAsync(dir["src"], new MemoryStream())))!;
        Assert.That(error.Message, Does.EndWith("'a/pipe' is a special file (fifo, socket or device), which devices do not install"));
    }

    /// <summary>A real tree: a copy of /usr/share/doc (cp -a), packed and extracted, equal in files, links and modes.</summary>
    [Test]
    public async Task A_copy_of_usr_share_doc_round_trips()
    {
        if (!Directory.Exists("/usr/share/doc")) Assert.Ignore("no /usr/share/doc here");
        using var dir = new TempDirectory();
        Assert.That(ExternalTool.Run("cp", ["-a", "/usr/share/doc", dir["doc"]]).ExitCode, Is.Zero);

        // Links that leave the tree (into /usr/share/javascript, say) cannot be installed: push refuses them.
        var escaping = TreeSnapshot.Take(dir["doc"]) // never enters a linked directory: each link once
            .Where(e => e.Value.StartsWith("link -> ", StringComparison.Ordinal))
            .Select(e => (Name: e.Key, Target: e.Value["link -> ".Length..]))
            .Where(link => LinkResolver.WhyOutside(dir["doc"], link.Name.Split('/')[..^1], link.Target, Lookup) is not null)
            .ToList();
        TestContext.Out.WriteLine($"{escaping.Count} link(s) in /usr/share/doc lead outside it:");
        foreach (var (name, target) in escaping) TestContext.Out.WriteLine($"  {name} -> {target}");
        if (escaping.Count > 0)
        {
            var error = (await Assert.ThrowsAsync<IOException>(() => TarPacking.PackAsync(dir["doc"], Stream.Null)))!;
            Assert.That(error.Message, Does.Contain($"'{escaping[0].Name}' is a symlink"));
            foreach (var (name, _) in escaping) System.IO.File.Delete(dir["doc/" + name]);
        }

        await using (var tar = new FileStream(dir["doc.tar"], FileMode.CreateNew))
            await TarPacking.PackAsync(dir["doc"], tar);
        await using (var tar = System.IO.File.OpenRead(dir["doc.tar"]))
            await TarPacking.ExtractAsync(tar, dir["out"]);
        var expected = WithoutRoot(TreeSnapshot.Take(dir["doc"]));
        Assert.That(expected.Count, Is.GreaterThan(100));
        Assert.That(WithoutRoot(TreeSnapshot.Take(dir["out"])), Is.EqualTo(expected));
    }

    private static LinkResolver.Node Lookup(string directory, string name, out string? child)
    {
        var path = Path.Combine(directory, name);
        child = null;
        if (new FileInfo(path).LinkTarget is { } target) return new LinkResolver.Node(LinkResolver.Kind.Symlink, target);
        if (Directory.Exists(path)) { child = path; return new LinkResolver.Node(LinkResolver.Kind.Directory); }
        return new LinkResolver.Node(System.IO.File.Exists(path) ? LinkResolver.Kind.Other : LinkResolver.Kind.Missing);
    }
}
