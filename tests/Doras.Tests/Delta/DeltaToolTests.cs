namespace Doras.Tests.Delta;

/// <summary>`doras-delta` as scripts and the benchmark run it: a separate process, real files, peers' CLIs.</summary>
public class DeltaToolTests
{
    private static (int Code, string Output) Run(params string[] args) => ExternalTool.Run("dotnet", [Binaries.DeltaTool, .. args]);

    private static void AssertApplies(string old, string delta, string output, byte[] expected)
    {
        var (code, text) = Run("apply", old, delta, output);
        Assert.That(code, Is.Zero, text);
        Assert.That(File.ReadAllBytes(output), Is.EqualTo(expected));
    }

    [TestCase("zstd")]
    [TestCase("octodiff")]
    [TestCase("bsdiff")]
    public void Diff_then_apply_gives_the_new_file_byte_for_byte(string algorithm)
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(1 << 20, 51);
        var @new = TestData.Edit(old, 52);
        var (code, output) = Run("diff", "--algorithm", algorithm, "--level", "9", dir.Write("old", old), dir.Write("new", @new), dir["delta"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(new FileInfo(dir["delta"]).Length, Is.LessThan(@new.Length / 10));
        AssertApplies(dir["old"], dir["delta"], dir["out"], @new);
    }

    [Test]
    public void Zstd_deltas_interoperate_with_the_zstd_cli_both_ways()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(1 << 20, 53);
        var @new = TestData.Edit(old, 54);
        var oldPath = dir.Write("old", old);
        var newPath = dir.Write("new", @new);
        Assert.That(Run("diff", oldPath, newPath, dir["ours"]).Code, Is.Zero);
        ExternalTool.RunOk("zstd", "-q", "-d", "--long=31", $"--patch-from={oldPath}", dir["ours"], "-o", dir["by-zstd"]);
        Assert.That(File.ReadAllBytes(dir["by-zstd"]), Is.EqualTo(@new));
        ExternalTool.RunOk("zstd", "-q", "-19", "--long", $"--patch-from={oldPath}", newPath, "-o", dir["theirs"]);
        AssertApplies(oldPath, dir["theirs"], dir["by-us"], @new);
    }

    [Test]
    public void A_signature_is_enough_to_make_a_raw_octodiff_delta()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(1 << 20, 55);
        var @new = TestData.Edit(old, 56);
        Assert.That(Run("signature", "--chunk-size", "1024", dir.Write("old", old), dir["sig"]).Code, Is.Zero);
        Assert.That(new FileInfo(dir["sig"]).Length, Is.EqualTo(24 + 1024 * 26), "a 26-byte record per 1 KiB chunk");
        var (code, output) = Run("diff", "--signature", dir["sig"], dir.Write("new", @new), dir["raw.octodelta"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllBytes(dir["raw.octodelta"]).AsSpan(0, 9).ToArray(), Is.EqualTo("OCTODELTA"u8.ToArray()));
        AssertApplies(dir["old"], dir["raw.octodelta"], dir["out"], @new);
    }

    [Test]
    public void Corrupt_truncated_and_wrong_base_deltas_fail_with_one_line_and_no_output()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(512 * 1024, 57);
        var @new = TestData.Edit(old, 58);
        dir.Write("old", old);
        dir.Write("other", TestData.Edit(old, 59));
        var sameSize = (byte[])old.Clone();
        sameSize[1000] ^= 0xFF; // a base of the right size whose bytes differ: found out when the output's digest is wrong
        dir.Write("same-size", sameSize);
        foreach (var algorithm in new[] { "zstd", "octodiff", "bsdiff" })
        {
            Assert.That(Run("diff", "-a", algorithm, dir["old"], dir.Write("new", @new), dir[$"{algorithm}.delta"]).Code, Is.Zero);
            var delta = File.ReadAllBytes(dir[$"{algorithm}.delta"]);
            var cases = new (string Name, byte[] Bytes, string Old, string Message)[]
            {
                ("truncated", delta[..(delta.Length * 2 / 3)], "old", "doras-delta: "),
                ("flipped", Flip(delta), "old", "doras-delta: "),
                ("wrong base", delta, "other", "doras-delta: delta was made for base "),
                ("wrong base of the same size", delta, "same-size", "doras-delta: delta was made for base "),
            };
            foreach (var (name, bytes, oldName, message) in cases)
            {
                var output = dir[$"out-{algorithm}-{name.Replace(' ', '-')}"];
                var (code, text) = Run("apply", dir[oldName], dir.Write($"{algorithm}-{name}.delta", bytes), output);
                Assert.That(code, Is.EqualTo(1), $"{algorithm} {name}: {text}");
                Assert.That(text.Trim().Split('\n'), Has.Length.EqualTo(1), text);
                Assert.That(text, Does.StartWith(message), $"{algorithm} {name}");
                Assert.That(File.Exists(output), Is.False, $"{algorithm} {name} left output");
                Assert.That(Directory.GetFiles(dir.Path, ".out-*"), Is.Empty, "no temporary files are left");
            }
        }
        var (unknown, message2) = Run("diff", "-a", "nope", dir["old"], dir["new"], dir["x"]);
        Assert.That(unknown, Is.EqualTo(1));
        Assert.That(message2.Trim(), Is.EqualTo("doras-delta: unknown algorithm 'nope'; known: auto, bsdiff, bsdiff-exe, bsdiff-lzma, deflate, octodiff, tardiff, zstd"));
    }

    [Test]
    public void A_file_at_the_output_is_replaced_only_with_replace_existing()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(256 * 1024, 60);
        var @new = TestData.Edit(old, 61);
        dir.Write("old", old);
        dir.Write("new", @new);
        Assert.That(Run("diff", "-a", "zstd", "--level", "3", dir["old"], dir["new"], dir["delta"]).Code, Is.Zero);
        Assert.That(Run("signature", dir["old"], dir["sig"]).Code, Is.Zero);
        var mine = "the user's own file"u8.ToArray();
        var commands = new (string Output, string[] Arguments)[]
        {
            ("applied", ["apply", dir["old"], dir["delta"]]),
            ("zstd.delta", ["diff", "-a", "zstd", "--level", "3", dir["old"], dir["new"]]),
            ("auto.delta", ["diff", "-a", "auto", dir["old"], dir["new"]]),
            ("raw.octodelta", ["diff", "--signature", dir["sig"], dir["new"]]),
            ("old.sig", ["signature", dir["old"]]),
        };
        foreach (var (output, arguments) in commands)
        {
            var path = dir.Write(output, mine);
            var (code, text) = Run([.. arguments, path]);
            Assert.That(code, Is.EqualTo(1), $"{arguments[0]} {output}: {text}");
            Assert.That(text.Trim(), Is.EqualTo($"doras-delta: {path} exists; pass --replace-existing to replace it"));
            Assert.That(File.ReadAllBytes(path), Is.EqualTo(mine), $"{output} is left as it was");
            Assert.That(Directory.GetFileSystemEntries(dir.Path, ".*"), Is.Empty, "no temporary files are left");

            (code, text) = Run([arguments[0], "--replace-existing", .. arguments[1..], path]);
            Assert.That(code, Is.Zero, $"{arguments[0]} {output} --replace-existing: {text}");
            Assert.That(File.ReadAllBytes(path), Is.Not.EqualTo(mine), $"{output} is replaced");
        }
        Assert.That(File.ReadAllBytes(dir["applied"]), Is.EqualTo(@new));
        AssertApplies(dir["old"], dir["zstd.delta"], dir["from-zstd"], @new);
        AssertApplies(dir["old"], dir["auto.delta"], dir["from-auto"], @new);
        AssertApplies(dir["old"], dir["raw.octodelta"], dir["from-octodelta"], @new);

        // A directory at the output (or a path that names one) is never replaced by a file, with or without the flag.
        Directory.CreateDirectory(dir["a-directory"]);
        foreach (var output in new[] { dir["a-directory"], dir["a-directory"] + "/", dir["not-yet"] + "/" })
            foreach (var flag in new[] { Array.Empty<string>(), ["--replace-existing"] })
            {
                var (refused, message) = Run(["apply", .. flag, dir["old"], dir["delta"], output]);
                Assert.That((refused, message.Trim()), Is.EqualTo((1, $"doras-delta: {output} is a directory; name a file to write")));
            }
        Assert.That(Directory.GetFileSystemEntries(dir["a-directory"]), Is.Empty);
        Assert.That(Directory.Exists(dir["not-yet"]), Is.False, "no directory is made for a path that ends in a separator");
        Assert.That(Directory.GetFileSystemEntries(dir.Path, ".*"), Is.Empty, "no temporary files are left");
    }

    [Test]
    public void Diff_help_lists_every_algorithm_with_what_it_is_for()
    {
        var (code, output) = Run("diff", "--help");
        Assert.That(code, Is.Zero, output);
        Assert.That(System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " "), Does.Contain(
            "zstd, bsdiff, bsdiff-exe (x86-64 and ARM64 ELF files), bsdiff-lzma, octodiff, tardiff (tar archives), deflate (gzip files, zip archives), or auto (the smallest"));
    }

    private static byte[] Flip(byte[] delta)
    {
        var copy = (byte[])delta.Clone();
        copy[^20] ^= 0x55;
        return copy;
    }
}
