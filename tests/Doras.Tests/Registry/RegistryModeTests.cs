using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Doras.Api;
using Doras.Delta.Vocabulary;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Tests.Registry;

/// <summary>The whole update with versions and deltas in a real registry that requires authentication.</summary>
public class RegistryModeTests
{
    /// <summary>The name the server stores a delta under for the edge client's default list (every algorithm where the libraries load).</summary>
    private const string DefaultAutoName = "auto:bsdiff+bsdiff-exe+bsdiff-lzma+deflate+octodiff+tardiff+zstd"; // what the default list asks for, on a device with liblzma and zlib

    [Test]
    public async Task Update_end_to_end_against_a_real_registry_with_basic_auth()
    {
        await using var registry = await RegistryProcess.StartWithBasicAuthAsync("alice", "s3cret");
        var host = registry.Host;
        await using var server = await RunningServer.StartAsync(
            "--registry", host, "--Registry:PlainHttp", "true",
            "--Registry:Credentials:0:Host", host, "--Registry:Credentials:0:Username", "alice", "--Registry:Credentials:0:Password", "s3cret");
        var credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [host] = new("alice", "s3cret") });
        using var publisher = new RegistryClient(host, new RegistryClientOptions { PlainHttp = true, Credentials = credentials });
        var repository = publisher.Repository("fleet/app");
        using var device = new TempDirectory();
        using var http = new HttpClient();
        using var deviceRegistry = new RegistryClient(host, new RegistryClientOptions { PlainHttp = true, Credentials = credentials });
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url, new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(1) }), deviceRegistry);
        var options = new UpdateOptions { Reference = $"{host}/fleet/app:stable", Output = device["app"] };

        var v1 = TestData.Binary(3 << 20, 1);
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v1, "v1", "stable");
        var first = await updater.UpdateAsync(options);
        Assert.That(first.Mode, Is.EqualTo(UpdateMode.Full));

        var v2 = TestData.Edit(v1, 2);
        var v2Manifest = await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v2, "v2", "stable");
        var second = await updater.UpdateAsync(options);
        Assert.That(second.Mode, Is.EqualTo(UpdateMode.Delta));
        Assert.That(File.ReadAllBytes(second.InstalledPath), Is.EqualTo(v2));
        Assert.That(second.BytesDownloaded, Is.LessThan(second.FullDownloadSize / 10));

        // The delta lives in the registry, at its deterministic tag, as a Doras delta artifact.
        var deltaTag = new Doras.Server.Deltas.DeltaKey("fleet/app", Digest.Parse(first.ManifestDigest), v2Manifest.Digest, DefaultAutoName).Tag;
        var stored = await repository.FetchManifestAsync(await repository.ResolveAsync(deltaTag));
        Assert.That(stored.ArtifactType, Is.EqualTo(DorasMediaTypes.Delta));
        Assert.That(stored.Annotation(DorasAnnotations.DeltaTo), Is.EqualTo($"{host}/fleet/app@{v2Manifest.Digest}"));

        // Without the client's own authorization, or with a wrong one, no delta.
        var query = $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString($"{host}/fleet/app@{first.ManifestDigest}")}&to_tag={Uri.EscapeDataString($"{host}/fleet/app:v2")}&accepted_algorithm=zstd";
        using (var anonymous = await server.Http.GetAsync(query))
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            using var problem = JsonDocument.Parse(await anonymous.Content.ReadAsStringAsync());
            Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.Contain("with the client's own authorization"));
        }
        using var wrong = new HttpRequestMessage(HttpMethod.Get, query);
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("alice:nope"u8.ToArray()));
        using (var refused = await server.Http.SendAsync(wrong))
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));

        // A reference to another registry is refused (after the caller is admitted: anonymous callers get 401 first).
        using var toOther = new HttpRequestMessage(HttpMethod.Get, query.Replace(Uri.EscapeDataString(host), "other.example%3A5000"));
        toOther.Headers.Authorization = wrong.Headers.Authorization;
        using var other = await server.Http.SendAsync(toOther);
        Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [Test]
    public async Task The_server_streams_registry_blobs_with_ranges_for_devices_without_registry_access()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var client = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        var blob = await client.Repository("fleet/app").PushBytesAsync(MediaTypes.OctetStream, TestData.Random(100_000, 3));

        var url = $"/v2/fleet/app/blobs/{blob.Digest}";
        Assert.That(Digest.Compute(await server.Http.GetByteArrayAsync(url)), Is.EqualTo(blob.Digest));
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Range = new RangeHeaderValue(50_000, null);
        using var partial = await server.Http.SendAsync(request);
        Assert.That(partial.StatusCode, Is.EqualTo(HttpStatusCode.PartialContent));
        Assert.That(await partial.Content.ReadAsByteArrayAsync(), Is.EqualTo(TestData.Random(100_000, 3)[50_000..]));
    }
}

public class RegistryModePermissionTests
{
    [Test]
    public async Task A_server_without_push_access_says_so_instead_of_building_a_delta_it_cannot_store()
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        var credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new(tokens.Account.User, tokens.Account.Password) });
        using var publisher = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = credentials });
        var repository = publisher.Repository("team/app");
        var v1 = TestData.Binary(200_000, 1);
        var first = await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1");
        await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v1, 2), "v2");

        // From now on the token server grants nothing to the server's pushes: only pulls under team/.
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true",
            "--Registry:Credentials:0:Host", registry.Host, "--Registry:Credentials:0:Username", "alice", "--Registry:Credentials:0:Password", "s3cret");
        tokens.PullOnly = true;
        var clientAuth = await publisher.ReadAuthorizationAsync("team/app");
        using var request = new HttpRequestMessage(HttpMethod.Get,
            $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString($"{registry.Host}/team/app@{first.Digest}")}&to_tag={Uri.EscapeDataString($"{registry.Host}/team/app:v2")}&accepted_algorithm=zstd");
        request.Headers.Authorization = clientAuth;
        using var response = await server.Http.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError), await response.Content.ReadAsStringAsync());
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.Contain("may not push to"));
        Assert.That(server.Builder.BuildsStarted, Is.Zero);
    }
}
