using System.CommandLine;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Cli.Commands;

/// <summary><c>catalog</c>, <c>referrers</c> and <c>delete</c>: the registry API's listing and housekeeping, from the command line.</summary>
internal static class RegistryCommands
{
    public static Command Catalog()
    {
        var registry = new Argument<string?>("registry") { Description = "host[:port] of the registry (default: the local store)", Arity = ArgumentArity.ZeroOrOne };
        var pageSize = new Option<int>("--page-size") { Description = "Repositories asked for per page", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };
        var store = new StoreArguments();
        var command = new Command("catalog", "List a registry's repositories (all pages), or the local store's") { registry, pageSize, json };
        store.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var size = result.GetValue(pageSize);
            if (size is < 1 or > 10_000) throw new ArgumentException($"--page-size {size} is not between 1 and 10000");
            List<string> repositories;
            var host = result.GetValue(registry);
            if (host is null)
                repositories = [.. store.OpenStore(result).ListRepositories()];
            else
            {
                using var client = store.OpenRegistry(result, ValidHost(host));
                await client.GetVersionAsync(ct); // "not a registry" clearly, before paging
                repositories = [];
                await foreach (var name in client.CatalogAsync(size, ct)) repositories.Add(name);
            }
            if (result.GetValue(json)) Console.WriteLine(CliJson.Of(new JsonCatalog(host ?? store.OpenStore(result).Root, repositories)));
            else if (repositories.Count == 0) // not an empty line: say why there is nothing (a Doras server lists none, nor do registries with the catalog off)
                Console.Error.WriteLine($"doras: {host ?? store.OpenStore(result).Root} lists no repositories (a Doras server's /v2/ and registries with the catalog turned off list none)");
            else foreach (var repository in repositories) Console.WriteLine(repository);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Referrers()
    {
        var reference = new Argument<string>("reference") { Description = "The subject: registry/repo:tag or @digest" };
        var artifactType = new Option<string?>("--artifact-type") { Description = "Only referrers of this artifactType" };
        var json = new Option<bool>("--json") { Description = "Machine-readable output: the referrers as an OCI image index" };
        var store = new StoreArguments();
        var command = new Command("referrers", "List the manifests that refer to a subject (referrers API, or the tag-schema fallback)") { reference, artifactType, json };
        store.AddTo(command, withStore: false);
        command.SetAction(async (result, ct) =>
        {
            var subject = Reference.Parse(result.GetValue(reference)!);
            if (subject.Registry is null) throw new ArgumentException($"'{subject}' names no registry: referrers are listed from a registry (host/repo:tag)");
            using var opened = store.Open(result, subject);
            var repository = opened.Repository;
            var lister = repository as IReferrerLister ?? throw new NotSupportedException($"{repository.GetType().Name} cannot list referrers");
            var descriptor = await repository.ResolveAsync(subject.Identifier, ct);
            var found = await lister.ReferrersAsync(descriptor.Digest, result.GetValue(artifactType), ct);
            if (result.GetValue(json))
                Console.WriteLine(System.Text.Encoding.UTF8.GetString(OciJson.Serialize(new ImageIndex { Manifests = found })));
            else
                foreach (var referrer in found)
                    Console.WriteLine($"{referrer.Digest} {referrer.ArtifactType ?? referrer.MediaType} {referrer.Size}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Delete()
    {
        var reference = new Argument<string>("reference") { Description = "The manifest ([registry/]repo:tag or @digest; every tag pointing to it goes), or with --blob the repository" };
        var force = new Option<bool>("--force") { Description = "Delete the manifest even when tags other than the one named point to it (they go with it)" };
        var blob = new Option<string?>("--blob") { Description = "Delete this blob (sha256:…) of the repository instead of a manifest (registries only)" };
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };
        var store = new StoreArguments();
        var command = new Command("delete", "Delete a manifest (with the tags pointing to it) or a blob") { reference, blob, force, json };
        store.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var target = Reference.Parse(result.GetValue(reference)!);
            using var opened = store.Open(result, target);
            JsonDeleted deleted;
            if (result.GetValue(blob) is { } blobText)
            {
                var digest = Digest.Parse(blobText);
                if (opened.Repository is not IBlobDeleter blobs)
                    throw new ArgumentException("--blob works on registries: the local store's blobs are shared content, removed only with what refers to them");
                await blobs.DeleteBlobAsync(digest, ct);
                deleted = new JsonDeleted($"{target.Name}@{digest}", "blob");
            }
            else
            {
                var descriptor = await opened.Repository.ResolveAsync(target.Identifier, ct);
                if (target.Tag is { } named && !result.GetValue(force))
                {
                    // Deleting by tag removes the manifest, and with it every other tag that names the same version.
                    var others = new List<string>();
                    await foreach (var tag in opened.Repository.ListTagsAsync(ct))
                        if (tag != named && (await opened.Repository.TryResolveAsync(tag, ct))?.Digest == descriptor.Digest) others.Add(tag);
                    if (others.Count > 0)
                        throw new ArgumentException($"{target} is also tagged {string.Join(", ", others)}, which would be deleted with it; nothing was deleted (--force deletes them all)");
                }
                if (opened.Repository is not IManifestDeleter deleter)
                    throw new NotSupportedException($"cannot delete from {opened.Repository.GetType().Name}");
                await deleter.DeleteManifestAsync(descriptor.Digest, ct);
                deleted = new JsonDeleted($"{target.Name}@{descriptor.Digest}", "manifest");
            }
            Console.WriteLine(result.GetValue(json) ? CliJson.Of(deleted) : $"deleted {deleted.Kind} {deleted.Deleted}");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A registry argument is a host[:port], checked as a reference's host is.</summary>
    private static string ValidHost(string host)
    {
        var parsed = Reference.Parse($"{host}/x");
        return parsed.Registry == host ? host : throw new ArgumentException($"'{host}' is not a registry host[:port], e.g. registry.example.org or localhost:5000");
    }
}
