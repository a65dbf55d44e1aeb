using System.Net;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Registry;

public class RegistryAuthAndFaultTests
{
    [Test]
    public async Task Token_auth_challenge_then_token_then_retry_with_tokens_cached_per_scope()
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        var credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new(tokens.Account.User, tokens.Account.Password) });
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = credentials, Retry = new() { MaxRetries = 0 } });

        var repo = client.Repository("team/app");
        var blobs = Enumerable.Range(0, 5).Select(i => TestData.Random(1000 + i, i)).ToList();
        foreach (var blob in blobs) await repo.PushBytesAsync(MediaTypes.OctetStream, blob);
        foreach (var blob in blobs)
        {
            await using var stream = await repo.FetchAsync(Descriptor.FromBytes(MediaTypes.OctetStream, blob));
            await stream.CopyToAsync(Stream.Null);
        }
        // Pull and push scopes: a handful of tokens for 5 uploads (HEAD, POST, PUT each) and 5 downloads.
        Assert.That(tokens.TokensIssued, Is.InRange(1, 4));

        // The token server grants nothing outside team/: the registry refuses.
        var denied = (await Assert.CatchAsync<HttpRequestException>(() => client.Repository("other/app").PushBytesAsync(MediaTypes.OctetStream, blobs[0])))!;
        Assert.That(denied.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task A_docker_identity_token_is_exchanged_through_the_oauth2_refresh_grant()
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        File.WriteAllText(dir["config.json"], "{\"auths\":{\"" + registry.Host + "\":{\"identitytoken\":\"" + tokens.RefreshToken + "\"}}}");
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = new DockerConfigCredentialProvider(dir["config.json"]) });
        var blob = await client.Repository("team/app").PushBytesAsync(MediaTypes.OctetStream, TestData.Random(100, 1));
        Assert.That(await client.Repository("team/app").ExistsAsync(blob), Is.True);
        Assert.That(tokens.TokensIssued, Is.GreaterThan(0));
    }

    [Test]
    public async Task Token_requests_carry_the_user_agent_and_the_configured_headers()
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        var credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new(tokens.Account.User, tokens.Account.Password) });
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions
        {
            PlainHttp = true, Credentials = credentials, Headers = [new("X-Meta-Device", "edge-7")],
        });
        var blob = await client.Repository("team/app").PushBytesAsync(MediaTypes.OctetStream, TestData.Random(100, 2));
        Assert.That(await client.Repository("team/app").ExistsAsync(blob), Is.True);

        Assert.That(tokens.Requests, Is.Not.Empty);
        foreach (var request in tokens.Requests)
        {
            Assert.That(request["User-Agent"], Is.EqualTo(Doras.Oci.Remote.ClientIdentity.UserAgent));
            Assert.That(request["X-Meta-Device"], Is.EqualTo("edge-7"));
            Assert.That(request.ContainsKey("Range"), Is.False);
        }
    }

    [Test]
    public async Task Too_many_requests_with_retry_after_is_retried()
    {
        var manifest = OciJson.Serialize(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [] });
        var requests = 0;
        await using var fake = await LoopbackApp.StartAsync("/v2/{**path}", async context =>
        {
            if (Interlocked.Increment(ref requests) == 1)
            {
                context.Response.StatusCode = 429;
                context.Response.Headers.RetryAfter = "1";
                return;
            }
            context.Response.ContentType = MediaTypes.ImageManifest;
            await context.Response.Body.WriteAsync(manifest);
        });
        using var client = new RegistryClient(new Uri(fake.Urls.First()).Authority, new RegistryClientOptions { PlainHttp = true });
        var resolved = await client.Repository("x/y").ResolveAsync("v1");
        Assert.That(resolved.Digest, Is.EqualTo(Digest.Compute(manifest)));
        Assert.That(requests, Is.EqualTo(2));
    }

    [Test]
    public async Task An_interrupted_download_resumes_with_a_range_request()
    {
        var blob = TestData.Random(600_000, 9);
        var digest = Digest.Compute(blob);
        var ranges = new List<string>();
        await using var fake = await LoopbackApp.StartAsync("/v2/{**path}", async context =>
        {
            var range = context.Request.Headers.Range.ToString();
            lock (ranges) ranges.Add(range);
            if (range.Length == 0)
            {
                // First attempt: half the body, then the connection drops.
                context.Response.ContentLength = blob.Length;
                await context.Response.Body.WriteAsync(blob.AsMemory(0, 300_000));
                await context.Response.Body.FlushAsync();
                context.Abort();
                return;
            }
            var from = int.Parse(range["bytes=".Length..].TrimEnd('-'));
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {from}-{blob.Length - 1}/{blob.Length}";
            await context.Response.Body.WriteAsync(blob.AsMemory(from));
        });
        using var client = new RegistryClient(new Uri(fake.Urls.First()).Authority, new RegistryClientOptions { PlainHttp = true });
        await using var stream = await client.Repository("x/y").FetchAsync(new Descriptor { MediaType = MediaTypes.OctetStream, Digest = digest, Size = blob.Length });
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.That(copy.ToArray(), Is.EqualTo(blob));
        Assert.That(ranges, Has.Count.EqualTo(2));
        Assert.That(ranges[1], Does.Match(@"^bytes=\d+-$"));
        Assert.That(int.Parse(ranges[1][6..^1]), Is.GreaterThan(0).And.LessThanOrEqualTo(300_000));
    }
}

public class RegistryRedirectAndFormatTests
{
    [Test]
    public async Task Credentials_are_not_sent_to_the_host_a_download_is_redirected_to()
    {
        var blob = TestData.Random(5000, 1);
        var digest = Digest.Compute(blob);
        string? storageSawAuthorization = null;
        var storageHit = false;
        await using var storage = await LoopbackApp.StartAsync("/{**path}", async context =>
        {
            storageHit = true;
            storageSawAuthorization = context.Request.Headers.Authorization.ToString();
            await context.Response.Body.WriteAsync(blob);
        });
        await using var registry = await LoopbackApp.StartAsync("/v2/{**path}", context =>
        {
            if (context.Request.Headers.Authorization.Count == 0)
            {
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"fake\"";
                return Task.CompletedTask;
            }
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = storage.Urls.First().TrimEnd('/') + "/signed/blob?sig=abc";
            return Task.CompletedTask;
        });
        var host = new Uri(registry.Urls.First()).Authority;
        using var client = new RegistryClient(host, new RegistryClientOptions
        {
            PlainHttp = true,
            Credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [host] = new("u", "secret") }),
        });
        await using var stream = await client.Repository("x/y").FetchAsync(new Descriptor { MediaType = MediaTypes.OctetStream, Digest = digest, Size = blob.Length });
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.That(copy.ToArray(), Is.EqualTo(blob));
        Assert.That(storageHit, Is.True);
        Assert.That(storageSawAuthorization, Is.Empty, "the registry's credentials must not reach the storage host");
    }

    [Test]
    public void Docker_schema_1_manifests_are_refused_clearly()
    {
        var schema1 = """{"schemaVersion":1,"name":"x","tag":"v1","fsLayers":[]}"""u8.ToArray();
        var descriptor = Descriptor.FromBytes(MediaTypes.DockerManifestSchema1Signed, schema1);
        var error = Assert.Throws<InvalidDataException>(() => RepositoryExtensions.ParseManifest(schema1, descriptor))!;
        Assert.That(error.Message, Is.EqualTo($"{descriptor.Digest} is a Docker schema 1 manifest, which is deprecated and not supported"));
    }

    [Test]
    public async Task Manifest_stat_by_head_gives_the_digest()
    {
        await using var registry = await RegistryProcess.StartAsync();
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        var repo = client.Repository("x/y");
        await repo.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var pushed = await repo.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [] }, ["v1"]);
        var stat = await repo.StatManifestAsync("v1");
        Assert.That(stat, Is.EqualTo(pushed with { ArtifactType = null }));
        Assert.That(await repo.StatManifestAsync("v2"), Is.Null);
    }
}
