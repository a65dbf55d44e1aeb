using System.Net;
using System.Text.Json;
using Doras.Api;
using Microsoft.Extensions.Options;

namespace Doras.Tests.Server;

/// <summary>The build queue's bound: beyond <c>Delta:QueueCapacity</c> builds, a request for another delta gets 503 with Retry-After.</summary>
public class BuildQueueTests
{
    [Test]
    public async Task A_full_queue_answers_503_with_Retry_After_and_keeps_serving_the_builds_it_has()
    {
        await using var server = await RunningServer.StartAsync("--Delta:QueueCapacity", "1", "--Delta:TestOnlyBuildDelay", "00:10:00");
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(50_000, 1);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 2), "v2");
        await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 3), "v3");
        string Query(string to) => $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString(Versions.Ref("fleet/app", from))}&to_tag=fleet/app:{to}&accepted_algorithm=zstd";

        using (var queued = await server.Http.GetAsync(Query("v2")))
            Assert.That(queued.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));

        using var refused = await server.Http.GetAsync(Query("v3"));
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(refused.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.That(retryAfter, Is.Not.Null);
        Assert.That(retryAfter!.Value.TotalSeconds, Is.InRange(1, 30));
        using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("type").GetString(), Is.EqualTo(ProblemTypes.Busy));
        Assert.That(problem.RootElement.GetProperty("title").GetString(), Is.EqualTo("Server busy"));
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Is.EqualTo("this server has taken on as many builds as it queues (1); ask again later"));

        // The build the queue holds is still reported, not refused.
        using (var again = await server.Http.GetAsync(Query("v2")))
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
    }

    [Test]
    public async Task A_build_past_Delta_BuildTimeout_is_stopped_and_answered_406_download_the_full_version()
    {
        await using var server = await RunningServer.StartAsync("--Delta:BuildTimeout", "00:00:00.001");
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(50_000, 1);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 2), "v2");
        var query = DeltaRequests.Query("fleet/app", from, "v2", "auto");

        await DeltaRequests.SettledAsync(server.Http, query, TimeSpan.FromSeconds(30));
        using var answer = await server.Http.GetAsync(query);

        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.NotAcceptable));
        Assert.That(answer.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        using var problem = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.EndWith(
            "building this delta took longer than the server allows (Delta:BuildTimeout, 00:00:00.0010000); download the full version"));
        Assert.That(server.Builder.BuildsStarted, Is.EqualTo(1));
    }

    [Test]
    public async Task Claim_timings_under_which_live_builds_would_be_taken_over_are_refused_at_start()
    {
        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => RunningServer.StartAsync("--Delta:HeartbeatInterval", "00:00:40"));
        Assert.That(refused!.Message, Is.EqualTo(
            "Delta:HeartbeatInterval (00:00:40) must be at most half of Delta:PlaceholderExpiry (00:01:00), or other instances take over live builds"));
    }

    [Test]
    public async Task Build_time_limits_a_timer_cannot_hold_are_refused_at_start()
    {
        var refused = await Assert.ThrowsAsync<OptionsValidationException>(() => RunningServer.StartAsync("--Delta:BuildTimeout", "100.00:00:00"));
        Assert.That(refused!.Message, Is.EqualTo("Delta:BuildTimeout must be positive and at most 49 days, not 100.00:00:00"));
        refused = await Assert.ThrowsAsync<OptionsValidationException>(() => RunningServer.StartAsync("--Delta:AutoBudget", "00:00:00"));
        Assert.That(refused!.Message, Is.EqualTo("Delta:AutoBudget must be positive and at most 49 days, not 00:00:00"));
    }

    [Test]
    public void An_admin_command_that_edits_the_peers_file_creates_no_store_and_help_names_the_safe_password_flags()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir["cwd"]);
        File.WriteAllText(dir["secret"], new string('s', 32) + "\n");
        File.SetUnixFileMode(dir["secret"], UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var (code, output) = ExternalTool.Run("dotnet", [Binaries.Server, "peer", "trust", "site-b", "--password-file", dir["secret"], "--Peering:File", dir["peers.json"]],
            new ToolOptions { WorkingDirectory = dir["cwd"], Limit = TimeSpan.FromMinutes(1) });
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllText(dir["peers.json"]), Does.Contain("site-b"));
        Assert.That(Directory.EnumerateFileSystemEntries(dir["cwd"]), Is.Empty, "no ./doras-store, no scratch space");
    }

    [Test]
    public void The_server_program_refuses_an_invalid_setting_in_one_line_with_the_usage_exit_code()
    {
        using var dir = new TempDirectory();
        // Two refused settings at once: a plain-HTTP peer, and claim timings (each a line, no stack trace, exit 2).
        var (code, output) = ExternalTool.Run("dotnet", [Binaries.Server, "--urls", "http://127.0.0.1:0", "--store", dir["store"],
            "--Delta:HeartbeatInterval", "00:00:40", "--Peering:Peers:0:Name", "primary", "--Peering:Peers:0:Url", "http://127.0.0.1:9/", "--Peering:Peers:0:Password", "a-long-enough-secret-for-peering"],
            new ToolOptions { Limit = TimeSpan.FromMinutes(1) });
        Assert.That(code, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain("doras-server: Delta:HeartbeatInterval (00:00:40) must be at most half of Delta:PlaceholderExpiry (00:01:00), or other instances take over live builds"));
        Assert.That(output, Does.Contain("doras-server: Peering:Peers: peer 'primary' has a plain-http URL (http://127.0.0.1:9/)"));
        Assert.That(output, Does.Not.Contain("   at ").And.Not.Contain("Exception"));
    }
}
