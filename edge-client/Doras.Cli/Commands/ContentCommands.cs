using System.CommandLine;
using Doras.EdgeClient.Updates;
using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Cli.Commands;

/// <summary><c>download</c>, <c>tags</c> and <c>copy</c>: working with artifacts in registries and the local store.</summary>
internal static class ContentCommands
{
    public static Command Download()
    {
        var reference = new Argument<string>("reference") { Description = "The artifact: [registry/]repo:tag or @digest" };
        var output = new Option<string>("--output", "-o") { Description = "Directory to write the layers into, under their titles", Required = true };
        var platform = new Option<string?>("--platform") { Description = "os/arch[/variant] when the reference is an index (default: this machine)" };
        var store = new StoreArguments();
        var command = new Command("download", "Download an artifact's layers (concurrently, verified) into a directory") { reference, output, platform };
        store.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var source = Reference.Parse(result.GetValue(reference)!);
            var progress = new ConsoleProgress();
            using var opened = store.Open(result, source, progress);
            var wanted = result.GetValue(platform) is { } p ? Platforms.Parse(p) : null;
            var (descriptor, manifest) = await opened.Repository.ResolveManifestAsync(source.Identifier, wanted, ct);
            var directory = Directory.CreateDirectory(result.GetValue(output)!).FullName;
            long total = 0;
            await Parallel.ForEachAsync(manifest.Layers, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (layer, token) =>
            {
                var title = layer.Annotation(Annotations.Title) ?? throw new InvalidDataException($"layer {layer.Digest} has no title to save it under");
                if (title.Contains('/') || title is "." or ".." || title.Contains('\0'))
                    throw new HostileArchiveException($"layer title '{title}' is not a plain name");
                progress.Expect(layer.Digest, layer.Size);
                var artifact = ArtifactLayer.From(manifest with { Layers = [layer] }, $"{source.Name}@{descriptor.Digest}");
                await using var stream = await opened.Repository.FetchAsync(layer, token);
                await using var content = artifact.OpenContent(stream);
                var target = Path.Combine(directory, title);
                if (artifact.Kind == ArtifactKind.Directory)
                    await TarPacking.ExtractAsync(content, target, token);
                else await WriteFileAsync(content, target, layer, token);
                Interlocked.Add(ref total, layer.Size);
                Console.WriteLine($"{title}: {Format.Bytes(artifact.ContentSize)} ({layer.Digest})");
            });
            Console.WriteLine($"downloaded {source.Name}@{descriptor.Digest}: {manifest.Layers.Count} layer(s), {Format.Bytes(total)}");
            return 0;
        });
        return command;
    }

    /// <summary>
    /// A file layer as a new file (an existing one is the user's: never replaced, exit 2), with the permission bits
    /// it was published with (as <c>pull</c> installs them); a failed download leaves nothing behind.
    /// </summary>
    private static async Task WriteFileAsync(Stream content, string target, Descriptor layer, CancellationToken ct)
    {
        FileStream file;
        try { file = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous); }
        catch (IOException) when (Path.Exists(target))
        {
            throw new ExistingContentException(target, $"{target} exists; download never replaces a file: remove it or choose another --output");
        }
        try
        {
            await using (file) await content.CopyToAsync(file, ct);
            if (!OperatingSystem.IsWindows() && layer.Annotation(DorasAnnotations.FileMode) is { } mode)
                File.SetUnixFileMode(target, (UnixFileMode)(Convert.ToInt32(mode, 8) & 0x1FF)); // permission bits only
        }
        catch
        {
            File.Delete(target);
            throw;
        }
    }

    public static Command Tags()
    {
        var repository = new Argument<string>("repository") { Description = "[registry/]repo" };
        var all = new Option<bool>("--all") { Description = "Also the server's own tags: deltas (_delta-…) and its records (_doras-…)" };
        var store = new StoreArguments();
        var command = new Command("tags", "List a repository's tags (the versions; --all for the delta server's tags too)") { repository, all };
        store.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var reference = Reference.Parse(result.GetValue(repository)!);
            var showAll = result.GetValue(all);
            using var opened = store.Open(result, reference);
            var any = false;
            try
            {
                await foreach (var tag in opened.Repository.ListTagsAsync(ct))
                {
                    any = true;
                    if (showAll || !IsServerTag(tag)) Console.WriteLine(tag);
                }
            }
            catch (System.Text.Json.JsonException) when (opened.Client is { } client)
            {
                await client.GetVersionAsync(ct); // a web page instead of a tag list: most likely no registry at all
                throw;
            }
            if (any) return 0;
            // Nothing at all: a registry says 404 for a repository it does not have, and so does a host that is no
            // registry; neither is an empty success.
            if (opened.Client is { } host) await host.GetVersionAsync(ct);
            throw new NotFoundException($"{opened.Repository.Name} has no tags: the repository does not exist, or holds no tagged version");
        });
        return command;
    }

    /// <summary>Tags the delta server writes next to the versions: deltas and their placeholders, and its records.</summary>
    private static bool IsServerTag(string tag) => ReservedTags.IsReserved(tag);

    public static Command Copy()
    {
        var from = new Argument<string>("source") { Description = "[registry/]repo:tag to copy (with --all-tags: [registry/]repo)" };
        var to = new Argument<string>("destination") { Description = "[registry/]repo[:tag] to copy to (with --all-tags: [registry/]repo)" };
        var allTags = new Option<bool>("--all-tags") { Description = "Copy every version tag of the repository, skipping tags the destination has at the same digest" };
        var serverTags = new Option<bool>("--include-server-tags") { Description = "With --all-tags: also the delta server's own tags (deltas _delta-…, records _doras-…), which are left out by default" };
        var json = new Option<bool>("--json") { Description = "With --all-tags: one JSON object per tag" };
        var noReferrers = new Option<bool>("--no-referrers")
        {
            Description = "Copy the artifact only: not its signatures and attestations (cosign's sha256-<hex>.sig/.att/.sbom tags) and referrers " +
                "(manifests whose subject it is: notation signatures, sigstore bundles, SBOMs), which are copied with it by default " +
                $"(also those of an index's platform manifests, and what is attached to them, {Attached.MaxDepth} levels and {Attached.MaxAttachments} manifests at most)",
        };
        var store = new StoreArguments();
        var command = new Command("copy", "Copy an artifact (and everything it references, its signatures and referrers), or a whole repository, between registries and the local store") { from, to, allTags, serverTags, json, noReferrers };
        store.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var source = Reference.Parse(result.GetValue(from)!);
            var destination = Reference.Parse(result.GetValue(to)!);
            // A single copy tags like a push does, checked before anything is opened (the server's own tags travel
            // only with --all-tags --include-server-tags).
            var tags = result.GetValue(allTags) ? []
                : (destination.Tag is { } t ? new[] { t } : source.Tag is { } s ? new[] { s } : []).Select(ReservedTags.EnsureUserTag).ToArray();
            using var sourceStore = store.Open(result, source);
            using var destinationStore = store.Open(result, destination);
            var attachments = 0;
            var attached = result.GetValue(noReferrers) ? null : Attached with { Progress = new SyncProgress<(Descriptor Manifest, string Via, string Action)>(a =>
            {
                if (a.Action != "limit") attachments++;
                Console.Error.WriteLine(a.Action == "limit"
                    ? $"doras: warning: {a.Via} {a.Manifest.Digest} not copied: over {Attached.MaxAttachments} signatures and referrers"
                    : $"  {a.Via} {a.Manifest.Digest.Hex[..12]}{(a.Manifest.ArtifactType is { } type ? " (" + type + ")" : "")}: {a.Action}");
            }) };
            if (result.GetValue(allTags))
                return await CopyAllTagsAsync(source, destination, sourceStore.Repository, destinationStore.Repository, result.GetValue(json), result.GetValue(serverTags), attached, ct);
            var progress = new Progress<(Descriptor Blob, string Action)>(p => Console.Error.WriteLine($"  {p.Blob.Digest.Hex[..12]} {Format.Bytes(p.Blob.Size)}: {p.Action}"));
            var root = await GraphCopy.CopyAsync(sourceStore.Repository, source.Identifier, destinationStore.Repository, tags, new CopyOptions { Progress = progress, Attached = attached }, ct);
            Console.WriteLine($"copied {source} to {destination.Name}@{root.Digest}{(tags.Length > 0 ? " as " + string.Join(", ", tags) : "")}" +
                (attached is null ? "" : $" with {attachments} signature(s) and referrer(s)"));
            return 0;
        });
        return command;
    }

    /// <summary>What travels with a copied version unless --no-referrers: cosign's tags and referrers, and theirs.</summary>
    private static readonly AttachedCopy Attached = new() { MaxDepth = 3, MaxAttachments = 500 };

    private static async Task<int> CopyAllTagsAsync(Reference source, Reference destination, IOciRepository from, IOciRepository to, bool json, bool withServerTags,
        AttachedCopy? attached, CancellationToken ct)
    {
        if (source.HasIdentifier || destination.HasIdentifier)
            throw new ArgumentException($"with --all-tags, name repositories without a tag or digest: {source.Name} {destination.Name}");
        var blobs = new Progress<(Descriptor Blob, string Action)>(p => Console.Error.WriteLine($"  {p.Blob.Digest.Hex[..12]} {Format.Bytes(p.Blob.Size)}: {p.Action}"));
        var perTag = new SyncProgress<TagCopy>(t => Console.WriteLine(json
            ? CliJson.Of(new JsonCopiedTag(t.Tag, t.Digest.ToString(), t.Copied ? "copied" : "exists"))
            : $"{t.Tag}: {t.Digest} {(t.Copied ? "copied" : "exists, skipped")}"));
        // The server's tags beside the versions (delta placeholders, usage records) are its working state for this
        // registry; another server reading copies of them would act on state that is not its own, so they travel only
        // when asked. (Its peering state is a repository of its own, which nobody copies by accident.)
        // The tags of signatures and referrers indexes (sha256-<hex>.sig, sha256-<hex>) are no versions: they travel
        // with the versions they are attached to, and with --no-referrers not at all.
        var tags = await GraphCopy.CopyAllTagsAsync(from, to, new CopyOptions { Progress = blobs, Attached = attached }, perTag,
            tag => (withServerTags || !IsServerTag(tag)) && !AttachmentTags.IsAttachment(tag), ct);
        if (!json)
            Console.WriteLine($"copied {tags.Count(t => t.Copied)} of {tags.Count} tag(s) of {source.Name} to {destination.Name} ({tags.Count(t => !t.Copied)} already there)");
        return 0;
    }
}
