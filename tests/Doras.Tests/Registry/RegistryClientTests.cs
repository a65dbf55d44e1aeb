using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Tests.Registry;

/// <summary>Every client operation against a real registry (distribution 2.8 from Debian) on loopback.</summary>
[NonParallelizable] // changes an environment variable of the whole process
public class RegistryClientTests
{
    private RegistryProcess _registry = null!;
    private RegistryClient _client = null!;

    [OneTimeSetUp]
    public async Task StartRegistry()
    {
        _registry = await RegistryProcess.StartAsync();
        _client = new RegistryClient(_registry.Host, new RegistryClientOptions { PlainHttp = true, ChunkSize = 256 * 1024, MonolithicThreshold = 512 * 1024 });
    }

    [OneTimeTearDown]
    public async Task StopRegistry()
    {
        _client.Dispose();
        await _registry.DisposeAsync();
    }

    private static string NewRepo() => "test/r" + Guid.NewGuid().ToString("N")[..12];

    private static async Task<byte[]> ReadAllAsync(IReadOnlyOciRepository repo, Descriptor descriptor)
    {
        await using var stream = await repo.FetchAsync(descriptor);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Test]
    public async Task Ping_asks_the_registry_for_v2_and_fails_on_a_host_that_is_not_a_registry()
    {
        // Through a recording proxy: the ping is one GET /v2/, and the registry answers it as a registry does.
        await using var proxy = await LoopbackProxy.StartAsync(new Uri($"http://{_registry.Host}"), record: true);
        using (var client = new RegistryClient(proxy.Host, new RegistryClientOptions { PlainHttp = true }))
            await Assert.DoesNotThrowAsync(() => client.PingAsync());
        Assert.That(proxy.Requests.Select(r => (r.Method, r.Path)), Is.EqualTo(new[] { ("GET", "/v2/") }));
        using (var http = new HttpClient())
        using (var answer = await http.GetAsync($"http://{_registry.Host}/v2/"))
            Assert.That(answer.Headers.GetValues(RegistryClient.ApiVersionHeader), Is.EqualTo(new[] { "registry/2.0" }));

        // A web server that is no registry (404 on /v2/): the ping fails, naming the host.
        await using var notRegistry = await LoopbackApp.StartAsync("/{**path}", context => { context.Response.StatusCode = 404; return Task.CompletedTask; });
        var host = new Uri(notRegistry.Urls.First()).Authority;
        using var other = new RegistryClient(host, new RegistryClientOptions { PlainHttp = true });
        var failure = await Assert.CatchAsync(() => other.PingAsync());
        Assert.That(failure!.Message, Does.Contain(host));
    }

    [TestCase(100_000, TestName = "Monolithic upload")]
    [TestCase(1_300_000, TestName = "Chunked upload tracking its own offset")]
    public async Task Blob_upload_and_verified_download(int size)
    {
        var repo = _client.Repository(NewRepo());
        var content = TestData.Random(size, size);
        var descriptor = Descriptor.FromBytes(MediaTypes.OctetStream, content);
        Assert.That(await repo.ExistsAsync(descriptor), Is.False);
        await repo.PushAsync(descriptor, new MemoryStream(content));
        Assert.That(await repo.ExistsAsync(descriptor), Is.True);
        Assert.That(await ReadAllAsync(repo, descriptor), Is.EqualTo(content));
    }

    [Test]
    public async Task Upload_with_wrong_content_is_refused()
    {
        var repo = _client.Repository(NewRepo());
        var content = TestData.Random(1000, 1);
        var descriptor = Descriptor.FromBytes(MediaTypes.OctetStream, content);
        content[0] ^= 1;
        await Assert.CatchAsync(() => repo.PushAsync(descriptor, new MemoryStream(content)));
        Assert.That(await repo.ExistsAsync(descriptor), Is.False);
    }

    [Test]
    public async Task Interrupted_chunked_upload_is_resumed_by_another_client()
    {
        var name = NewRepo();
        var content = TestData.Random(1_000_000, 2);
        var descriptor = Descriptor.FromBytes(MediaTypes.OctetStream, content);
        var repo = _client.Repository(name);
        var session = await repo.StartUploadAsync();

        // Upload two 256 KiB chunks, then "crash".
        UploadSession? saved = null;
        using var crash = new CancellationTokenSource();
        var checkpoints = new SynchronousProgress<UploadSession>(s =>
        {
            saved = s;
            if (s.Offset >= 2 * 256 * 1024) crash.Cancel();
        });
        await Assert.CatchAsync<OperationCanceledException>(() => repo.UploadAsync(session, descriptor, new MemoryStream(content), crash.Token, checkpoints));
        Assert.That(saved!.Offset, Is.EqualTo(2 * 256 * 1024));

        // Another process: a new client, knowing only the saved upload URL and offset.
        using var other = new RegistryClient(_registry.Host, new RegistryClientOptions { PlainHttp = true, ChunkSize = 256 * 1024 });
        var otherRepo = other.Repository(name);
        var status = await otherRepo.GetUploadStatusAsync(saved);
        Assert.That(status.Offset, Is.EqualTo(saved.Offset), "the registry holds what we sent");
        await otherRepo.UploadAsync(status, descriptor, new MemoryStream(content));
        Assert.That(await ReadAllAsync(otherRepo, descriptor), Is.EqualTo(content));
    }

    [Test]
    public async Task Manifests_push_with_tags_resolve_retag_and_delete()
    {
        var repo = _client.Repository(NewRepo());
        await repo.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var layer = await repo.PushBytesAsync(MediaTypes.OctetStream, TestData.Random(3000, 3));
        var manifest = new ImageManifest { ArtifactType = DorasMediaTypes.Artifact, Config = Descriptor.EmptyJson, Layers = [layer] };
        var pushed = await repo.PushManifestAsync(manifest, ["v1", "stable"]);

        var resolved = await repo.ResolveAsync("stable");
        Assert.That(resolved.Digest, Is.EqualTo(pushed.Digest));
        Assert.That(resolved.MediaType, Is.EqualTo(MediaTypes.ImageManifest));
        Assert.That((await repo.FetchManifestAsync(resolved)).Layers.Single().Digest, Is.EqualTo(layer.Digest));

        var tags = new List<string>();
        await foreach (var t in repo.ListTagsAsync()) tags.Add(t);
        Assert.That(tags, Is.EquivalentTo(new[] { "v1", "stable" }));

        await repo.DeleteManifestAsync(pushed.Digest);
        Assert.That(await repo.TryResolveAsync("stable"), Is.Null);
        Assert.That(await repo.TryResolveAsync(pushed.Digest.ToString()), Is.Null);
        var gone = await Assert.ThrowsAsync<NotFoundException>(() => repo.DeleteManifestAsync(pushed.Digest));
        Assert.That(gone!.Message, Does.Contain("not found"));

        await repo.DeleteBlobAsync(layer.Digest);
        Assert.That(await repo.ExistsAsync(layer), Is.False);
    }

    [Test]
    public async Task Cross_repository_mount_with_fallback()
    {
        var source = _client.Repository(NewRepo());
        var target = _client.Repository(NewRepo());
        var blob = await source.PushBytesAsync(MediaTypes.OctetStream, TestData.Random(5000, 4));
        Assert.That(await target.TryMountAsync(blob, source.Name), Is.True);
        Assert.That(await target.ExistsAsync(blob), Is.True);

        var missing = Descriptor.FromBytes(MediaTypes.OctetStream, TestData.Random(10, 5));
        Assert.That(await target.TryMountAsync(missing, source.Name), Is.False);
        Assert.That(await target.ExistsAsync(missing), Is.False);
    }

    [Test]
    public async Task Catalog_pages_through_link_headers()
    {
        var names = Enumerable.Range(0, 5).Select(_ => NewRepo()).ToList();
        foreach (var name in names) await _client.Repository(name).PushBytesAsync(MediaTypes.OctetStream, TestData.Random(10, 6));
        var all = new List<string>();
        await foreach (var repo in _client.CatalogAsync(pageSize: 2)) all.Add(repo);
        Assert.That(all, Is.SupersetOf(names));
        Assert.That(all, Is.Unique);
    }

    [Test]
    public async Task Tags_of_an_unknown_repository_are_empty_and_a_missing_manifest_is_null()
    {
        var repo = _client.Repository(NewRepo());
        var tags = new List<string>();
        await foreach (var t in repo.ListTagsAsync()) tags.Add(t);
        Assert.That(tags, Is.Empty);
        Assert.That(await repo.TryResolveAsync("nope"), Is.Null);
    }

    [Test]
    public async Task Basic_auth_with_and_without_credentials()
    {
        await using var secured = await RegistryProcess.StartWithBasicAuthAsync("alice", "s3cret");
        var content = TestData.Random(2000, 7);
        var descriptor = Descriptor.FromBytes(MediaTypes.OctetStream, content);

        using var anonymous = new RegistryClient(secured.Host, new RegistryClientOptions { PlainHttp = true, Retry = new() { MaxRetries = 0 } });
        var denied = (await Assert.CatchAsync<HttpRequestException>(() => anonymous.Repository("team/app").PushAsync(descriptor, new MemoryStream(content))))!;
        Assert.That(denied.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Unauthorized));

        using var wrong = new RegistryClient(secured.Host, new RegistryClientOptions
        {
            PlainHttp = true, Retry = new() { MaxRetries = 0 },
            Credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [secured.Host] = new("alice", "wrong") }),
        });
        Assert.That((await Assert.CatchAsync<HttpRequestException>(() => wrong.PingAsync()))!.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Unauthorized));

        using var dir = new TempDirectory();
        var auth = Convert.ToBase64String("alice:s3cret"u8.ToArray());
        File.WriteAllText(dir["config.json"], "{\"auths\":{\"" + secured.Host + "\":{\"auth\":\"" + auth + "\"}}}");
        using var alice = new RegistryClient(secured.Host, new RegistryClientOptions { PlainHttp = true, Credentials = new DockerConfigCredentialProvider(dir["config.json"]) });
        var repo = alice.Repository("team/app");
        await repo.PushAsync(descriptor, new MemoryStream(content));
        Assert.That(await ReadAllAsync(repo, descriptor), Is.EqualTo(content));
    }

    [Test]
    public async Task Referrers_fall_back_to_the_tag_schema_which_pushing_keeps_up_to_date()
    {
        var repo = _client.Repository(NewRepo());
        await repo.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var subject = await repo.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [] }, ["v1"]);
        Assert.That(await repo.ReferrersAsync(subject.Digest), Is.Empty);

        var signature = await repo.PushManifestAsync(new ImageManifest
        {
            ArtifactType = "application/vnd.example.signature", Config = Descriptor.EmptyJson, Layers = [], Subject = subject,
            Annotations = new Dictionary<string, string> { ["purpose"] = "sig" },
        }, []);
        var sbom = await repo.PushManifestAsync(new ImageManifest
        {
            ArtifactType = "application/vnd.example.sbom", Config = Descriptor.EmptyJson, Layers = [], Subject = subject,
        }, []);

        var all = await repo.ReferrersAsync(subject.Digest);
        Assert.That(all.Select(d => d.Digest), Is.EquivalentTo(new[] { signature.Digest, sbom.Digest }));
        Assert.That(all.Single(d => d.Digest == signature.Digest).Annotation("purpose"), Is.EqualTo("sig"));
        var onlySboms = await repo.ReferrersAsync(subject.Digest, "application/vnd.example.sbom");
        Assert.That(onlySboms.Single().Digest, Is.EqualTo(sbom.Digest));
        // The fallback index is a real tag any client can read.
        Assert.That(await repo.TryResolveAsync(RemoteRepository.ReferrersTag(subject.Digest)), Is.Not.Null);
    }

    [Test]
    public async Task Push_permission_is_checked_before_work()
    {
        Assert.That(await _client.Repository(NewRepo()).CanPushAsync(), Is.True);
        await using var secured = await RegistryProcess.StartWithBasicAuthAsync("carol", "pw");
        using var anonymous = new RegistryClient(secured.Host, new RegistryClientOptions { PlainHttp = true, Retry = new() { MaxRetries = 0 } });
        Assert.That(await anonymous.Repository("x/y").CanPushAsync(), Is.False);
    }

    [Test]
    public async Task Credentials_come_from_a_docker_credential_helper()
    {
        await using var secured = await RegistryProcess.StartWithBasicAuthAsync("dave", "from-helper");
        using var dir = new TempDirectory();
        var helper = dir["bin/docker-credential-doras-test"];
        Directory.CreateDirectory(dir["bin"]);
        File.WriteAllText(helper, """
            #!/bin/sh
            read host
            [ "$host" = "HOST" ] || { echo 'credentials not found in native keychain'; exit 1; }
            echo "{\"ServerURL\":\"$host\",\"Username\":\"dave\",\"Secret\":\"from-helper\"}"

            """.Replace("HOST", secured.Host));
        File.SetUnixFileMode(helper, (UnixFileMode)0b111_101_101);
        File.WriteAllText(dir["helper-config.json"], """{"credHelpers":{"HOST":"doras-test"}}""".Replace("HOST", secured.Host));
        var path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", dir["bin"] + ":" + path);
        try
        {
            var provider = new DockerConfigCredentialProvider(dir["helper-config.json"]);
            Assert.That(await provider.GetAsync(secured.Host), Is.EqualTo(new Credential("dave", "from-helper")));
            Assert.That(await provider.GetAsync("elsewhere.example"), Is.Null);
            using var client = new RegistryClient(secured.Host, new RegistryClientOptions { PlainHttp = true, Credentials = provider });
            Assert.That(await client.Repository("team/app").CanPushAsync(), Is.True);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }
}
