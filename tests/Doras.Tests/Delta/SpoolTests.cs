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

    /// <summary>sysfs refuses new files even to root, as a read-only directory refuses them to a user.</summary>
    private const string RefusingDirectory = "/sys";

    [Test]
    public void A_directory_that_refuses_the_file_fails_the_spool_unless_it_may_use_the_temporary_directory()
    {
        var bytes = TestData.Random(5000, 3);
        using (var strict = new Spool(RefusingDirectory, "test", memoryBytes: 4096))
            Assert.Throws<UnauthorizedAccessException>(() => strict.Write(bytes));
        using var lenient = new Spool(RefusingDirectory, "test", memoryBytes: 4096, elseTemporary: true);
        lenient.Write(bytes);
        Assert.That(lenient.InFile, Is.True);
        lenient.Position = 0;
        var read = new byte[bytes.Length];
        lenient.ReadExactly(read);
        Assert.That(read, Is.EqualTo(bytes));
    }

    [Test]
    public void A_missing_directory_fails_the_spool_even_where_it_may_use_the_temporary_directory()
    {
        using var dir = new TempDirectory();
        using var spool = new Spool(dir["missing"], "test", memoryBytes: 4096, elseTemporary: true);
        Assert.Throws<DirectoryNotFoundException>(() => spool.Write(TestData.Random(5000, 4)));
    }

    [Test]
    public void Writing_after_reading_or_moving_is_refused_so_the_memory_bound_holds()
    {
        using var dir = new TempDirectory();
        using var spool = new Spool(dir.Path, "test", memoryBytes: 4096);
        spool.Write(TestData.Random(100, 5));
        spool.Position = 0;
        var e = Assert.Throws<InvalidOperationException>(() => spool.Write(new byte[10]))!;
        Assert.That(e.Message, Is.EqualTo("a spool is written once, front to back, then read"));
        Assert.That(spool.CanWrite, Is.False);
        Assert.That(spool.Length, Is.EqualTo(100));
    }
}
