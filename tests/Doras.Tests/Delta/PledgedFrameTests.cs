using Doras.Delta.Algorithms;
using Doras.Delta.Bsdiff;
using Doras.Delta.Zstd;
using Doras.Oci.Model;

namespace Doras.Tests.Delta;

/// <summary>The streams builds compress whole (<c>WrappedStream.WriteFrameAsync</c>), and a frame's pledge on the way.</summary>
public class PledgedFrameTests
{
    private static byte[] Decode(byte[] frame)
    {
        using var decoder = new ZstdDecoderStream(new MemoryStream(frame), new ZstdDecompressionOptions());
        var raw = new MemoryStream();
        decoder.CopyTo(raw);
        return raw.ToArray();
    }

    private static Func<Stream, Task> Producing(byte[] bytes) => async spool =>
    {
        for (var i = 0; i < bytes.Length; i += 1000) await spool.WriteAsync(bytes.AsMemory(i, Math.Min(1000, bytes.Length - i)));
    };

    [Test]
    public async Task A_stream_past_the_memory_bound_waits_in_a_file_and_comes_out_as_one_frame_declaring_its_length()
    {
        using var dir = new TempDirectory();
        var bytes = TestData.Binary(WrappedStream.SpoolMemoryBytes + 300_000, 11);
        var delta = new MemoryStream();
        await WrappedStream.WriteFrameAsync(delta, dir.Path, "test", level: 3, workers: 0, Producing(bytes), CancellationToken.None);
        Assert.That(ZstdFrameHeader.ContentSize(delta.ToArray()), Is.EqualTo(bytes.Length));
        Assert.That(Decode(delta.ToArray()), Is.EqualTo(bytes));
        Assert.That(Directory.GetFileSystemEntries(dir.Path), Is.Empty, "no spool is left");
    }

    [Test]
    public async Task A_build_beside_a_directory_that_refuses_files_spools_in_the_temporary_directory()
    {
        var bytes = TestData.Binary(WrappedStream.SpoolMemoryBytes + 1000, 12);
        var delta = new MemoryStream();
        await WrappedStream.WriteFrameAsync(delta, "/sys", "test", level: 3, workers: 0, Producing(bytes), CancellationToken.None); // sysfs refuses files, even to root
        Assert.That(Decode(delta.ToArray()), Is.EqualTo(bytes));
    }

    [Test]
    public async Task A_build_cancelled_while_its_frame_is_written_reports_the_cancellation()
    {
        using var dir = new TempDirectory();
        using var cancel = new CancellationTokenSource();
        var bytes = TestData.Random(3 << 20, 13);
        var output = new CancellingStream(cancel);
        await Assert.CatchAsync<OperationCanceledException>(() => WrappedStream.WriteFrameAsync(output, dir.Path, "test", level: 1, workers: 0, Producing(bytes), cancel.Token));
        Assert.That(Directory.GetFileSystemEntries(dir.Path), Is.Empty);
    }

    [Test]
    public void A_frame_given_less_than_its_pledge_is_abandoned_on_dispose_not_ended()
    {
        var output = new MemoryStream();
        var encoder = new ZstdEncoderStream(output, new ZstdCompressionOptions { Level = 3, PledgedSize = 100_000 }, leaveOpen: true);
        encoder.Write(TestData.Random(500, 14));
        Assert.DoesNotThrow(encoder.Dispose, "zstd's \"Src size is incorrect\" would hide why the writing stopped");
        Assert.Throws<ZstdException>(() => Decode(output.ToArray()), "what was written is no whole frame");
    }

    /// <summary>A device's spool never leaves its staging directory: one that refuses files fails the apply.</summary>
    [Test]
    public async Task A_devices_bsdiff_apply_never_spools_outside_its_directory()
    {
        using var dir = new TempDirectory();
        var old = TestData.Random(10_000, 15);
        var @new = TestData.Random(2 << 20, 16); // nothing in common: 2 MiB of extra bytes, past the apply's 1 MiB in memory
        var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
        var newInput = new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length);
        var delta = new MemoryStream();
        await new BsdiffAlgorithm(level: 1).EncodeAsync(oldInput, newInput, delta);
        var stream = new MemoryStream(delta.ToArray());
        var (_, unconsumed) = await DeltaHeader.ReadAsync(stream, CancellationToken.None);
        stream.Position -= unconsumed.Length;
        Assert.That(stream.ReadByte(), Is.EqualTo(2), "the split layout");
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => SplitPartsApply.ApplyAsync(oldInput.Path, stream,
            (part, _) => new ZstdDecoderStream(part, new ZstdDecompressionOptions(), leaveOpen: true), new MemoryStream(), newInput.Size, "/sys", "bsdiff delta", CancellationToken.None));
    }

    /// <summary>An output that cancels the build on its first write, as a shutdown would.</summary>
    private sealed class CancellingStream(CancellationTokenSource cancel) : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancel.Cancel();
            return base.WriteAsync(buffer, cancellationToken);
        }
    }
}
