namespace Doras.Tests.ClientApi;

/// <summary>The real `doras` command, run as a user runs it.</summary>
internal static class CliRun
{
    public static (int Code, string Output) Run(params string[] args) => ExternalTool.Run(Binaries.Doras, [.. args]);

    public static string Ok(params string[] args)
    {
        var (code, output) = Run(args);
        Assert.That(code, Is.Zero, $"doras {string.Join(' ', args)}: {output}");
        return output;
    }

    /// <summary>The lines of standard output and error that are not progress lines.</summary>
    public static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Where(l => !l.StartsWith("doras: ", StringComparison.Ordinal) || l.Contains("error", StringComparison.Ordinal)).ToArray();
}
