using System.Text;
using Doras.Delta.Artifacts;
using Doras.Delta.Deflate;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Delta.Algorithms;

/// <summary>
/// Deltas between compressed versions whose exact bytes the device must end up with: gzip files (.tgz, .gz
/// images) and zip archives (.zip, .jar, .nupkg). A byte-level delta between two compressed files saves nothing,
/// so the server works on their expanded forms (<see cref="DeflateExpansion"/>: every deflate stream inflated),
/// and sends for each stream of the new version how to compress it back byte for byte, plus the smallest delta
/// between the expanded forms (by tardiff, bsdiff or zstd). A stream zlib reproduces with some settings costs
/// those 4 bytes; any other (GNU gzip, Go, zlib-ng, ...) a reconstruction recipe
/// (<see cref="Deflate.Reconstruction.DeflateRecipe"/>), used when it is under half the stream's compressed size.
/// The device expands its version, applies the inner delta, compresses the streams again, and the result is
/// checked against the target digest. Streams neither way rebuilds stay compressed inside the expanded form; when
/// none is rebuilt, this algorithm refuses, and the server offers the others or the full download.
///
/// Layout after the delta header: recipe version (2; version 1, without recipes, is still read), container name
/// (length byte, ASCII), region count (varint), per region its expanded offset (varint, from the previous region's
/// end), inflated and compressed lengths (varints), then the kind byte 0 and level, memLevel, windowBits,
/// strategy (bytes), or the kind byte 1 and the reconstruction recipe's length (varint) (version 1 has no kind
/// byte: settings only); the inner algorithm's name and target digest (length byte, ASCII each) and size
/// (varint); the reconstruction recipes, in region order; then the inner delta, complete with its own header.
/// </summary>
public sealed class DeflateAlgorithm(IReadOnlyList<IDeltaAlgorithm> inner) : IDeltaAlgorithm, IArtifactKindSpecific
{
    public const string AlgorithmName = "deflate";

    /// <summary>Files (a gzip or zip file); directory artifacts' compressed layers are diffed as tars already.</summary>
    public ArtifactKind Kind => ArtifactKind.File;
    private const byte RecipeVersion = 2, SettingsOnlyVersion = 1;
    private const byte SettingsKind = 0, RecipeKind = 1;
    private const int MaxRegions = 1 << 20;
    private const string What = "deflate delta";

    private static readonly IDeflateContainer[] Containers = [new GzipContainer(), new ZipContainer()];

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.doras.delta.deflate";

    /// <summary>First in <c>auto</c>: it refuses at once what it does not apply to; devices need zlib to deflate again.</summary>
    public DeltaAlgorithmProfile Profile { get; } = new()
    {
        Description = "gzip files, zip archives", AppliesHere = ZlibLibrary.IsAvailable, BytesPerSecond = 4e6, AutoOrder = 0,
    };

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        var (container, oldRegions, newRegions) = Containers
            .Select(c => (Container: c, Old: c.FindRegions(oldVersion.Path), New: c.FindRegions(newVersion.Path)))
            .FirstOrDefault(c => c.Old is not null && c.New is not null);
        if (container is null) throw new IncompatibleArtifactException("the versions are not both gzip files or both zip archives");
        using var work = new WorkDirectory(Path.GetDirectoryName(Path.GetFullPath(newVersion.Path))!);
        var (oldExpanded, newAll, newExpanded) = (work.File("old-expanded"), work.File("new-inflated"), work.File("new-expanded"));
        var recipe = await Task.Run(() =>
        {
            try
            {
                Expand(oldVersion.Path, oldRegions!, _ => true, oldExpanded);
                var inflated = Expand(newVersion.Path, newRegions!, _ => true, newAll);
                // The settings of each stream of the new version, where zlib reproduces it; a recipe where it does not.
                using var original = File.OpenHandle(newVersion.Path);
                var settings = new GzipSettings?[newRegions!.Count];
                var recipes = new byte[]?[newRegions.Count];
                GzipSettings? last = null;
                var reconstructions = MaxReconstructions(newVersion.Size);
                foreach (var (index, offset, length) in inflated)
                {
                    settings[index] = DeflateExpansion.DetectSettings(original, newRegions[index], newAll, offset, length, last);
                    last = settings[index] ?? last;
                    if (settings[index] is null && (newRegions[index].Length >= BytesPerReconstruction || reconstructions-- > 0))
                        recipes[index] = Reconstruct(newVersion.Path, newRegions[index], work.File("reconstruct-" + index), ct);
                }
                bool Rebuilt(int i) => settings[i] is not null || recipes[i] is not null;
                if (!Enumerable.Range(0, newRegions.Count).Any(Rebuilt))
                    throw new IncompatibleArtifactException($"no deflate stream of the new version was made by zlib with any settings tried or has a usable reconstruction recipe, so it cannot be rebuilt exactly");
                // Streams rebuilt neither way stay compressed: expand again without them (only when there are such).
                var kept = inflated;
                if (!Enumerable.Range(0, newRegions.Count).All(Rebuilt)) kept = Expand(newVersion.Path, newRegions, Rebuilt, newExpanded);
                else File.Move(newAll, newExpanded);
                return kept.Select(k => (Region: new ExpandedRegion(k.ExpandedOffset, k.InflatedLength, newRegions[k.Index].Length, settings[k.Index]), Recipe: recipes[k.Index])).ToList();
            }
            catch (InvalidDataException e)
            {
                throw new IncompatibleArtifactException($"a version is not a valid {container.Name} file: {e.Message}");
            }
        }, ct).ConfigureAwait(false);

        var oldInput = await InputAsync(oldExpanded, ct).ConfigureAwait(false);
        var newInput = await InputAsync(newExpanded, ct).ConfigureAwait(false);
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
        if (best is null) throw new IncompatibleArtifactException("no inner algorithm can make a delta between the expanded versions");

        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, AlgorithmName).ToBytes(), ct).ConfigureAwait(false);
        var header = new MemoryStream();
        header.WriteByte(RecipeVersion);
        ShortString.Write(header, container.Name);
        Varint.Write(header, (long)recipe.Count);
        long previousEnd = 0;
        foreach (var (region, reconstruction) in recipe)
        {
            Varint.Write(header, region.ExpandedOffset - previousEnd);
            Varint.Write(header, region.InflatedLength);
            Varint.Write(header, region.CompressedLength);
            if (region.Settings is { } settings)
                header.Write([SettingsKind, (byte)settings.Level, (byte)settings.MemLevel, (byte)settings.WindowBits, (byte)settings.Strategy]);
            else
            {
                header.WriteByte(RecipeKind);
                Varint.Write(header, (long)reconstruction!.Length);
            }
            previousEnd = region.ExpandedOffset + region.InflatedLength;
        }
        ShortString.Write(header, bestAlgorithm!.Name);
        ShortString.Write(header, newInput.Digest.ToString());
        Varint.Write(header, newInput.Size);
        foreach (var (_, reconstruction) in recipe)
            if (reconstruction is not null) header.Write(reconstruction);
        await delta.WriteAsync(header.ToArray(), ct).ConfigureAwait(false);
        await using var innerDelta = new FileStream(best, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        await innerDelta.CopyToAsync(delta, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The reconstruction recipe of a deflate stream zlib does not reproduce, or null when there is none worth
    /// sending (the stream is refused by the analyzer, or the recipe is not under half its compressed size).
    /// </summary>
    private static byte[]? Reconstruct(string path, DeflateRegion region, string inflatedPath, CancellationToken ct)
    {
        try
        {
            using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan) { Position = region.Offset };
            using var inflated = new FileStream(inflatedPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            var recipe = new MemoryStream();
            var stats = Deflate.Reconstruction.DeflateRecipe.Analyze(new BoundedReadStream(input, region.Length), inflated, recipe, MaxReconstructedInflated, ct, region.Length);
            return stats.RecipeLength < region.Length / 2 ? recipe.ToArray() : null;
        }
        catch (Exception e) when (e is IncompatibleArtifactException or InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>
    /// How many streams under <see cref="BytesPerReconstruction"/> of a new version of <paramref name="newSize"/> bytes are
    /// analyzed for a recipe: each analysis costs about 3 ms however small its stream (every matcher configuration is
    /// tried), so a zip of 65,535 tiny entries no configuration predicts would take minutes. Past this many, small
    /// streams stay compressed (a larger delta, never a wrong one); larger streams are always analyzed, as there are at
    /// most one per <see cref="BytesPerReconstruction"/> anyway, and a large one after many small ones keeps its recipe.
    /// </summary>
    private static long MaxReconstructions(long newSize) => Math.Max(ReconstructionsFrom, newSize / BytesPerReconstruction);

    private const long ReconstructionsFrom = 256, BytesPerReconstruction = 4 << 10;

    /// <summary>The most a stream rebuilt from a recipe may inflate to (a bomb stops here, the stream stays compressed).</summary>
    private const long MaxReconstructedInflated = 64L << 30;

    private static List<(int Index, long ExpandedOffset, long InflatedLength)> Expand(string path, IReadOnlyList<DeflateRegion> regions, Func<int, bool> inflate, string output)
    {
        using var file = new FileStream(output, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        var expanded = DeflateExpansion.Expand(path, regions, inflate, file);
        file.Flush(flushToDisk: true);
        return expanded;
    }

    public Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default) =>
        ApplyAsync(oldVersion, delta, output, expected, Path.GetTempPath(), ct);

    /// <summary>Keeps the expanded versions beside the output, on the same storage, not in a temporary file system in RAM.</summary>
    public Task ApplyToFileAsync(DeltaInput oldVersion, Stream delta, string outputPath, DeltaTarget expected, CancellationToken ct = default) =>
        OutputFile.WriteAsync(outputPath, (output, directory) => ApplyAsync(oldVersion, delta, output, expected, directory, ct), ct);

    private async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, string workRoot, CancellationToken ct)
    {
        var (_, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, AlgorithmName, ct).ConfigureAwait(false);
        var version = ReadByte(remainder);
        if (version is not (RecipeVersion or SettingsOnlyVersion)) throw new CorruptDeltaException($"{What} has an unknown recipe version {version}");
        var containerName = ShortString.Read(remainder, $"{What} is truncated in its recipe");
        var container = Containers.FirstOrDefault(c => c.Name == containerName)
            ?? throw new CorruptDeltaException($"{What} is for '{containerName}' files, which this build does not know");
        var count = Varint.ReadLength(remainder, What);
        if (count > MaxRegions) throw new CorruptDeltaException($"{What} has {count} regions, over the limit of {MaxRegions}");
        var recipe = new List<ExpandedRegion>((int)count);
        long previousEnd = 0, recipesLength = 0;
        for (var i = 0; i < count; i++)
        {
            var offset = previousEnd + Varint.ReadLength(remainder, What);
            var (inflated, compressed) = (Varint.ReadLength(remainder, What), Varint.ReadLength(remainder, What));
            if (offset < previousEnd || inflated > long.MaxValue - offset) throw new CorruptDeltaException($"{What} has a region out of order");
            var kind = version == SettingsOnlyVersion ? SettingsKind : ReadByte(remainder);
            if (kind == RecipeKind)
            {
                // A recipe is smaller than the stream it rebuilds (the encoder keeps only those under half).
                var length = Varint.ReadLength(remainder, What);
                if (length > compressed) throw new CorruptDeltaException($"{What} has a reconstruction recipe larger than its stream");
                recipe.Add(new ExpandedRegion(offset, inflated, compressed, null, recipesLength, length));
                recipesLength += length;
            }
            else if (kind == SettingsKind)
            {
                var settings = new GzipSettings(ReadByte(remainder), ReadByte(remainder), ReadByte(remainder), ReadByte(remainder));
                if (settings.Level is < 0 or > 9 || settings.MemLevel is < 1 or > 9 || settings.WindowBits is < 9 or > 15 || settings.Strategy is < 0 or > 4)
                    throw new CorruptDeltaException($"{What} has invalid deflate settings {settings}");
                recipe.Add(new ExpandedRegion(offset, inflated, compressed, settings));
            }
            else throw new CorruptDeltaException($"{What} has an unknown region kind {kind}");
            previousEnd = offset + inflated;
        }
        var innerName = ShortString.Read(remainder, $"{What} is truncated in its recipe");
        var algorithm = inner.FirstOrDefault(a => a.Name == innerName)
            ?? throw new CorruptDeltaException($"{What} uses the inner algorithm '{innerName}', which this build does not know");
        if (!Digest.TryParse(ShortString.Read(remainder, $"{What} is truncated in its recipe"), out var innerDigest))
            throw new CorruptDeltaException($"{What} has a malformed inner target digest");
        var innerTarget = new DeltaTarget(innerDigest, Varint.ReadLength(remainder, What));

        using var work = new WorkDirectory(workRoot);
        var (oldExpanded, newExpanded, recipes) = (work.File("old-expanded"), work.File("new-expanded"), work.File("recipes"));
        // The recipes go to a file, not to memory: a device may have little of it.
        await using (var file = new FileStream(recipes, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            await new BoundedReadStream(remainder, recipesLength, truncated: $"{What} is truncated in its reconstruction recipes").CopyToAsync(file, ct).ConfigureAwait(false);
        try
        {
            var regions = container.FindRegions(oldVersion.Path) ?? throw new InvalidDataException($"it is not a {container.Name} file");
            Expand(oldVersion.Path, regions, _ => true, oldExpanded);
        }
        catch (Exception e) when (e is InvalidDataException or IncompatibleArtifactException)
        {
            throw new CorruptDeltaException($"the installed version cannot be expanded: {e.Message}", e);
        }
        var oldInput = await InputAsync(oldExpanded, ct).ConfigureAwait(false);
        await algorithm.ApplyToFileAsync(oldInput, remainder, newExpanded, innerTarget, ct).ConfigureAwait(false);
        if (await InputAsync(newExpanded, ct).ConfigureAwait(false) is var produced && (produced.Digest != innerTarget.Digest || produced.Size != innerTarget.Size))
            throw new CorruptDeltaException($"{What} produced expanded content {produced.Digest}, not {innerTarget.Digest}");
        var rebuilt = new HashingWriteStream(output);
        await Task.Run(() => DeflateExpansion.Rebuild(newExpanded, recipe, rebuilt, recipes), ct).ConfigureAwait(false);
        var digest = rebuilt.Digest;
        // This system's zlib may compress differently from the server's; that is found here, not after installing.
        if (expected is not null && (digest != expected.Digest || rebuilt.BytesWritten != expected.Size))
            throw new CorruptDeltaException($"recompressing gave {digest} ({rebuilt.BytesWritten} bytes), not {expected.Digest} ({expected.Size} bytes): this system's zlib differs from the one the delta was made for");
    }

    private static async Task<DeltaInput> InputAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return new DeltaInput(path, await Digest.ComputeAsync(file, Digest.Sha256, ct).ConfigureAwait(false), file.Length);
    }

    private static byte ReadByte(Stream input) =>
        input.ReadByte() is var b and >= 0 ? (byte)b : throw new CorruptDeltaException($"{What} is truncated in its recipe");

    private static async Task ReadExactlyAsync(Stream input, byte[] buffer, CancellationToken ct)
    {
        try { await input.ReadExactlyAsync(buffer, ct).ConfigureAwait(false); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException($"{What} is truncated in its recipe", e); }
    }

    /// <summary>A directory for the expanded versions, removed with everything in it.</summary>
    private sealed class WorkDirectory(string root) : IDisposable
    {
        private readonly string _path = Directory.CreateDirectory(Path.Combine(root, ".doras-deflate-" + Guid.NewGuid().ToString("N"))).FullName;

        public string File(string name) => Path.Combine(_path, name);

        public void Dispose()
        {
            try { Directory.Delete(_path, recursive: true); }
            catch (IOException) { } // best effort: a later update's staging clean-up removes it
        }
    }
}
