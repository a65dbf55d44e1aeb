using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Tests.ClientApi;

/// <summary><c>doras catalog</c>, <c>referrers</c> and <c>delete</c> against a real docker-registry (no referrers API: the tag-schema fallback).</summary>
public class RegistryCommandTests
{
    [Test]
    public async Task Catalog_lists_every_repository_across_pages_as_text_and_json()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var dir = new TempDirectory();
        string[] names = ["fleet/a", "fleet/b", "fleet/c", "other/d"];
        foreach (var name in names) CliRun.Ok("push", dir.Write($"{name}/f.bin", TestData.Binary(1000, name.Length)), $"{registry.Host}/{name}:1", "--plain-http");

        var text = CliRun.Ok("catalog", registry.Host, "--plain-http", "--page-size", "1");
        Assert.That(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), Is.EqualTo(names));
        var json = CliRun.Ok("catalog", registry.Host, "--plain-http", "--page-size", "3", "--json").Trim();
        Assert.That(json, Is.EqualTo($"{{\"registry\":\"{registry.Host}\",\"repositories\":[\"fleet/a\",\"fleet/b\",\"fleet/c\",\"other/d\"]}}"));

        // The local store has a catalog too.
        CliRun.Ok("push", dir.Write("x/f.bin", [1, 2, 3]), "local/x:1", "--store", dir["store"]);
        CliRun.Ok("push", dir.Write("y/f.bin", [4, 5]), "local/y/z:1", "--store", dir["store"]);
        Assert.That(CliRun.Ok("catalog", "--store", dir["store"]).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Is.EqualTo(new[] { "local/x", "local/y/z" }));
    }

    [Test]
    public async Task Referrers_lists_what_refers_to_a_subject_through_the_fallback_tag_filtered_by_artifact_type()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        using var dir = new TempDirectory();
        var repository = client.Repository("fleet/app");
        var subject = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Binary(5000, 1), "v1");
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var signature = await PushReferrerAsync(repository, subject, "application/vnd.example.signature");
        var sbom = await PushReferrerAsync(repository, subject, "application/vnd.example.sbom");

        var text = CliRun.Ok("referrers", $"{registry.Host}/fleet/app:v1", "--plain-http");
        Assert.That(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), Is.EquivalentTo(new[]
        {
            $"{signature.Digest} application/vnd.example.signature {signature.Size}",
            $"{sbom.Digest} application/vnd.example.sbom {sbom.Size}",
        }));

        var json = CliRun.Ok("referrers", $"{registry.Host}/fleet/app@{subject.Digest}", "--plain-http", "--artifact-type", "application/vnd.example.sbom", "--json");
        var index = OciJson.Deserialize<ImageIndex>(System.Text.Encoding.UTF8.GetBytes(json.Trim()), "referrers output");
        Assert.That(index.MediaType, Is.EqualTo(MediaTypes.ImageIndex));
        Assert.That(index.Manifests.Select(m => m.Digest), Is.EqualTo(new[] { sbom.Digest }));
        Assert.That(index.Manifests[0].ArtifactType, Is.EqualTo("application/vnd.example.sbom"));

        var none = CliRun.Ok("referrers", $"{registry.Host}/fleet/app:v1", "--plain-http", "--artifact-type", "application/none", "--json").Trim();
        Assert.That(OciJson.Deserialize<ImageIndex>(System.Text.Encoding.UTF8.GetBytes(none), "referrers output").Manifests, Is.Empty);
    }

    [Test]
    public async Task Delete_removes_a_manifest_with_its_tags_and_a_blob_by_digest()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        using var dir = new TempDirectory();
        var repository = client.Repository("fleet/app");
        var v1 = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Binary(5000, 1), "v1", "stable");
        var v2 = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Binary(5000, 2), "v2");
        var layer = (await repository.FetchManifestAsync(v2)).Layers[0];

        var (refused, why) = CliRun.Run("delete", $"{registry.Host}/fleet/app:stable", "--plain-http");
        Assert.That(refused, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), why);
        Assert.That(why, Does.Contain($"{registry.Host}/fleet/app:stable is also tagged v1, which would be deleted with it; nothing was deleted (--force deletes them all)"));
        Assert.That((await repository.TryResolveAsync("stable"))!.Digest, Is.EqualTo(v1.Digest), "refused: nothing deleted");
        var json = CliRun.Ok("delete", $"{registry.Host}/fleet/app:stable", "--plain-http", "--force", "--json").Trim();
        Assert.That(json, Is.EqualTo($"{{\"deleted\":\"{registry.Host}/fleet/app@{v1.Digest}\",\"kind\":\"manifest\"}}"));
        Assert.That(await repository.TryResolveAsync("v1"), Is.Null, "every tag of the manifest went with it");
        Assert.That(await repository.TryResolveAsync("stable"), Is.Null);
        Assert.That((await repository.TryResolveAsync("v2"))!.Digest, Is.EqualTo(v2.Digest), "the other version stays");

        var text = CliRun.Ok("delete", $"{registry.Host}/fleet/app", "--blob", layer.Digest.ToString(), "--plain-http").Trim();
        Assert.That(text, Is.EqualTo($"deleted blob {registry.Host}/fleet/app@{layer.Digest}"));
        Assert.That(await repository.StatBlobAsync(layer.Digest), Is.Null);

        var (code, output) = CliRun.Run("delete", $"{registry.Host}/fleet/app@{v1.Digest}", "--plain-http");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.NotFound), output);

        // The local store: a manifest's tags go, the other version stays.
        CliRun.Ok("push", dir.Write("l1/app.bin", [1, 2, 3]), "fleet/app:1", "--tag", "stable", "--store", dir["store"]);
        CliRun.Ok("push", dir.Write("l2/app.bin", [4, 5, 6]), "fleet/app:2", "--store", dir["store"]);
        Assert.That(CliRun.Run("delete", "fleet/app:stable", "--store", dir["store"]).Code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), "also tagged 1");
        Assert.That(CliRun.Ok("delete", "fleet/app:stable", "--store", dir["store"], "--force"), Does.StartWith("deleted manifest fleet/app@sha256:"));
        Assert.That(CliRun.Ok("tags", "fleet/app", "--store", dir["store"]).Trim(), Is.EqualTo("2"));
    }

    private static async Task<Descriptor> PushReferrerAsync(RemoteRepository repository, Descriptor subject, string artifactType)
    {
        var manifest = new ImageManifest
        {
            ArtifactType = artifactType,
            Config = Descriptor.EmptyJson,
            Layers = [Descriptor.EmptyJson],
            Subject = subject,
        };
        return await repository.PushManifestAsync(manifest, []);
    }
}
