using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.EdgeClient.Updates.Download;
using Doras.EdgeClient.Updates.Trust;
using Doras.Oci.Content;
using Doras.Oci.Images;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Doras.EdgeClient.Images;

/// <summary>What to keep where, for a container image.</summary>
public sealed record ImageUpdateOptions
{
    /// <summary>The image to follow: <c>[registry/]repo:tag</c> (or <c>@sha256:…</c>).</summary>
    public required string Reference { get; init; }

    /// <summary>An OCI image layout directory; the image is tagged there with the reference's tag (<c>org.opencontainers.image.ref.name</c>).</summary>
    public required string Layout { get; init; }

    /// <summary>Through an index: whose manifest (null: this machine's).</summary>
    public Platform? Platform { get; init; }

    /// <summary>As for artifacts: nothing is kept unless a trusted signature covers the image manifest.</summary>
    public Signing.PublisherVerification? Verification { get; init; }

    public bool AllowDowngrade { get; init; }

    /// <summary>The largest image (all its layers and config) accepted, in bytes.</summary>
    public long MaxImageBytes { get; init; } = 16L << 30;

    /// <summary>Free space to leave on the layout's filesystem.</summary>
    public long ReserveBytes { get; init; }

    /// <summary>Ask the server for an image delta from the image the layout has (off: always the changed layers in full).</summary>
    public bool UseDeltas { get; init; } = true;

    /// <summary>How long to wait for the server to compute an image delta before downloading the changed layers instead.</summary>
    public TimeSpan DeltaWait { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>What an image update did.</summary>
/// <param name="LayersDownloaded">Blobs downloaded whole (with a delta: the layers it could not rebuild).</param>
/// <param name="LayersRebuilt">Layers made from the old image by the delta.</param>
/// <param name="Fallback">Why a delta was not used, when the server was asked for one and the changed layers were downloaded instead.</param>
public sealed record ImageUpdateResult(UpdateMode Mode, string Layout, string Tag, string ManifestDigest, long BytesDownloaded, long ImageSize, int LayersDownloaded, int LayersKept,
    int LayersRebuilt = 0, string? Fallback = null)
{
    /// <summary>With a delta: what a plain pull would have downloaded instead (the blobs the layout lacked).</summary>
    public long? PlainPullBytes { get; init; }

    /// <summary>As an artifact update's result (for watches, hooks and JSON output): the layout and tag are where it is installed.</summary>
    public UpdateResult AsUpdateResult() => new(Mode, $"{Layout}:{Tag}", ManifestDigest, BytesDownloaded, PlainPullBytes ?? ImageSize, ImageSize, Mode switch
    {
        UpdateMode.UpToDate => null,
        UpdateMode.Delta => $"image delta: {LayersRebuilt} layer(s) rebuilt, {LayersDownloaded} downloaded, {LayersKept} kept",
        _ => $"an image is downloaded layer by layer: {LayersDownloaded} blob(s) downloaded, {LayersKept} the layout had kept" + (Fallback is null ? "" : $" (no delta: {Fallback})"),
    });
}

/// <summary>
/// Keeps a container image in an OCI image layout, exactly as the registry has it (same manifest digest, so
/// <c>image@sha256:…</c> references and signatures stay valid): the layers it already holds are kept, the others are
/// downloaded and checked against their digests, the tag is moved in one atomic write of <c>index.json</c>, and blobs
/// no tag needs any more are removed afterwards. A power cut leaves the old image or the new one, and a layout every
/// OCI tool reads. This is the full download; image deltas build on it.
/// </summary>
public sealed class ImageUpdater(DeltaClient client, RegistryClient? registry = null, ILogger<ImageUpdater>? logger = null, Delta.Algorithms.DeltaAlgorithms? algorithms = null)
{
    private readonly ILogger _log = logger ?? NullLogger<ImageUpdater>.Instance;
    private readonly Delta.Algorithms.DeltaAlgorithms _algorithms = algorithms ?? Delta.Algorithms.DeltaAlgorithms.Default();

    public async Task<ImageUpdateResult> UpdateAsync(ImageUpdateOptions options, CancellationToken ct = default)
    {
        var reference = Reference.Parse(options.Reference);
        if (!reference.HasIdentifier) reference = reference.WithTag("latest");
        var tag = reference.Tag ?? throw new ArgumentException($"'{reference}' names no tag: an image layout keeps images under a tag (repo:tag)");
        Directory.CreateDirectory(options.Layout);
        var layout = new OciLayoutRepository(Path.GetFileName(Path.GetFullPath(options.Layout).TrimEnd('/')), Path.GetFullPath(options.Layout));
        using var _ = await layout.LockAsync("image-update", TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        RemoveInterruptedWork(layout.Directory);
        var (source, authorization) = await UpdateSource.OpenAsync(client, registry, reference, _log, ct).ConfigureAwait(false);

        // With verification: the signed image, for this platform, no older than the newest accepted here (the same rule as artifacts).
        var floorFile = new AcceptedFloor(layout.Directory);
        var verified = options.Verification is { } verification
            ? await VerifiedTarget.ResolveAsync(source, reference, options.Platform, options.AllowDowngrade, verification, floorFile.Read(), ct).ConfigureAwait(false)
            : null;
        var manifest = verified?.Manifest ?? await source.ResolvePlatformAsync(reference.Identifier, options.Platform, ct).ConfigureAwait(false);
        var image = await OciImage.ReadAsync(source, manifest, ct).ConfigureAwait(false);
        var blobs = image.Layers.Where(l => !l.IsForeign).Select(l => l.Descriptor).Append(image.Manifest.Config).DistinctBy(d => d.Digest).ToList();
        var size = blobs.Sum(b => b.Size);
        if (size > options.MaxImageBytes)
            throw new ArtifactTooLargeException($"{reference} is {size} bytes of layers and config, over the limit of {options.MaxImageBytes}");

        // The floor first: a cut before the tag moves leaves the old image under a floor it already satisfies or the new one.
        if (VerifiedTarget.Later(floorFile.Read(), verified?.Created) is { } floor) await floorFile.WriteAsync(floor, ct).ConfigureAwait(false);
        var current = await layout.TryResolveAsync(tag, ct).ConfigureAwait(false);
        if (current is not null && current.Digest == manifest.Digest)
            return new ImageUpdateResult(UpdateMode.UpToDate, layout.Directory, tag, manifest.Digest.ToString(), 0, size, 0, blobs.Count);

        // What a plain pull downloads: the blobs this layout lacks.
        var missing = new List<Descriptor>();
        foreach (var blob in blobs)
            if (!await layout.ExistsAsync(blob, ct).ConfigureAwait(false)) missing.Add(blob);

        // By delta from the image the layout has, when the server makes one; else (or when it cannot be used) the
        // changed layers in full. Either way only blobs go in here; the tag moves below, after every check.
        ImageDeltaOutcome? delta = null;
        string? fallback = null;
        if (options.UseDeltas && current is not null)
        {
            try
            {
                var old = await OciImage.ReadAsync(layout, current, ct).ConfigureAwait(false);
                delta = await new ImageDeltaInstaller(client, _algorithms, _log).InstallAsync(source, authorization, layout, reference, old, image, options, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (Updater.IsReasonForFullDownload(e))
            {
                fallback = e.Message;
                _log.LogInformation("Downloading the changed layers of {Reference}: no usable image delta ({Reason})", reference, e.Message);
            }
        }

        long downloaded = delta?.BytesDownloaded ?? 0;
        if (delta is null)
        {
            // What a failed delta stored already is not needed again.
            var lacking = new List<Descriptor>();
            foreach (var blob in missing)
                if (!await layout.ExistsAsync(blob, ct).ConfigureAwait(false)) lacking.Add(blob);
            FreeSpace.Ensure(layout.Directory, lacking.Sum(b => b.Size), options.ReserveBytes, $"the {lacking.Count} layer(s) of {reference} this layout lacks");
            // Blobs first (each checked against its digest as it is stored), the manifest after them, the tag last: every
            // instant, index.json names only complete content.
            var copy = new CopyOptions { Progress = new SyncProgress<(Descriptor Blob, string Action)>(p => { if (p.Action == "copied") Interlocked.Add(ref downloaded, p.Blob.Size); }) };
            await GraphCopy.CopyAsync(source, manifest.Digest.ToString(), layout, [], copy, ct).ConfigureAwait(false);
        }
        // Every layer's tar against the config's diff_id, and its members against the extractor's rules (LayerTarCheck),
        // before the tag moves, so a broken or hostile image never replaces a working one (its blobs go with the next
        // sweep): a layer checked before by its record, a new one by reading it (bounded: a gzip bomb stops at the limit).
        var checkedDiffIds = new DiffIdRecord(layout.Directory);
        var known = checkedDiffIds.Read();
        foreach (var layer in image.Layers.Where(l => !l.IsForeign))
        {
            if (delta?.CheckedLayers.Contains(layer.Descriptor.Digest) == true)
            {
                known[layer.Descriptor.Digest.ToString()] = layer.DiffId.ToString(); // its tar was checked as it was rebuilt
                continue;
            }
            if (known.TryGetValue(layer.Descriptor.Digest.ToString(), out var diffId))
            {
                if (diffId != layer.DiffId.ToString())
                    throw new DigestMismatchException($"layer {layer.Descriptor.Digest} of {reference}: its tar is {diffId}, but the config's diff_id says {layer.DiffId}");
                continue;
            }
            await using (var tar = await layer.OpenUncompressedAsync(layout, options.MaxImageBytes, ct).ConfigureAwait(false))
                await Delta.Images.LayerTarCheck.CheckAsync(tar, $"layer {layer.Descriptor.Digest} of {reference}", ct).ConfigureAwait(false);
            known[layer.Descriptor.Digest.ToString()] = layer.DiffId.ToString();
        }
        // Only the layers of the image about to be tagged: the record never grows past one image.
        await checkedDiffIds.WriteAsync(image.Layers.Where(l => !l.IsForeign).ToDictionary(l => l.Descriptor.Digest.ToString(), l => l.DiffId.ToString()), ct).ConfigureAwait(false);
        await layout.TagAsync(manifest, tag, ct).ConfigureAwait(false);
        // What no tag needs any more goes (the old image's own layers, its config and manifest).
        var swept = await layout.SweepAsync(new HashSet<(string, Digest)>(), TimeSpan.Zero, dryRun: false, ct).ConfigureAwait(false);
        _log.LogInformation("Image {Reference} ({Digest}) is in {Layout} as {Tag}: {Downloaded} bytes downloaded, {Kept} layer(s) kept, {Removed} blob(s) removed",
            reference, manifest.Digest, layout.Directory, tag, downloaded, blobs.Count - missing.Count, swept.Removed.Count);
        return delta is { } d
            ? new ImageUpdateResult(UpdateMode.Delta, layout.Directory, tag, manifest.Digest.ToString(), downloaded, size, d.Fetched, d.Held, d.Rebuilt) { PlainPullBytes = missing.Sum(b => b.Size) }
            : new ImageUpdateResult(UpdateMode.Full, layout.Directory, tag, manifest.Digest.ToString(), downloaded, size, missing.Count, blobs.Count - missing.Count, Fallback: fallback);
    }

    /// <summary>
    /// What an update cut short left in the layout: image delta work directories (under the layout's lock no update is
    /// using them), and partial blob writes in <c>.ingest</c> untouched for an hour (a write in progress, by any
    /// program, keeps its file fresh).
    /// </summary>
    private static void RemoveInterruptedWork(string layout)
    {
        try
        {
            foreach (var directory in Directory.EnumerateDirectories(layout, ".doras-image-delta-*")) Directory.Delete(directory, recursive: true);
            var ingest = Path.Combine(layout, ".ingest");
            if (Directory.Exists(ingest))
                foreach (var file in new DirectoryInfo(ingest).EnumerateFiles().Where(f => f.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1))) file.Delete();
        }
        catch (IOException) { } // tried again at the next update
    }

    /// <summary>The newest signed creation time accepted into this layout (beside index.json, written atomically).</summary>
    private sealed class AcceptedFloor(string layout)
    {
        private readonly string _path = Path.Combine(layout, ".doras-accepted");

        public DateTimeOffset? Read() => File.Exists(_path) ? SignedTime.Parse(File.ReadAllText(_path).Trim()) : null;

        public Task WriteAsync(DateTimeOffset floor, CancellationToken ct) =>
            Oci.IO.Durable.WriteAllBytesAtomicAsync(_path, System.Text.Encoding.ASCII.GetBytes(floor.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture)), ct);
    }

    /// <summary>The diff_ids of the layers this layout holds, as checked by reading their tars (layer digest to diff_id).</summary>
    private sealed class DiffIdRecord(string layout)
    {
        private readonly string _path = Path.Combine(layout, ".doras-diff-ids");

        public Dictionary<string, string> Read()
        {
            try
            {
                return System.Text.Json.JsonSerializer.Deserialize(File.ReadAllBytes(_path), DiffIdJson.Default.DictionaryStringString) ?? [];
            }
            catch (Exception e) when (e is FileNotFoundException or System.Text.Json.JsonException) { return []; } // then every layer is read again
        }

        public Task WriteAsync(Dictionary<string, string> checkedLayers, CancellationToken ct) =>
            Oci.IO.Durable.WriteAllBytesAtomicAsync(_path, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(checkedLayers, DiffIdJson.Default.DictionaryStringString), ct);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class DiffIdJson : System.Text.Json.Serialization.JsonSerializerContext;
