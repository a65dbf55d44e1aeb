using System.Net;
using Microsoft.Extensions.Logging;

namespace Doras.Tests.Server;

/// <summary>A build that fails is logged where it failed, naming what failed; /readyz says which setting is wrong.</summary>
public class BuildFailureLogTests
{
    [Test, CancelAfter(60_000)]
    public async Task A_build_whose_scratch_space_cannot_be_made_is_logged_here_with_the_path_and_setting(CancellationToken ct)
    {
        var log = new LogCapture();
        using var dir = new TempDirectory();
        var blocker = dir.Write("not-a-directory", [1]);
        var scratch = Path.Combine(blocker, "scratch"); // beneath a file: no directory can be made there
        await using var server = await RunningServer.StartAsync(builder => builder.Logging.AddProvider(log), "--Delta:WorkDirectory", scratch);
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(50_000, 7);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 8), "v2");

        var (status, body) = await DeltaRequests.SettledAsync(server.Http, DeltaRequests.Query("fleet/app", from, "v2"), TimeSpan.FromSeconds(30));
        Assert.That(status, Is.EqualTo(HttpStatusCode.InternalServerError), body);
        var failed = log.Entries.Where(e => e.Level == LogLevel.Error && e.Message.StartsWith("Building delta ", StringComparison.Ordinal)).ToList();
        Assert.That(failed, Has.Count.EqualTo(1), string.Join('\n', log.Entries.Select(e => e.Message)));
        Assert.That(failed[0].Exception!.Message, Does.StartWith($"cannot make build scratch space in {scratch} (Delta:WorkDirectory): "));

        using var ready = await server.Http.GetAsync("/readyz", ct);
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await ready.Content.ReadAsStringAsync(ct), Does.Contain("scratch: the build scratch directory (Delta:WorkDirectory) is not writable; the log names it"));
    }
}
