using Doras.Delta.Algorithms;

namespace Doras.Delta.Bsdiff;

/// <summary>
/// Applies a bsdiff delta stored as three compressed parts in the order control, extra, diff (each with its own
/// decoder), keeping device memory bounded: control and extra are decoded first, one after the other, into a
/// spool (in memory while small, else a file beside the output, deleted when done), so only one decoder, and
/// one decoder window, is alive at a time; then the diff part streams.
/// </summary>
internal static class SplitPartsApply
{
    /// <summary>Raw control or extra bytes up to this size stay in memory; more go to a file.</summary>
    private const int InMemorySpoolBytes = 1 << 20;

    private const string What = "bsdiff delta";

    /// <param name="decode">Opens a decoder over one compressed part; its output must be bounded by the caller's limit.</param>
    public static async Task<long> ApplyAsync(string oldPath, Stream remainder, long controlLength, long extraLength,
        Func<Stream, string, Stream> decode, Stream output, long targetSize, string spoolDirectory, CancellationToken ct)
    {
        await using var control = await SpoolAsync(new BoundedReadStream(remainder, controlLength), "control", decode, spoolDirectory, ct).ConfigureAwait(false);
        await using var extra = await SpoolAsync(new BoundedReadStream(remainder, extraLength), "extra", decode, spoolDirectory, ct).ConfigureAwait(false);
        await using var diff = decode(remainder, "diff");
        var produced = await BsdiffDelta.ApplyAsync(oldPath, new BsdiffDelta.Parts(control, diff, extra), output, targetSize, ct).ConfigureAwait(false);
        if (targetSize != long.MaxValue && produced != targetSize)
            throw new CorruptDeltaException($"delta produced {produced} bytes, expected {targetSize}");
        return produced;
    }

    private static async Task<Stream> SpoolAsync(BoundedReadStream part, string name, Func<Stream, string, Stream> decode, string spoolDirectory, CancellationToken ct)
    {
        Stream spool = new MemoryStream();
        try
        {
            await using (var decoded = decode(part, name))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await decoded.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    if (spool is MemoryStream memory && memory.Length + n > InMemorySpoolBytes)
                    {
                        var file = new FileStream(Path.Combine(spoolDirectory, ".doras-bsdiff-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew,
                            FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous | FileOptions.DeleteOnClose);
                        memory.Position = 0;
                        await memory.CopyToAsync(file, ct).ConfigureAwait(false);
                        spool = file;
                    }
                    await spool.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                }
            }
            if (part.Remaining > 0) throw new CorruptDeltaException($"{What} has {part.Remaining} bytes after the end of its {name} part");
            await spool.FlushAsync(ct).ConfigureAwait(false);
            spool.Position = 0;
            return spool;
        }
        catch
        {
            await spool.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
