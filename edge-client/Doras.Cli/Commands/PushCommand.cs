using System.CommandLine;
using Doras.EdgeClient.Updates;
using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Cli.Commands;

/// <summary><c>doras push PATH REF</c>: publish a file or directory as a version, to a registry or the local store.</summary>
internal static class PushCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "The file, or directory (published as a tar layer), to publish; with --platform, leave it out" };
        var reference = new Argument<string?>("reference") { Description = "Where: [registry/]repo:tag", Arity = ArgumentArity.ZeroOrOne };
        var platforms = new Option<string[]>("--platform") { Description = "os/arch[/variant]=PATH: one build per platform, published as one multi-platform version (an image index); repeatable" };
        var tags = new Option<string[]>("--tag") { Description = "More tags to point at the same version (e.g. stable)", AllowMultipleArgumentsPerToken = true };
        var noCompress = new Option<bool>("--no-compress") { Description = "Store the layer uncompressed instead of zstd-compressed" };
        var level = new Option<int>("--level") { Description = "zstd level for the layer (1-22)", DefaultValueFactory = _ => 19 };
        var signKey = new Option<string?>("--sign-key") { Description = "Sign the version as it is published (cosign tag form; an index and each platform's manifest): a private key file, see `doras sign`" };
        var store = new StoreArguments();
        var command = new Command("push", "Publish a file or directory as an OCI artifact version (or one build per --platform as an image index)") { path, reference, tags, noCompress, level, platforms, signKey };
        store.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var builds = PlatformBuilds.Parse(result.GetValue(platforms) ?? []);
            if (builds.Count > 0 && result.GetValue(reference) is not null)
                throw new ArgumentException("with --platform, give only the reference: doras push REF --platform os/arch=PATH ...");
            if (builds.Count == 0 && result.GetValue(reference) is null)
                throw new ArgumentException("give the path and the reference: doras push PATH REF (or doras push REF --platform os/arch=PATH ...)");
            var target = Reference.Parse(result.GetValue(reference) ?? result.GetValue(path)!);
            if (target.Tag is null) throw new ArgumentException($"'{target}' needs a tag, e.g. {target.Name}:v1");
            var allTags = new[] { target.Tag }.Concat(result.GetValue(tags) ?? []).Select(Reference.ValidateTag).Select(ReservedTags.EnsureUserTag).ToArray();
            // The key before any work: a wrong password or path costs nothing.
            using var key = result.GetValue(signKey) is { } keyPath ? SignCommand.LoadKey(keyPath) : null;
            var progress = new ConsoleProgress();
            using var opened = store.Open(result, target, progress);
            if (opened.Client is { } registry) await registry.GetVersionAsync(ct); // "not a registry" (exit 2) before packing anything
            if (opened.Repository is IPushPermission permission && !await permission.CanPushAsync(ct))
                throw new UnauthorizedAccessException($"not allowed to push to {target.Name}: check --username/--password or the Docker config");
            PublishOptions Options(string source) => new()
            {
                Compress = !result.GetValue(noCompress),
                Level = result.GetValue(level),
                Packing = PackingProgress(source, result.GetValue(noCompress) ? "packing" : "compressing"),
                OnLayerReady = l => progress.Expect(l.Digest, l.Size),
            };
            // Signing: the version is stored untagged, signed, and only then tagged, so no device ever finds the tag
            // naming a version whose signature is not there yet.
            string[] publishTags = key is null ? allTags : [];
            if (builds.Count > 0)
            {
                var index = await PlatformBuilds.PublishAsync(opened.Repository, builds, publishTags, Options, ct);
                Console.WriteLine($"pushed {target.Name}@{index.Digest} as {string.Join(", ", allTags)}: an index of {builds.Count} platform(s), {string.Join(", ", builds.Select(b => Platforms.Format(b.Platform)))}");
                await SignedAsync(index);
                return 0;
            }
            var published = await ArtifactPublisher.PublishAsync(opened.Repository, result.GetValue(path)!, publishTags, Options(result.GetValue(path)!), ct);
            Console.WriteLine($"pushed {target.Name}@{published.Manifest.Digest} as {string.Join(", ", allTags)}: " +
                $"{published.Layer.Kind.ToString().ToLowerInvariant()} '{published.Layer.Name}', {Format.Bytes(published.Layer.ContentSize)} content, {Format.Bytes(published.Layer.Layer.Size)} to download");
            await SignedAsync(published.Manifest);
            return 0;

            async Task SignedAsync(Descriptor version)
            {
                if (key is null) return;
                var signed = await SignCommand.SignAsync(opened.Repository, target, version, key, recursive: true, ct);
                Console.WriteLine($"signed {string.Join(", ", signed)} with {key.Algorithm} key {key.PublicKey.Id}");
                foreach (var tag in allTags) await opened.Repository.TagAsync(version, tag, ct);
            }
        });
        return command;
    }

    /// <summary>A line at every tenth of the content while it is packed (a high zstd level takes a while before the upload starts).</summary>
    private static IProgress<long> PackingProgress(string path, string what)
    {
        // A directory's tar: per entry about three 512-byte headers (PAX) and its data padded to 512 bytes.
        var total = Directory.Exists(path)
            ? new DirectoryInfo(path).EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Sum(e => 1536 + (e is FileInfo f ? (f.Length + 511) / 512 * 512 : 0))
            : File.Exists(path) ? new FileInfo(path).Length : 0;
        var reported = -1;
        return new SyncProgress<long>(bytes =>
        {
            var tenth = total <= 0 ? 9 : (int)Math.Min(9, 10 * bytes / total); // an estimate: 100% is for the upload's line
            if (tenth <= reported) return;
            reported = tenth;
            Console.Error.WriteLine($"  {what}: {Format.Bytes(bytes)} of about {Format.Bytes(total)} ({10 * tenth}%)");
        });
    }
}
