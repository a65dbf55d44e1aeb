using System.Net;
using System.Text.Json;
using Doras.Server.Deltas;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Doras.Tests.Server;

/// <summary>
/// A delta whose build keeps failing is tried ever more rarely: its failure stands for <c>Delta:FailureRetention</c>,
/// doubled for each failure in a row, at most <c>Delta:MaxFailureRetention</c>; the count is kept in the store.
/// </summary>
public class FailureBackoffTests
{
    [Test]
    public void The_retention_doubles_with_each_failure_in_a_row_up_to_its_maximum()
    {
        var options = new DeltaOptions { FailureRetention = TimeSpan.FromMinutes(10), MaxFailureRetention = TimeSpan.FromHours(24) };
        Assert.That(new[] { 0, 1, 2, 3, 8, 9, 1000, int.MaxValue }.Select(options.FailureRetentionAfter), Is.EqualTo(new[]
        {
            TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(40), TimeSpan.FromMinutes(1280),
            TimeSpan.FromHours(24), TimeSpan.FromHours(24), TimeSpan.FromHours(24),
        }));
        // No overflow however long the first retention.
        var longest = new DeltaOptions { FailureRetention = TimeSpan.FromDays(3650), MaxFailureRetention = TimeSpan.FromDays(3650) };
        Assert.That(longest.FailureRetentionAfter(1000), Is.EqualTo(TimeSpan.FromDays(3650)));
    }

    [Test]
    public async Task A_build_that_keeps_failing_is_tried_again_after_10_then_20_then_40_minutes()
    {
        var clock = new ShiftedClock();
        await using var server = await RunningServer.StartAsync(b => b.Services.AddSingleton<TimeProvider>(clock));
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(50_000, 1);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        var v2 = await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 2), "v2");
        var broken = await Versions.PublishLyingAsync(repository, v2, "broken");
        var query = DeltaRequests.Query("fleet/app", from, "broken", "zstd");
        var key = new DeltaKey("fleet/app", from.Digest, broken.Digest, "zstd");

        async Task<string> FailureAsync()
        {
            var (status, _) = await DeltaRequests.SettledAsync(server.Http, query, TimeSpan.FromSeconds(30));
            Assert.That(status, Is.EqualTo(HttpStatusCode.InternalServerError));
            using var answer = await server.Http.GetAsync(query);
            using var problem = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
            return problem.RootElement.GetProperty("detail").GetString()!;
        }
        async Task<int> StoredFailuresAsync() => ((DeltaRecord.Failed)await DeltaRecords.ReadAsync(repository, key, default)).Failures;

        Assert.That(await FailureAsync(), Does.EndWith("It will be retried after 10 minutes."));
        Assert.That((server.Builder.BuildsStarted, await StoredFailuresAsync()), Is.EqualTo((1, 1)));

        clock.Advance(TimeSpan.FromMinutes(11));
        Assert.That(await FailureAsync(), Does.EndWith("It will be retried after 20 minutes (it failed 2 times in a row)."));
        Assert.That((server.Builder.BuildsStarted, await StoredFailuresAsync()), Is.EqualTo((2, 2)));

        // Eleven minutes on, the second failure still stands: no build.
        clock.Advance(TimeSpan.FromMinutes(11));
        Assert.That(await FailureAsync(), Does.EndWith("It will be retried after 20 minutes (it failed 2 times in a row)."));
        Assert.That(server.Builder.BuildsStarted, Is.EqualTo(2));

        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.That(await FailureAsync(), Does.EndWith("It will be retried after 40 minutes (it failed 3 times in a row)."));
        Assert.That((server.Builder.BuildsStarted, await StoredFailuresAsync()), Is.EqualTo((3, 3)));
    }

    [Test]
    public async Task Failure_retentions_out_of_order_are_refused_at_start()
    {
        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => RunningServer.StartAsync("--Delta:MaxFailureRetention", "00:05:00"));
        Assert.That(refused!.Message, Is.EqualTo("Delta:FailureRetention must be positive and Delta:MaxFailureRetention at least as long, not 00:10:00 and 00:05:00"));
    }
}
