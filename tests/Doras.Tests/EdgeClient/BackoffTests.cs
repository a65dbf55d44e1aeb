using System.Net;
using Doras.Api;
using Doras.EdgeClient.Deltas;
using Doras.Oci.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.EdgeClient;

public class BackoffTests
{
    [Test]
    public async Task Delays_stay_within_the_cap_over_hundreds_of_attempts()
    {
        var options = new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(3), MaxAttempts = 300, HonorRetryAfter = false };
        var delays = new List<TimeSpan>();
        var pipeline = options.CreatePipeline<int>(_ => true, _ => null, _ => false, (_, delay) => delays.Add(delay));
        await pipeline.ExecuteAsync(_ => ValueTask.FromResult(0));
        Assert.That(delays, Has.Count.EqualTo(299));
        Assert.That(delays, Is.All.GreaterThanOrEqualTo(TimeSpan.Zero).And.LessThanOrEqualTo(options.MaxDelay));
    }

    [Test]
    public async Task Default_delays_start_near_the_base_delay_and_every_call_starts_afresh()
    {
        var options = new BackoffOptions();
        Assert.That((options.BaseDelay, options.MaxDelay, options.MaxAttempts), Is.EqualTo((TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(30), 40)));
        for (var run = 0; run < 2; run++)
        {
            var seen = new List<(int Attempt, TimeSpan Delay)>();
            using var cts = new CancellationTokenSource();
            var pipeline = options.CreatePipeline<int>(_ => true, _ => null, _ => false, (attempt, delay) =>
            {
                seen.Add((attempt, delay));
                if (seen.Count == 3) cts.Cancel();
            });
            await Assert.CatchAsync<OperationCanceledException>(() => pipeline.ExecuteAsync(_ => ValueTask.FromResult(0), cts.Token).AsTask());
            Assert.That(seen.Select(s => s.Attempt), Is.EqualTo(new[] { 1, 2, 3 }), "attempts start again for every call");
            Assert.That(seen.Select(s => s.Delay), Is.All.LessThan(TimeSpan.FromSeconds(2)));
        }
    }

    [Test]
    public async Task ReadDelta_polls_a_pending_delta_and_gives_up_after_the_configured_attempts()
    {
        var requests = 0;
        await using var app = await LoopbackApp.StartAsync(DeltaApi.Path, context =>
        {
            Interlocked.Increment(ref requests);
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return context.Response.WriteAsJsonAsync(new DeltaResponse { Status = DeltaStatus.Pending, ToImage = "a@" + Hex });
        });
        using var client = LoopbackDeltaClient.Create(new Uri(app.Urls.First()),
            new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(2), MaxDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = 7 });
        var request = new DeltaRequest(Reference.Parse("a@" + Hex), Reference.Parse("a:v2"), ["zstd"]);

        var error = (await Assert.ThrowsAsync<TimeoutException>(() => client.ReadDeltaAsync(request)))!;
        Assert.That(error.Message, Is.EqualTo($"the delta from a@{Hex} to a:v2 was still being computed after 7 attempts"));
        Assert.That(requests, Is.EqualTo(7));

        // A second call starts counting afresh.
        await Assert.ThrowsAsync<TimeoutException>(() => client.ReadDeltaAsync(request));
        Assert.That(requests, Is.EqualTo(14));
    }

    [Test]
    public async Task ReadDelta_retries_transient_errors_and_stops_at_a_real_one()
    {
        var requests = 0;
        await using var app = await LoopbackApp.StartAsync(DeltaApi.Path, async context =>
        {
            var n = Interlocked.Increment(ref requests);
            if (n <= 2)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }
            if (n == 3)
            {
                await context.Response.WriteAsJsonAsync(new DeltaResponse { Status = DeltaStatus.Ready, ToImage = "a@" + Hex, DeltaImage = "a@" + Hex });
                return;
            }
            await Results.Problem("nope", statusCode: 406, type: ProblemTypes.NotAcceptable, title: "No delta possible").ExecuteAsync(context);
        });
        using var client = LoopbackDeltaClient.Create(new Uri(app.Urls.First()), new BackoffOptions { BaseDelay = TimeSpan.FromMilliseconds(2), MaxDelay = TimeSpan.FromMilliseconds(10) });
        var request = new DeltaRequest(Reference.Parse("a@" + Hex), Reference.Parse("a:v2"), ["zstd"]);

        var ready = await client.ReadDeltaAsync(request);
        Assert.That(ready.Status, Is.EqualTo(DeltaStatus.Ready));
        Assert.That(requests, Is.EqualTo(3));

        var error = (await Assert.ThrowsAsync<DeltaServerException>(() => client.ReadDeltaAsync(request)))!;
        Assert.That(error.Status, Is.EqualTo(HttpStatusCode.NotAcceptable));
        Assert.That(error.Message, Is.EqualTo("406 No delta possible: nope"));
        Assert.That(requests, Is.EqualTo(4), "a 406 is final, not retried");
    }

    private const string Hex = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
}
