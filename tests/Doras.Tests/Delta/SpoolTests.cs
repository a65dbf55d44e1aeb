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
    public void Past_the_bound_the_bytes_move_to_a_hidden_file_that_is_gone_once_disposed()
    {
        using var dir = new TempDirectory();
        var bytes = TestData.Random(10_000, 2);
        var spool = new Spool(dir.Path, "test", memoryBytes: 4096);
        spool.Write(bytes.AsSpan(0, 4096));
        Assert.That(spool.InFile, Is.False);
        spool.WriteByte(bytes[4096]);
        Assert.That(spool.InFile, Is.True);
        spool.Write(bytes.AsSpan(4097));
        var files = Directory.GetFiles(dir.Path);
        Assert.That(files.Select(Path.GetFileName), Has.Exactly(1).StartsWith(".doras-test-"));
        spool.Flush();
        Assert.That(new FileInfo(files[0]).Length, Is.EqualTo(bytes.Length));
        spool.Position = 0;
        var read = new byte[bytes.Length];
        spool.ReadExactly(read);
        Assert.That(read, Is.EqualTo(bytes));
        spool.Dispose();
        Assert.That(Directory.GetFiles(dir.Path), Is.Empty, "the file deletes itself");
    }
}
