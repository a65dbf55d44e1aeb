using Doras.Delta.Bsdiff;

namespace Doras.Delta.Algorithms;

/// <summary>
/// What bsdiff and bsdiff-lzma share; they differ only in the coder of the three parts and the bytes that describe
/// it. Building loads both versions whole (the suffix sort and the scan need random access to both, about 9 bytes
/// per byte of the old version, so it is for the server) and writes the header, the format's own head and the
/// parts in the order control, extra, diff. Applying spools the control and extra parts beside the output
/// (<see cref="SplitPartsApply"/>), on the same storage, not in a temporary file system that may live in RAM.
/// </summary>
public abstract class BsdiffPartsAlgorithm(long maxInputBytes) : IDeltaAlgorithm, IDigestingApply
{
    public abstract string Name { get; }

    public abstract string MediaType { get; }

    public abstract DeltaAlgorithmProfile Profile { get; }

    public abstract Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default);

    public Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default) =>
        ApplyAsync(oldVersion, delta, output, expected, Path.GetTempPath(), ct);

    public Task ApplyToFileAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default) =>
        OutputFile.WriteAsync(outputPath, (output, directory) => ApplyAsync(oldVersion, delta, output, expected, directory, ct), ct);

    public Task<(Oci.Model.Digest Digest, long Size)> ApplyToFileDigestingAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default) =>
        OutputFile.WriteDigestingAsync(outputPath, expected.Digest.Algorithm, (output, directory) => ApplyAsync(oldVersion, delta, output, expected, directory, ct), ct);

    /// <summary>Applies a delta, keeping large control and extra parts in <paramref name="spoolDirectory"/>.</summary>
    protected abstract Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string spoolDirectory, CancellationToken ct);

    /// <summary>
    /// Both versions: the old one whole in memory (the scan reads it anywhere), the new one mapped (<see cref="MappedBytes"/>).
    /// Versions over the input limit are refused, so <c>auto</c> picks another algorithm.
    /// </summary>
    protected async Task<BsdiffVersions> ReadVersionsAsync(DeltaInput oldVersion, DeltaInput newVersion, CancellationToken ct)
    {
        var limit = Math.Min(maxInputBytes, BsdiffAlgorithm.MaxInputBytes);
        if (oldVersion.Size > limit || newVersion.Size > limit)
            throw new Artifacts.IncompatibleArtifactException($"bsdiff is limited to versions of {limit} bytes here");
        var old = await ReadWholeAsync(oldVersion, ct).ConfigureAwait(false);
        // The new version is read in order (covers, scan, parts): mapped, and given back behind its readers.
        return new(old, new MappedBytes(newVersion.Path, newVersion.Size));
    }

    /// <summary>
    /// A version whole, into an array of <see cref="BuildGarbage.AllocateVersion"/> (not zeroed: every byte is read
    /// over). The file must still hold the size the version was hashed at, no more and no less: a delta's header names
    /// that size and digest.
    /// </summary>
    private static async Task<byte[]> ReadWholeAsync(DeltaInput version, CancellationToken ct)
    {
        using var file = File.OpenHandle(version.Path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var changed = $"{version.Path} changed while the delta was built: it was hashed at {version.Size} bytes";
        if (RandomAccess.GetLength(file) is var length && length != version.Size) throw new IOException($"{changed}, now holds {length}");
        var bytes = BuildGarbage.AllocateVersion((int)version.Size);
        var read = 0;
        while (read < bytes.Length)
        {
            var n = await RandomAccess.ReadAsync(file, bytes.AsMemory(read), read, ct).ConfigureAwait(false);
            if (n == 0) throw new IOException($"{changed}, only {read} could be read");
            read += n;
        }
        if (await RandomAccess.ReadAsync(file, new byte[1], read, ct).ConfigureAwait(false) != 0) throw new IOException($"{changed}, and has grown");
        return bytes;
    }

    /// <summary>
    /// Writes the delta: the header, <paramref name="head"/> (the format byte and what the format records of its
    /// coder), the compressed lengths of control and extra (varints), then control, extra and diff.
    /// </summary>
    protected async Task WriteAsync(Stream delta, DeltaInput oldVersion, DeltaInput newVersion, byte[] head, MemoryStream control, MemoryStream extra, MemoryStream diff, CancellationToken ct)
    {
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, Name).ToBytes(), ct).ConfigureAwait(false);
        var lengths = new MemoryStream();
        lengths.Write(head);
        Varint.Write(lengths, control.Length);
        Varint.Write(lengths, extra.Length);
        await delta.WriteAsync(lengths.ToArray(), ct).ConfigureAwait(false);
        foreach (var part in new[] { control, extra, diff })
            await delta.WriteAsync(part.GetBuffer().AsMemory(0, (int)part.Length), ct).ConfigureAwait(false);
    }
}

/// <summary>
/// Both versions of a bsdiff build until <see cref="Release"/>: the coder that follows the scan needs neither. The old
/// version is an array; the new one a mapping of its file, whose pages its readers give back behind them
/// (<see cref="DoneWithNew"/>). Releasing frees the array only where no running method still holds it, and unoptimized
/// (tier-0) code, which every build method is (each runs once per build), keeps each reference it has loaded alive
/// until it returns. So <see cref="Old"/> and <see cref="New"/> are read only in methods that return before the
/// release (<see cref="Scan"/>, the raw parts' writer), never in the method that releases or its callers: read there,
/// the firmware image's 480 MiB of versions stayed alive through the coder and the zstd candidates after it. The
/// mapping is closed at the release: nothing may read <see cref="New"/> after it.
/// </summary>
public sealed class BsdiffVersions : IDisposable
{
    private MappedBytes? _new;

    internal BsdiffVersions(byte[] old, MappedBytes @new)
    {
        Old = old;
        _new = @new;
    }

    public byte[] Old { get; private set; }

    public ReadOnlyMemory<byte> New => _new?.Memory ?? throw new ObjectDisposedException(nameof(BsdiffVersions));

    /// <summary>Gives back the memory of a stretch of the new version its reader is done with.</summary>
    public DoneWith DoneWithNew => _new is { } mapped ? mapped.DoneWith : throw new ObjectDisposedException(nameof(BsdiffVersions));

    /// <summary>The bytes of both versions.</summary>
    public long Length => Old.LongLength + New.Length;

    /// <summary>The matches of the new version in the old (<see cref="MatchScan.Find"/>), in a frame of its own.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public List<BsdiffMatch> Scan(CancellationToken ct) => MatchScan.Find(Old, New, BsdiffAlgorithm.ScanParallelism, ct: ct, collectBetweenPhases: true, doneWith: DoneWithNew);

    public void Release()
    {
        Old = null!;
        ((IDisposable?)_new)?.Dispose();
        _new = null;
    }

    public void Dispose() => Release();
}
