using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Layout;

namespace Doras.Tests.ClientApi;

/// <summary>
/// The tag prefixes <c>_delta-</c> and <c>_doras-</c> are Doras's own: every way a user creates a tag refuses them
/// (a usage error, exit 2) before anything is stored.
/// </summary>
public class ReservedTagTests
{
    private static string Refusal(string tag) =>
        $"doras: tag '{tag}' is reserved: tags starting with '_delta-' or '_doras-' are Doras's own";

    [Test]
    public async Task Push_and_copy_refuse_reserved_tags_with_a_usage_error_and_store_nothing()
    {
        using var dir = new TempDirectory();
        var store = dir["store"];
        var file = dir.Write("app.bin", TestData.Binary(20_000, 81));

        string[][] refused =
        [
            ["push", file, "fleet/app:_delta-mine", "--store", store],
            ["push", file, "fleet/app:v1", "--tag", "stable", "--tag", "_doras-mine", "--store", store],
            ["push", "fleet/app:v1", "--platform", $"linux/amd64={file}", "--tag", "_delta-mine", "--store", store],
        ];
        foreach (var args in refused)
        {
            var (code, output) = CliRun.Run(args);
            Assert.That(code, Is.EqualTo(2), output);
            var tag = args.Single(a => a.Contains("_delta-") || a.Contains("_doras-")).Split(':').Last();
            Assert.That(output.Trim(), Is.EqualTo(Refusal(tag)));
            Assert.That(Directory.Exists(store), Is.False, $"doras {string.Join(' ', args)} stored something");
        }

        CliRun.Ok("push", file, "fleet/app:v1", "--store", store);
        var before = TreeSnapshot.Take(store);
        var (copyCode, copyOutput) = CliRun.Run("copy", "fleet/app:v1", "fleet/app:_doras-copy", "--store", store);
        Assert.That(copyCode, Is.EqualTo(2), copyOutput);
        Assert.That(copyOutput.Trim(), Is.EqualTo(Refusal("_doras-copy")));
        Assert.That(TreeSnapshot.Take(store), Is.EqualTo(before));
        Assert.That(await new OciLayoutStore(store).Open("fleet/app").ListTagsAsync().ToListAsync(), Is.EqualTo(new[] { "v1" }));
    }

    [Test]
    public async Task The_library_publisher_refuses_a_reserved_tag_before_storing_anything()
    {
        using var dir = new TempDirectory();
        var repository = new OciLayoutStore(dir["store"]).Open("fleet/app");
        await Versions.PublishFileAsync(repository, dir, "app", TestData.Binary(20_000, 82), "v1");
        var before = TreeSnapshot.Take(dir["store"]);

        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            ArtifactPublisher.PublishAsync(repository, dir.Write("v2/app", TestData.Binary(20_000, 83)), ["v2", "_delta-mine"]));

        Assert.That(error!.Message, Is.EqualTo("tag '_delta-mine' is reserved: tags starting with '_delta-' or '_doras-' are Doras's own"));
        Assert.That(TreeSnapshot.Take(dir["store"]), Is.EqualTo(before));
        Assert.That(await repository.ListTagsAsync().ToListAsync(), Is.EqualTo(new[] { "v1" }));
    }
}
