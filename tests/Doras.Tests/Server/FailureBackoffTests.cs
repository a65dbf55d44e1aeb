using System.Net;
using System.Text.Json;
using Doras.Oci.Content;
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

    /// <summary>A server on a clock the test moves, with a version v2 and a copy "broken" whose every build fails.</summary>
    private static async Task<(RunningServer Server, ShiftedClock Clock, Func<string, string> Query, Func<string, Task<DeltaKey>> Key)> StartAsync()
    {
        var clock = new ShiftedClock();
        var server = await RunningServer.StartAsync(b => b.Services.AddSingleton<TimeProvider>(clock));
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(50_000, 1);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        var v2 = await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 2), "v2");
        await Versions.PublishLyingAsync(repository, v2, "broken");
        await Versions.PublishLyingAsync(repository, v2, "broken-too");
        return (server, clock, to => DeltaRequests.Query("fleet/app", from, to, "zstd"),
            async to => new DeltaKey("fleet/app", from.Digest, (await repository.ResolveAsync(to)).Digest, "zstd"));
    }

    private static async Task<string> FailureAsync(RunningServer server, string query)
    {
        var (status, _) = await DeltaRequests.SettledAsync(server.Http, query, TimeSpan.FromSeconds(30));
        Assert.That(status, Is.EqualTo(HttpStatusCode.InternalServerError));
        using var answer = await server.Http.GetAsync(query);
        using var problem = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return problem.RootElement.GetProperty("detail").GetString()!;
    }

    private static async Task<int> StoredFailuresAsync(RunningServer server, DeltaKey key) =>
        ((DeltaRecord.Failed)await DeltaRecords.ReadAsync(server.Store.Repository("fleet/app"), key, default)).Failures;

    [Test]
    public async Task A_build_that_keeps_failing_is_tried_again_after_10_then_20_then_40_minutes()
    {
        var (server, clock, query, keyOf) = await StartAsync();
        await using var _ = server;
        var key = await keyOf("broken");

        Assert.That(await FailureAsync(server, query("broken")), Does.EndWith("It will be retried after 10 minutes."));
        Assert.That((server.Builder.BuildsStarted, await StoredFailuresAsync(server, key)), Is.EqualTo((1, 1)));

        clock.Advance(TimeSpan.FromMinutes(11));
        Assert.That(await FailureAsync(server, query("broken")), Does.EndWith("It will be retried after 20 minutes (it failed 2 times in a row)."));
        Assert.That((server.Builder.BuildsStarted, await StoredFailuresAsync(server, key)), Is.EqualTo((2, 2)));

        // Eleven minutes on, the second failure still stands, here and for another instance that reads it from the store.
        clock.Advance(TimeSpan.FromMinutes(11));
        Assert.That(await FailureAsync(server, query("broken")), Does.EndWith("It will be retried after 20 minutes (it failed 2 times in a row)."));
        Assert.That(server.Builder.BuildsStarted, Is.EqualTo(2));
        await using (var other = await RunningServer.StartOnStoreAsync(server.StorePath, b => b.Services.AddSingleton<TimeProvider>(clock)))
        {
            Assert.That(await FailureAsync(other, query("broken")), Does.EndWith("It will be retried after 20 minutes (it failed 2 times in a row)."));
            Assert.That(other.Builder.BuildsStarted, Is.EqualTo(0));
        }

        clock.Advance(TimeSpan.FromMinutes(10));
        Assert.That(await FailureAsync(server, query("broken")), Does.EndWith("It will be retried after 40 minutes (it failed 3 times in a row)."));
        Assert.That((server.Builder.BuildsStarted, await StoredFailuresAsync(server, key)), Is.EqualTo((3, 3)));
    }

    [Test]
    public async Task The_count_goes_on_through_a_build_given_up_on_shutdown_and_one_whose_server_died()
    {
        var (server, clock, query, keyOf) = await StartAsync();
        await using var _ = server;
        var repository = server.Store.Repository("fleet/app");
        // Two failures, then a build released on shutdown: the next failure is the third.
        var released = await keyOf("broken");
        await DeltaRecords.WriteReleasedAsync(repository, released, "an instance that stopped", default, failuresBefore: 2);
        Assert.That(await FailureAsync(server, query("broken")), Does.EndWith("It will be retried after 40 minutes (it failed 3 times in a row)."));
        Assert.That(await StoredFailuresAsync(server, released), Is.EqualTo(3));
        // Two failures, then a build whose server died (its placeholder no longer renewed): that is the third, the next the fourth.
        var abandoned = await keyOf("broken-too");
        await DeltaRecords.WriteBuildingAsync(repository, abandoned, "an instance that died", clock.GetUtcNow().AddHours(-1), default, failuresBefore: 2);
        Assert.That(await FailureAsync(server, query("broken-too")), Does.EndWith("It will be retried after 80 minutes (it failed 4 times in a row)."));
        Assert.That(await StoredFailuresAsync(server, abandoned), Is.EqualTo(4));
    }

    [Test]
    public async Task Negative_failure_retentions_are_refused_at_start()
    {
        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => RunningServer.StartAsync("--Delta:MaxFailureRetention", "-00:05:00"));
        Assert.That(refused!.Message, Is.EqualTo("Delta:MaxFailureRetention must not be negative, not -00:05:00"));
    }
}
