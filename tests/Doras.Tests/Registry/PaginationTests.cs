using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Registry;

/// <summary>
/// Lists the registry pages with <c>Link: &lt;…&gt;; rel="next"</c>: every page is read (the referrers API's
/// too), and links that lead back to a page already read end in an error instead of a spin. Debian's
/// docker-registry has no referrers API and never loops, so these registries are scripted.
/// </summary>
public class PaginationTests
{
    private static readonly Digest Subject = Digest.Compute("subject"u8);
    private const string Sbom = "application/vnd.example.sbom";

    [Test]
    public async Task Referrers_on_two_pages_are_all_listed()
    {
        await using var registry = await LoopbackApp.StartAsync("/v2/fleet/app/referrers/{digest}", context =>
        {
            var second = context.Request.Query.ContainsKey("page");
            if (!second) context.Response.Headers.Link = $"</v2/fleet/app/referrers/{Subject}?page=2>; rel=\"next\"";
            return WriteIndexAsync(context, Referrer(second ? "second" : "first"));
        });
        using var client = Client(registry);

        var referrers = await client.Repository("fleet/app").ReferrersAsync(Subject);

        Assert.That(referrers.Select(r => r.Digest), Is.EqualTo(new[] { Referrer("first").Digest, Referrer("second").Digest }));
        Assert.That(referrers.Select(r => r.ArtifactType), Is.All.EqualTo(Sbom));
    }

    [Test]
    public async Task Referrer_pages_whose_links_loop_fail_with_a_clear_error()
    {
        var requests = 0;
        await using var registry = await LoopbackApp.StartAsync("/v2/fleet/app/referrers/{digest}", context =>
        {
            requests++;
            var page = context.Request.Query["page"].ToString() is "2" ? "1" : "2"; // 1 -> 2 -> 1 -> …
            context.Response.Headers.Link = $"</v2/fleet/app/referrers/{Subject}?page={page}>; rel=\"next\"";
            return WriteIndexAsync(context, Referrer("page" + page));
        });
        using var client = Client(registry);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => client.Repository("fleet/app").ReferrersAsync(Subject));

        Assert.That(error!.Message, Is.EqualTo($"referrers of fleet/app@{Subject}: the registry's Link header leads back to a page already read ({registry.Urls.First()}/v2/fleet/app/referrers/{Subject}?page=2)"));
        Assert.That(requests, Is.EqualTo(3), "the first page, page 2, page 1 again: then it stops");
    }

    [Test]
    public async Task A_tag_list_whose_link_points_at_itself_fails_instead_of_spinning()
    {
        var requests = 0;
        await using var registry = await LoopbackApp.StartAsync("/v2/fleet/app/tags/list", context =>
        {
            requests++;
            context.Response.Headers.Link = "</v2/fleet/app/tags/list?n=1&last=v1>; rel=\"next\"";
            return context.Response.WriteAsJsonAsync(new { name = "fleet/app", tags = new[] { "v1" } });
        });
        using var client = Client(registry);

        var tags = new List<string>();
        var error = await Assert.ThrowsAsync<InvalidDataException>(async () =>
        {
            await foreach (var tag in client.Repository("fleet/app").ListTagsAsync()) tags.Add(tag);
        });

        Assert.That(error!.Message, Does.EndWith("the registry's Link header leads back to a page already read (" + registry.Urls.First() + "/v2/fleet/app/tags/list?n=1&last=v1)"));
        Assert.That(tags, Is.EqualTo(new[] { "v1" }));
        Assert.That(requests, Is.EqualTo(2));
    }

    private static RegistryClient Client(Microsoft.AspNetCore.Builder.WebApplication registry) =>
        new(new Uri(registry.Urls.First()).Authority, new RegistryClientOptions { PlainHttp = true });

    private static Descriptor Referrer(string name) =>
        Descriptor.FromBytes(MediaTypes.ImageManifest, System.Text.Encoding.UTF8.GetBytes(name)) with { ArtifactType = Sbom };

    private static async Task WriteIndexAsync(HttpContext context, Descriptor referrer)
    {
        context.Response.ContentType = MediaTypes.ImageIndex;
        await context.Response.Body.WriteAsync(OciJson.Serialize(new ImageIndex { Manifests = [referrer] }));
    }
}
