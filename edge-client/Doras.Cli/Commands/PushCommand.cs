using System.CommandLine;
using Doras.Delta.Artifacts;
using Doras.Oci.Layout;
using Doras.Oci.Model;

namespace Doras.Cli.Commands;

/// <summary><c>doras push PATH REPO:TAG --store DIR</c>: publish a file or directory as a version.</summary>
internal static class PushCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "The file, or directory (published as a tar layer), to publish" };
        var reference = new Argument<string>("reference") { Description = "Where to publish it: repo:tag" };
        var store = new Option<string>("--store") { Description = "The OCI layout store directory the server serves", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DORAS_Store__Path") ?? "doras-store" };
        var tags = new Option<string[]>("--tag") { Description = "More tags to point at the same version (e.g. stable)", AllowMultipleArgumentsPerToken = true };
        var noCompress = new Option<bool>("--no-compress") { Description = "Store the layer uncompressed instead of zstd-compressed" };
        var level = new Option<int>("--level") { Description = "zstd level for the layer (1-22)", DefaultValueFactory = _ => 19 };
        var command = new Command("push", "Publish a file or directory as an OCI artifact version") { path, reference, store, tags, noCompress, level };
        command.SetAction(async (result, ct) =>
        {
            var target = Reference.Parse(result.GetValue(reference)!);
            if (target.Registry is not null) throw new ArgumentException($"'{target}' names a registry; pushing to registries is not supported yet, publish into --store");
            if (target.Tag is null) throw new ArgumentException($"'{target}' needs a tag, e.g. {target.Repository}:v1");
            var allTags = new[] { target.Tag }.Concat(result.GetValue(tags) ?? []).Select(Reference.ValidateTag).ToArray();
            var repository = new OciLayoutStore(result.GetValue(store)!).Repository(target.Repository);
            var published = await ArtifactPublisher.PublishAsync(repository, result.GetValue(path)!, allTags,
                new PublishOptions { Compress = !result.GetValue(noCompress), Level = result.GetValue(level) }, ct);
            Console.WriteLine($"pushed {target.Repository}@{published.Manifest.Digest} as {string.Join(", ", allTags)}: " +
                $"{published.Layer.Kind.ToString().ToLowerInvariant()} '{published.Layer.Name}', {Format.Bytes(published.Layer.ContentSize)} content, {Format.Bytes(published.Layer.Layer.Size)} to download");
            return 0;
        });
        return command;
    }
}
