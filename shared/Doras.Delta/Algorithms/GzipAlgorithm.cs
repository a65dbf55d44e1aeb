using System.Text;
using Doras.Delta.Artifacts;
using Doras.Delta.Gzip;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Delta.Algorithms;

/// <summary>
/// Deltas between gzip-compressed versions (a .tgz, a .gz firmware) whose exact bytes the device must end up
/// with. A byte-level delta between two compressed files saves nothing, so the server decompresses both,
/// finds the zlib settings that reproduce the new file byte for byte, and sends a recipe (the gzip header and
/// the settings) plus the smallest delta between the decompressed contents (by tardiff, bsdiff or zstd). The
/// device decompresses its version, applies the inner delta, recompresses with the recipe, and the caller
/// checks the result against the target digest. When no settings reproduce the file (another compressor),
/// this algorithm refuses, and the server offers the others or the full download.
///
/// Layout after the delta header: a recipe version byte (1), level, memLevel, windowBits and strategy bytes, the
/// gzip header (varint length, bytes), the inner algorithm's name (length byte, ASCII), the inner target digest
/// (length byte, ASCII) and size (varint); then the inner delta, complete with its own header.
/// </summary>
public sealed class GzipAlgorithm(IReadOnlyList<IDeltaAlgorithm> inner) : IDeltaAlgorithm
{
    public const string AlgorithmName = "gzip";
    private const byte RecipeVersion = 1;
    private const string What = "gzip delta";

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.doras.delta.gzip";

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        if (!GzipFile.IsGzip(oldVersion.Path) || !GzipFile.IsGzip(newVersion.Path))
            throw new IncompatibleArtifactException("the versions are not both gzip files");
        using var work = new WorkDirectory(Path.GetDirectoryName(Path.GetFullPath(newVersion.Path))!);
        var (oldContent, newContent) = (work.File("old-content"), work.File("new-content"));
        GzipLayout layout;
        try
        {
            GzipFile.Decompress(oldVersion.Path, oldContent);
            layout = GzipFile.Decompress(newVersion.Path, newContent);
        }
        catch (InvalidDataException e)
        {
            throw new IncompatibleArtifactException($"a version is not a valid gzip file: {e.Message}");
        }
        var settings = await Task.Run(() => GzipFile.DetectSettings(newVersion.Path, layout, newContent), ct).ConfigureAwait(false)
            ?? throw new IncompatibleArtifactException("the new version's gzip stream was not made by zlib with any settings tried, so it cannot be rebuilt exactly");

        var oldInput = await InputAsync(oldContent, ct).ConfigureAwait(false);
        var newInput = await InputAsync(newContent, ct).ConfigureAwait(false);
        // The smallest inner delta among those that apply (tardiff only to tar content).
        string? best = null;
        IDeltaAlgorithm? bestAlgorithm = null;
        foreach (var algorithm in inner)
        {
            var path = work.File("inner-" + algorithm.Name);
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                try { await algorithm.EncodeAsync(oldInput, newInput, file, ct).ConfigureAwait(false); }
                catch (IncompatibleArtifactException) { continue; }
            }
            if (best is null || new FileInfo(path).Length < new FileInfo(best).Length) (best, bestAlgorithm) = (path, algorithm);
        }
        if (best is null) throw new IncompatibleArtifactException("no inner algorithm can make a delta between the decompressed versions");

        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        var recipe = new MemoryStream();
        recipe.Write([RecipeVersion, (byte)settings.Level, (byte)settings.MemLevel, (byte)settings.WindowBits, (byte)settings.Strategy]);
        Varint.Write(recipe, (long)layout.Header.Length);
        recipe.Write(layout.Header);
        WriteShortString(recipe, bestAlgorithm!.Name);
        WriteShortString(recipe, newInput.Digest.ToString());
        Varint.Write(recipe, newInput.Size);
        await delta.WriteAsync(recipe.ToArray(), ct).ConfigureAwait(false);
        await using var innerDelta = new FileStream(best, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        await innerDelta.CopyToAsync(delta, ct).ConfigureAwait(false);
    }

    public Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default) =>
        ApplyAsync(oldVersion, delta, output, expected, Path.GetTempPath(), ct);

    /// <summary>Keeps the decompressed versions beside the output, on the same storage, not in a temporary file system in RAM.</summary>
    public async Task ApplyToFileAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default)
    {
        await using var output = new FileStream(outputPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await ApplyAsync(oldVersion, delta, output, expected, Path.GetDirectoryName(Path.GetFullPath(outputPath))!, ct).ConfigureAwait(false);
        output.Flush(flushToDisk: true);
    }

    private async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string workRoot, CancellationToken ct)
    {
        var (_, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var version = ReadByte(remainder);
        if (version != RecipeVersion) throw new CorruptDeltaException($"{What} has an unknown recipe version {version}");
        var settings = new GzipSettings(ReadByte(remainder), ReadByte(remainder), ReadByte(remainder), ReadByte(remainder));
        if (settings.Level is < 0 or > 9 || settings.MemLevel is < 1 or > 9 || settings.WindowBits is < 9 or > 15 || settings.Strategy is < 0 or > 4)
            throw new CorruptDeltaException($"{What} has invalid deflate settings {settings}");
        var headerLength = Varint.ReadLength(remainder, What);
        if (headerLength is < 10 or > 64 << 10) throw new CorruptDeltaException($"{What} has a gzip header of {headerLength} bytes");
        var header = new byte[headerLength];
        await ReadExactlyAsync(remainder, header, ct).ConfigureAwait(false);
        var innerName = ReadShortString(remainder);
        var algorithm = inner.FirstOrDefault(a => a.Name == innerName)
            ?? throw new CorruptDeltaException($"{What} uses the inner algorithm '{innerName}', which this build does not know");
        if (!Digest.TryParse(ReadShortString(remainder), out var innerDigest))
            throw new CorruptDeltaException($"{What} has a malformed inner target digest");
        var innerTarget = new DeltaTarget(innerDigest, Varint.ReadLength(remainder, What));

        using var work = new WorkDirectory(workRoot);
        var (oldContent, newContent) = (work.File("old-content"), work.File("new-content"));
        try { GzipFile.Decompress(oldVersion.Path, oldContent); }
        catch (Exception e) when (e is InvalidDataException or IncompatibleArtifactException)
        {
            throw new CorruptDeltaException($"the installed version cannot be decompressed: {e.Message}", e);
        }
        var oldInput = await InputAsync(oldContent, ct).ConfigureAwait(false);
        await algorithm.ApplyToFileAsync(oldInput, remainder, newContent, innerTarget, ct).ConfigureAwait(false);
        if (await InputAsync(newContent, ct).ConfigureAwait(false) is var produced && (produced.Digest != innerTarget.Digest || produced.Size != innerTarget.Size))
            throw new CorruptDeltaException($"{What} produced content {produced.Digest}, not {innerTarget.Digest}");
        var recompressed = new HashingWriteStream(output);
        await Task.Run(() => GzipFile.Compress(newContent, header, settings, recompressed), ct).ConfigureAwait(false);
        // This system's zlib may compress differently from the server's; that is found here, not after installing.
        var digest = recompressed.Digest;
        if (expected is not null && (digest != expected.Digest || recompressed.BytesWritten != expected.Size))
            throw new CorruptDeltaException($"recompressing gave {digest} ({recompressed.BytesWritten} bytes), not {expected.Digest} ({expected.Size} bytes): this system's zlib differs from the one the delta was made for");
    }

    private static async Task<DeltaInput> InputAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return new DeltaInput(path, await Digest.ComputeAsync(file, Digest.Sha256, ct).ConfigureAwait(false), file.Length);
    }

    private static void WriteShortString(Stream output, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        output.WriteByte(checked((byte)bytes.Length));
        output.Write(bytes);
    }

    private static string ReadShortString(Stream input)
    {
        var bytes = new byte[ReadByte(input)];
        try { input.ReadExactly(bytes); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException($"{What} is truncated in its recipe", e); }
        return Encoding.ASCII.GetString(bytes);
    }

    private static byte ReadByte(Stream input) =>
        input.ReadByte() is var b and >= 0 ? (byte)b : throw new CorruptDeltaException($"{What} is truncated in its recipe");

    private static async Task ReadExactlyAsync(Stream input, byte[] buffer, CancellationToken ct)
    {
        try { await input.ReadExactlyAsync(buffer, ct).ConfigureAwait(false); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException($"{What} is truncated in its recipe", e); }
    }

    /// <summary>A directory for the decompressed versions, removed with everything in it.</summary>
    private sealed class WorkDirectory(string root) : IDisposable
    {
        private readonly string _path = Directory.CreateDirectory(Path.Combine(root, ".doras-gzip-" + Guid.NewGuid().ToString("N"))).FullName;

        public string File(string name) => Path.Combine(_path, name);

        public void Dispose()
        {
            try { Directory.Delete(_path, recursive: true); }
            catch (IOException) { } // best effort: a later update's staging clean-up removes it
        }
    }
}
