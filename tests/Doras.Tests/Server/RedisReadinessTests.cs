using System.Net;
using System.Text.Json;
using Doras.Api;
using Microsoft.Extensions.DependencyInjection;

namespace Doras.Tests.Server;

/// <summary>
/// Issue 20, item 11: with the strict lease (<c>Delta:RedisLease</c>) no build starts while Redis is down, so
/// <c>/readyz</c> must say so (naming the lease and its endpoint), and be ready again once Redis is back.
/// </summary>
public class RedisReadinessTests
{
    private const string Ready = "{\"store\":\"ok\",\"scratch\":\"ok\",\"redis-lease\":\"ok\"}";

    [Test]
    public async Task Readyz_is_503_naming_the_redis_lease_while_redis_is_down_and_200_once_it_is_up()
    {
        var port = ServerProcess.FreePort(); // nothing listens there yet
        var clock = new ShiftedClock();
        await using var server = await RunningServer.StartAsync(b => b.Services.AddSingleton<TimeProvider>(clock),
            "--Delta:RedisLease", $"127.0.0.1:{port}");
        // Down is either answer: refused at once, or (on a loaded machine) no connection within the probe's time.
        var down = $@"^redis-lease: Redis 127\.0\.0\.1:{port} \(Delta:RedisLease\) (is not reachable|did not answer in time)$";
        await AssertNotReadyAsync(server, down);

        var redis = await RedisProcess.StartAsync(port);
        try
        {
            var (status, body) = await ReadyzUntilAsync(server, clock, HttpStatusCode.OK);
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body);
            Assert.That(body, Is.EqualTo(Ready));
        }
        finally
        {
            await redis.DisposeAsync(); // Redis goes down again
        }
        var (again, _) = await ReadyzUntilAsync(server, clock, HttpStatusCode.ServiceUnavailable);
        Assert.That(again, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        await AssertNotReadyAsync(server, down);
    }

    private static async Task AssertNotReadyAsync(RunningServer server, string detailPattern)
    {
        using var response = await server.Http.GetAsync("/readyz");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("type").GetString(), Is.EqualTo(ProblemTypes.NotReady));
        Assert.That(problem.RootElement.GetProperty("status").GetInt32(), Is.EqualTo(503));
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.Match(detailPattern));
    }

    /// <summary>
    /// Asks <c>/readyz</c> until it answers <paramref name="wanted"/> (the client reconnects to Redis in the
    /// background): each time the clock moves past the two seconds an answer is remembered, so each ask probes.
    /// </summary>
    private static Task<(HttpStatusCode Status, string Body)> ReadyzUntilAsync(RunningServer server, ShiftedClock clock, HttpStatusCode wanted) =>
        Eventually.UntilAsync(async () =>
        {
            clock.Advance(TimeSpan.FromSeconds(3));
            using var response = await server.Http.GetAsync("/readyz");
            return (Status: response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }, last => last.Status == wanted, TimeSpan.FromSeconds(30), $"/readyz answers {(int)wanted}");
}
