using Doras.Oci.IO;

namespace Doras.Tests.Oci;

/// <summary>The crash-safe file operations' promise not to replace: it holds against a file that appears meanwhile.</summary>
public class DurableTests
{
    [Test]
    public async Task A_write_that_must_not_replace_keeps_a_file_that_appeared_while_it_was_written()
    {
        using var dir = new TempDirectory();
        var path = dir["out"];
        var theirs = "written by someone else meanwhile"u8.ToArray();
        var failure = await Assert.ThrowsAsync<DestinationExistsException>(() => Durable.WriteAtomicAsync(path, async (stream, ct) =>
        {
            await stream.WriteAsync("ours"u8.ToArray(), ct);
            await File.WriteAllBytesAsync(path, theirs, ct); // after the caller's check, before the rename
        }, overwrite: false));
        Assert.That(failure!.Message, Is.EqualTo($"{path} exists"));
        Assert.That(await File.ReadAllBytesAsync(path), Is.EqualTo(theirs));
        Assert.That(Directory.GetFileSystemEntries(dir.Path), Is.EqualTo(new[] { path }), "the temporary file is removed");
    }

    [Test]
    public async Task A_move_that_must_not_replace_leaves_both_files_and_one_that_may_replaces()
    {
        using var dir = new TempDirectory();
        var source = dir.Write("source", "new"u8.ToArray());
        var destination = dir.Write("destination", "old"u8.ToArray());
        Assert.Throws<DestinationExistsException>(() => Durable.MoveDurably(source, destination, overwrite: false));
        Assert.That(await File.ReadAllBytesAsync(source), Is.EqualTo("new"u8.ToArray()));
        Assert.That(await File.ReadAllBytesAsync(destination), Is.EqualTo("old"u8.ToArray()));

        Durable.MoveDurably(source, destination, overwrite: true);
        Assert.That(File.Exists(source), Is.False);
        Assert.That(await File.ReadAllBytesAsync(destination), Is.EqualTo("new"u8.ToArray()));

        Durable.MoveDurably(destination, dir["free"], overwrite: false); // a free name: an ordinary rename
        Assert.That(await File.ReadAllBytesAsync(dir["free"]), Is.EqualTo("new"u8.ToArray()));
        Assert.That(File.Exists(destination), Is.False);
    }
}
