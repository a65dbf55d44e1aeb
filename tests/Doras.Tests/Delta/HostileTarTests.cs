using Doras.Delta.Artifacts;

namespace Doras.Tests.Delta;

/// <summary>
/// Archives that try to reach outside the directory they are extracted into, through symlinks the kernel
/// would follow. Each one is refused with a clear error, and a sentinel beside the target — a directory
/// with a secret in it, reachable as "../outside" from the target — is left exactly as it was.
/// </summary>
public class HostileTarTests
{
    private const string Escape = "leads outside the target directory";

    public static IEnumerable<TestCaseData> Hostile()
    {
        TestCaseData Case(string name, RawTar tar, string expected) => new TestCaseData(tar, expected).SetName(name);

        // d -> . makes d/d/d the link's own directory, where the text of the target says a/b/c/d/d/d.
        yield return Case("chain of d -> . climbs out, then a directory is chmodded and a secret hard linked through it", new RawTar()
                .Directory("a/b/c/")
                .Symlink("a/b/c/d", ".")
                .Symlink("a/b/c/x", "d/d/d/../../../../outside")
                .Directory("a/b/c/x/", "777")
                .HardLink("stolen", "a/b/c/x/secret.txt"),
            $"tar entry 'a/b/c/x' is a symlink that {Escape} ('d/d/d/../../../../outside')");
        yield return Case("chain of d -> . at the root", new RawTar()
                .Symlink("d", ".")
                .Symlink("x", "d/d/d/../../../../outside"),
            $"tar entry 'x' is a symlink that {Escape} ('d/d/d/../../../../outside')");
        yield return Case("chain through a link resolved recursively", new RawTar()
                .Symlink("d", ".")
                .Symlink("e", "d/d")
                .Symlink("x", "e/e/.."),
            $"tar entry 'x' is a symlink that {Escape} ('e/e/..')");
        yield return Case("loop a -> b, b -> a", new RawTar().Symlink("a", "b").Symlink("b", "a"),
            "tar entry 'b' is a symlink loop (more than 40 links through 'a')");
        yield return Case("loop a -> a", new RawTar().Symlink("a", "a"),
            "tar entry 'a' is a symlink loop (more than 40 links through 'a')");
        yield return Case("dot-dot through a link to a parent", new RawTar()
                .Directory("sub/")
                .Symlink("sub/up", "..")
                .Symlink("x", "sub/up/.."),
            $"tar entry 'x' is a symlink that {Escape} ('sub/up/..')");
        yield return Case("a later link turns an earlier link's missing name into an escape", new RawTar()
                .Symlink("x", "m/..")
                .Symlink("m", "."),
            $"tar entry 'x' is a symlink that {Escape} ('m/..'), once all entries are extracted");
        yield return Case("a dangling link that would escape once its name exists", new RawTar().Symlink("x", "missing/../../outside"),
            $"tar entry 'x' is a symlink that {Escape} ('missing/../../outside')");
        yield return Case("absolute target", new RawTar().Symlink("x", "/etc/passwd"),
            "tar entry 'x' is a symlink to the absolute path '/etc/passwd'");
        yield return Case("absolute target reached through a chain", new RawTar().Directory("sub/").Symlink("sub/abs", "//etc").Symlink("x", "sub/abs/passwd"),
            "tar entry 'sub/abs' is a symlink to the absolute path '//etc'");
        yield return Case("empty target", new RawTar().Symlink("x", ""),
            "tar entry 'x' is a symlink with an empty or invalid target");
        yield return Case("file written through a link to a directory", new RawTar().Directory("sub/").Symlink("l", "sub").File("l/f"),
            "tar entry 'l/f' is written through a symlink ('l')");
        yield return Case("directory written through a link", new RawTar().Symlink("l", ".").Directory("l/new/", "777"),
            "tar entry 'l/new/' is written through a symlink ('l')");
        yield return Case("link written through a link", new RawTar().Directory("sub/").Symlink("l", "sub").Symlink("l/x", "y"),
            "tar entry 'l/x' is written through a symlink ('l')");
        yield return Case("entry beneath a file", new RawTar().File("f").File("f/g"),
            "tar entry 'f/g' is written beneath 'f', which is not a directory");
        yield return Case("a link then a directory of the same name (chmod through the link)", new RawTar().Directory("sub/", "700").Symlink("l", "sub").Directory("l/", "777"),
            "tar entry 'l/' appears twice (first as a symlink)");
        yield return Case("a directory then a link of the same name", new RawTar().Directory("d/").Symlink("d", "."),
            "tar entry 'd' appears twice (first as a directory)");
        yield return Case("a directory created by its children then a link", new RawTar().File("d/f").Symlink("d", "."),
            "tar entry 'd' appears twice (first as a directory)");
        yield return Case("a file then a directory", new RawTar().File("f").Directory("f/"),
            "tar entry 'f/' appears twice (first as a file)");
        yield return Case("a directory then a file", new RawTar().Directory("d/").File("d"),
            "tar entry 'd' appears twice (first as a directory)");
        yield return Case("a directory created by its children then a file", new RawTar().File("d/f").File("d"),
            "tar entry 'd' appears twice (first as a directory)");
        yield return Case("a file twice", new RawTar().File("f", "one").File("./f", "two"),
            "tar entry './f' appears twice (first as a file)");
        yield return Case("a directory twice", new RawTar().Directory("d/").Directory("d/", "777"),
            "tar entry 'd/' appears twice (first as a directory)");
        yield return Case("a link then a file", new RawTar().Symlink("l", "target").File("l"),
            "tar entry 'l' appears twice (first as a symlink)");
        yield return Case("a hard link to a symlink", new RawTar().File("f").Symlink("l", "f").HardLink("h", "l"),
            "tar entry 'h' is a hard link to 'l', which is a symlink");
        yield return Case("a hard link to a directory", new RawTar().Directory("d/").HardLink("h", "d"),
            "tar entry 'h' is a hard link to 'd', which is a directory");
        yield return Case("a hard link through a link", new RawTar().File("sub/f").Symlink("p", "sub").HardLink("h", "p/f"),
            "tar entry 'h' is a hard link through a symlink ('p')");
        yield return Case("a hard link through a chain to a file outside", new RawTar().Symlink("d", ".").HardLink("h", "d/d/d/secret.txt"),
            "tar entry 'h' is a hard link through a symlink ('d')");
        yield return Case("a hard link climbing out", new RawTar().HardLink("h", "../outside/secret.txt"),
            "tar entry 'h' leads outside the target directory ('..')");
        yield return Case("a hard link to nothing before it", new RawTar().HardLink("h", "later").File("later"),
            "tar entry 'h' is a hard link to 'later', which is not a file before it in the archive");
        yield return Case("a hard link over an existing file", new RawTar().File("f").File("g").HardLink("g", "f"),
            "tar entry 'g' appears twice (first as a file)");
        yield return Case("a fifo", new RawTar().Entry('6', "fifo", "", "644", [], null),
            "tar entry 'fifo' is a Fifo, which is not extracted");
        // Work bounded whatever the archive (a review measured 120 s of CPU for 34 KB and 1.2 GB for 42 KB before).
        yield return Case("a path longer than PATH_MAX", new RawTar().Directory(string.Concat(Enumerable.Repeat("a/", 20_000))),
            $"tar entry '{string.Concat(Enumerable.Repeat("a/", 40))}…' names a path longer than 4095 bytes");
        yield return Case("a link target longer than PATH_MAX", new RawTar().Symlink("x", string.Concat(Enumerable.Repeat("./", 2_100))),
            "tar entry 'x' is a symlink with a target longer than 4095 characters");
        var deep = string.Join('/', Enumerable.Repeat("a", 600));
        var chain = new RawTar().Directory(deep + "/");
        for (var i = 0; i < 10; i++) chain.Symlink($"l{i}", deep + string.Concat(Enumerable.Repeat("/..", 600)) + $"/l{i + 1}");
        yield return Case("links chained through deep targets, more names than a resolution may walk", chain,
            "tar entry 'l0' is a symlink too long to resolve (more than 4096 names, links included), once all entries are extracted");
    }

    [TestCaseSource(nameof(Hostile))]
    public async Task Hostile_archives_are_refused_and_nothing_outside_changes(RawTar tar, string expected)
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir["outside"]);
        File.WriteAllText(dir["outside/secret.txt"], "root only");
        File.SetUnixFileMode(dir["outside/secret.txt"], UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.SetUnixFileMode(dir["outside"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        bool InTarget(string name) => name == "target" || name.StartsWith("target/", StringComparison.Ordinal);
        // Everything beside the target, with modes, bytes and times (not the temp directory's own time: the target is created in it).
        SortedDictionary<string, string> Outside() { var all = TreeSnapshot.Take(dir.Path, times: true, skip: InTarget); all.Remove("."); return all; }
        var before = Outside();

        var error = (await Assert.ThrowsAsync<HostileArchiveException>(() => TarPacking.ExtractAsync(tar.ToStream(), dir["target"])))!;

        Assert.That(error.Message, Is.EqualTo(expected));
        Assert.That(Outside(), Is.EqualTo(before), "nothing outside the target changed or appeared");
        Assert.That(Convert.ToString((int)File.GetUnixFileMode(dir["outside"]), 8), Is.EqualTo("750"));
        Assert.That(File.Exists(dir["target/stolen"]) || File.Exists(dir["target/h"]), Is.False, "no secret was copied in");
    }

    [Test]
    public async Task A_normal_tree_with_links_inside_it_is_extracted_exactly()
    {
        using var dir = new TempDirectory();
        var t1 = new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var t2 = new DateTimeOffset(2021, 6, 7, 8, 9, 10, TimeSpan.Zero);
        var tool = TestData.Random(70_000, 7);
        var tar = new RawTar()
            .Directory("./", "750", t1)
            .File("lib/v1/tool", tool, "755", t2)       // its directories are created by it...
            .Directory("lib/", "700", t1)               // ...and described afterwards: fine
            .File("lib/v1/readonly.txt", "ro", "444", t1)
            .File("lib/v1/private", "p", "600", t2)
            .File("suid", "s", "4755", t1)
            .File("sgid", "s", "2750", t1)
            .Directory("empty/", "555", t2)
            .Symlink("lib/current", "v1")
            .Symlink("bin/tool", "../lib/current/tool")  // '..' that stays inside, through a link inside
            .Symlink("bin/self", "../bin/./tool")
            .Symlink("dangling", "not/here/yet")
            .Symlink("dot", ".")
            .Symlink("deep", "dot/dot/lib/../lib/v1")
            .HardLink("tool-copy", "lib/v1/tool")
            .HardLink("./private-copy", "./lib/v1/private");

        await TarPacking.ExtractAsync(tar.ToStream(), dir["target"]);

        var snapshot = TreeSnapshot.Take(dir["target"]);
        string Hash(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        string H(string s) => Hash(System.Text.Encoding.UTF8.GetBytes(s));
        Assert.That(snapshot, Is.EqualTo(new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["."] = "dir 750",
            ["bin"] = "dir 755", // implicit: 0755 minus the umask
            ["bin/self"] = "link -> ../bin/./tool",
            ["bin/tool"] = "link -> ../lib/current/tool",
            ["dangling"] = "link -> not/here/yet",
            ["deep"] = "link -> dot/dot/lib/../lib/v1",
            ["dot"] = "link -> .",
            ["empty"] = "dir 755", // the owner keeps rwx on directories
            ["lib"] = "dir 700",
            ["lib/current"] = "link -> v1",
            ["lib/v1"] = "dir 755",
            ["lib/v1/private"] = $"file 600 {H("p")}",
            ["lib/v1/readonly.txt"] = $"file 444 {H("ro")}",
            ["lib/v1/tool"] = $"file 755 {Hash(tool)}",
            ["private-copy"] = $"file 600 {H("p")}",
            ["sgid"] = $"file 750 {H("s")}", // setgid dropped
            ["suid"] = $"file 755 {H("s")}", // setuid dropped
            ["tool-copy"] = $"file 755 {Hash(tool)}",
        }).Using<SortedDictionary<string, string>>((a, b) => a.SequenceEqual(b)), string.Join("\n", snapshot));
        Assert.That(File.GetLastWriteTimeUtc(dir["target/lib/v1/tool"]), Is.EqualTo(t2.UtcDateTime));
        Assert.That(File.GetLastWriteTimeUtc(dir["target/lib/v1/private"]), Is.EqualTo(t2.UtcDateTime));
        Assert.That(File.GetLastWriteTimeUtc(dir["target/tool-copy"]), Is.EqualTo(t2.UtcDateTime), "a hard link copies its source's time");
        Assert.That(Directory.GetLastWriteTimeUtc(dir["target/lib"]), Is.EqualTo(t1.UtcDateTime), "directory times are set after their contents");
        Assert.That(Directory.GetLastWriteTimeUtc(dir["target/empty"]), Is.EqualTo(t2.UtcDateTime));
        Assert.That(Directory.GetLastWriteTimeUtc(dir["target"]), Is.EqualTo(t1.UtcDateTime));
        Assert.That(File.ReadAllBytes(dir["target/bin/tool"]), Is.EqualTo(tool), "the links resolve as the kernel resolves them");
        Assert.That(File.ReadAllText(dir["target/deep/private"]), Is.EqualTo("p"));
    }

    [Test]
    public async Task Many_hard_links_to_a_large_file_take_its_space_once()
    {
        using var dir = new TempDirectory();
        var tar = new RawTar().File("big", TestData.Random(1 << 20, 3));
        for (var i = 0; i < 1000; i++) tar.HardLink($"l{i}", "big");
        await TarPacking.ExtractAsync(tar.ToStream(), dir["target"]);
        // One inode with 1001 names, not a thousand copies (a 0.5 MB archive must not write 1 GB).
        Assert.That(ExternalTool.RunOk("stat", "-c", "%h", dir["target/l999"]).Trim(), Is.EqualTo("1001"));
        Assert.That(File.ReadAllBytes(dir["target/l999"]), Is.EqualTo(TestData.Random(1 << 20, 3)));
    }

    [Test]
    public async Task A_destination_that_is_not_empty_is_refused()
    {
        using var dir = new TempDirectory();
        dir.Write("target/existing", [1]);
        var error = (await Assert.ThrowsAsync<IOException>(() => TarPacking.ExtractAsync(new RawTar().File("f").ToStream(), dir["target"])))!;
        Assert.That(error.Message, Does.Contain("it is not empty"));
        Assert.That(File.Exists(dir["target/f"]), Is.False);
    }

    /// <summary>The helper itself, on a tree that already holds a link leading outside: it never goes through it.</summary>
    [Test]
    public void BeneathDirectory_never_goes_through_a_link_even_one_already_there()
    {
        using var dir = new TempDirectory();
        dir.Write("outside/secret.txt", "root only"u8.ToArray());
        File.SetUnixFileMode(dir["outside"], (UnixFileMode)Convert.ToInt32("750", 8));
        Directory.CreateDirectory(dir["tree/sub"]);
        File.CreateSymbolicLink(dir["tree/out"], "../outside");
        File.CreateSymbolicLink(dir["tree/sub/secret-link"], "../../outside/secret.txt");
        var before = TreeSnapshot.Take(dir["outside"], times: true);

        using var tree = BeneathDirectory.Open(dir["tree"]);
        string Refused(Action action) => Assert.Throws<HostileArchiveException>(() => action())!.Message;
        Assert.That(Refused(() => tree.OpenFile(["out", "secret.txt"], "read")), Is.EqualTo("read is written through a symlink ('out')"));
        Assert.That(Refused(() => tree.OpenFile(["sub", "secret-link"], "read")), Is.EqualTo("read: 'sub/secret-link' is a symlink"));
        Assert.That(Refused(() => tree.CreateFile(["out", "new"], "create")), Is.EqualTo("create is written through a symlink ('out')"));
        Assert.That(Refused(() => tree.CreateFile(["out"], "create")), Is.EqualTo("create: 'out' exists already"));
        Assert.That(Refused(() => tree.CreateDirectory(["out"], "mkdir")), Is.EqualTo("mkdir: 'out' is a symlink"));
        Assert.That(Refused(() => tree.CreateDirectory(["out", "x", "y"], "mkdir")), Is.EqualTo("mkdir is written through a symlink ('out')"));
        Assert.That(Refused(() => tree.OpenDirectory(["out"], "chmod")), Is.EqualTo("chmod: 'out' is a symlink"));
        Assert.That(Refused(() => tree.CreateSymlink(["out", "l"], "x", "link")), Is.EqualTo("link is written through a symlink ('out')"));
        Assert.That(Refused(() => tree.CreateSymlink(["out"], "x", "link")), Is.EqualTo("link: 'out' exists already"));
        Assert.That(TreeSnapshot.Take(dir["outside"], times: true), Is.EqualTo(before));
    }
}
