using Doras.Delta.Algorithms;

namespace Doras.Tests.Delta;

public class SpoolTests
{
    [Test]
    public void Bytes_up_to_the_memory_bound_stay_in_memory_and_read_back()
    {
        using var dir = new TempDirectory();
        var bytes = TestData.Random(4096, 1);
        using var spool = new Spool(dir.Path, "test", memoryBytes: 4096);
        spool.Write(bytes.AsSpan(0, 1000));
        spool.Write(bytes, 1000, 3095);
        spool.WriteByte(bytes[4095]);
        Assert.That(spool.InFile, Is.False);
        Assert.That(Directory.GetFiles(dir.Path), Is.Empty, "nothing on the disk");
        spool.Position = 0;
        var read = new byte[8192];
        Assert.That(spool.ReadAtLeast(read, read.Length, throwOnEndOfStream: false), Is.EqualTo(4096));
        Assert.That(read[..4096], Is.EqualTo(bytes));
    }

    [Test]
    public void Past_the_bound_the_bytes_move_to_a_file_whose_name_is_gone_at_once()
    {
        using var dir = new TempDirectory();
        var bytes = TestData.Random(10_000, 2);
        using var spool = new Spool(dir.Path, "test", memoryBytes: 4096);
        spool.Write(bytes.AsSpan(0, 4096));
        Assert.That(spool.InFile, Is.False);
        spool.WriteByte(bytes[4096]);
        Assert.That(spool.InFile, Is.True);
        spool.Write(bytes.AsSpan(4097));
        Assert.That(Directory.GetFiles(dir.Path), Is.Empty, "a crash or a kill leaves nothing behind");
        spool.Position = 0;
        var read = new byte[bytes.Length];
        spool.ReadExactly(read);
        Assert.That(read, Is.EqualTo(bytes));
        Assert.That(spool.ReadByte(), Is.EqualTo(-1));
    }

    [Test]
    public void A_directory_that_cannot_take_the_file_fails_the_spool_unless_it_may_use_the_temporary_directory()
    {
        using var dir = new TempDirectory();
        var missing = dir["missing"]; // as a read-only directory would for root, who may write anywhere else
        var bytes = TestData.Random(5000, 3);
        using (var strict = new Spool(missing, "test", memoryBytes: 4096))
            Assert.Throws<DirectoryNotFoundException>(() => strict.Write(bytes));
        using var lenient = new Spool(missing, "test", memoryBytes: 4096, elseTemporary: true);
        lenient.Write(bytes);
        Assert.That(lenient.InFile, Is.True);
        lenient.Position = 0;
        var read = new byte[bytes.Length];
        lenient.ReadExactly(read);
        Assert.That(read, Is.EqualTo(bytes));
        Assert.That(Directory.Exists(missing), Is.False);
    }
}
