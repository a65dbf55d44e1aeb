using Doras.Cli.Commands;
using Doras.EdgeClient.Updates;
using Microsoft.Extensions.Time.Testing;

namespace Doras.Tests.EdgeClient;

/// <summary>A phase that lasts is told again every 15 s with the time it has taken; downloads draw their own lines.</summary>
public class StillProgressTests
{
    [Test]
    public void A_long_wait_is_told_again_every_15_seconds_and_a_download_is_not()
    {
        var time = new FakeTimeProvider();
        var output = new StringWriter();
        using var progress = new ConsoleUpdateProgress(output, terminal: false, time);
        progress.Report(new UpdateProgress(UpdatePhase.WaitingForDelta));
        Assert.That(output.ToString(), Is.EqualTo("doras: asking the server for a delta\n"));

        time.Advance(TimeSpan.FromSeconds(14));
        Assert.That(output.ToString(), Is.EqualTo("doras: asking the server for a delta\n"), "not before 15 s");
        time.Advance(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromSeconds(15));
        Assert.That(output.ToString(), Is.EqualTo(
            "doras: asking the server for a delta\ndoras: still asking the server for a delta (15 s)\ndoras: still asking the server for a delta (30 s)\n"));

        output.GetStringBuilder().Clear();
        progress.Report(new UpdateProgress(UpdatePhase.Downloading, 0, 1000));
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.That(output.ToString(), Does.Not.Contain("still"), "a download draws its own progress");
    }
}
