using System.Net;
using Doras.Api;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Tests.Server;

/// <summary>
/// The optional strict claim: with <c>Delta:RedisLease</c> on a real redis-server, two server processes asked for the
/// same deltas at the same instant, with no settle time to let placeholders decide, build each delta exactly once.
/// </summary>
public class RedisLeaseTests
{
    [Test]
    public async Task With_the_redis_lease_simultaneous_claims_build_each_delta_once()
    {
        await using var redis = await RedisProcess.StartAsync();
        await using var registry = await RegistryProcess.StartAsync();
        using var publisher = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true });
        var repository = publisher.Repository("fleet/app");
        using var dir = new TempDirectory();
        var v1 = TestData.Binary(100_000, 1);
        var from = await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1");
        const int targets = 4;
        for (var i = 2; i < 2 + targets; i++)
            await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v1, i), $"v{i}");

        string[] settings = ["--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false",
            "--Delta:RedisLease", redis.Endpoint, "--Delta:ClaimSettleDelay", "00:00:00", "--Delta:PlaceholderPollInterval", "00:00:00.2",
            "--Delta:TestOnlyBuildDelay", "00:00:02"];
        await using var a = await ServerProcess.StartAsync(ServerProcess.FreePort(), settings);
        await using var b = await ServerProcess.StartAsync(ServerProcess.FreePort(), settings);

        string Query(int to) => $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString($"{registry.Host}/fleet/app@{from.Digest}")}&to_tag={Uri.EscapeDataString($"{registry.Host}/fleet/app:v{to}")}&accepted_algorithm=zstd";
        var asked = Enumerable.Range(2, targets).SelectMany(to => new[] { a.Http.GetAsync(Query(to)), b.Http.GetAsync(Query(to)) }).ToList();
        foreach (var response in await Task.WhenAll(asked))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
            response.Dispose();
        }

        for (var to = 2; to < 2 + targets; to++)
        {
            await DeltaRequests.ReadyAsync(b.Http, Query(to)); // bounded: 60 s per delta
        }
        Assert.That(a.Count("Building delta") + b.Count("Building delta"), Is.EqualTo(targets), string.Join('\n', a.Lines.Concat(b.Lines)));
        Assert.That(a.Count("Built delta") + b.Count("Built delta"), Is.EqualTo(targets));
        // Each lease is released right after its delta is stored (bounded wait: 10 s).
        await Eventually.UntilAsync(() => redis.CommandAsync("DBSIZE"), keys => keys == ":0", TimeSpan.FromSeconds(10), "every lease is released after its build (Redis DBSIZE)");
    }
}
