namespace Doras.Tests.EndToEnd;

/// <summary>The `doras` command as a user runs it: a separate process, real files, the real server.</summary>
public class CliTests
{
    private static readonly string Doras = Path.Combine(AppContext.BaseDirectory, "doras.dll");

    private static (int Code, string Output) Run(params string[] args) => ExternalTool.Run("dotnet", [Doras, .. args]);

    [Test]
    public async Task Push_then_pull_full_then_pull_by_delta()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var v1 = TestData.Binary(2 << 20, 1);
        var v2 = TestData.Edit(v1, 2);

        var (code, output) = Run("push", dir.Write("r1/tool", v1), "fleet/tool:1.0", "--tag", "stable", "--store", server.StorePath);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("pushed fleet/tool@sha256:").And.Contain("as 1.0, stable: file 'tool'"));

        (code, output) = Run("pull", "fleet/tool:stable", "--server", server.Url.ToString(), "--output", dir["device"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: ").And.Contain("because nothing is installed yet"));

        (code, output) = Run("push", dir.Write("r2/tool", v2), "fleet/tool:1.1", "--tag", "stable", "--store", server.StorePath);
        Assert.That(code, Is.Zero, output);
        (code, output) = Run("pull", "fleet/tool:stable", "--server", server.Url.ToString(), "--output", dir["device"]);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: ").And.Contain("% of it)"));
        Assert.That(File.ReadAllBytes(dir["device/tool"]), Is.EqualTo(v2));
    }

    [Test]
    public void Errors_are_one_clear_line_and_a_non_zero_exit()
    {
        var (code, output) = Run("push", "/nonexistent/file", "Bad:Ref");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(output.Trim(), Does.StartWith("doras: invalid reference 'Bad:Ref'"));
        Assert.That(output.Trim().Split('\n'), Has.Length.EqualTo(1));

        (code, output) = Run("pull", "fleet/tool:stable", "--server", "http://127.0.0.1:9", "--output", Path.GetTempPath() + "x-" + Guid.NewGuid());
        Assert.That(code, Is.EqualTo(1));
        Assert.That(output.Trim(), Does.StartWith("doras: "));
    }

    [Test]
    public void Demo_runs_end_to_end_on_given_versions()
    {
        using var dir = new TempDirectory();
        var v1 = TestData.Binary(3 << 20, 3);
        var (code, output) = Run("demo", "--from", dir.Write("v1", v1), "--to", dir.Write("v2", TestData.Edit(v1, 4)));
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain("delta update: ").And.Contain("device file == version 2 byte for byte: yes"));
    }
}
