namespace Doras.Tests.Support;

/// <summary>The built command-line programs, run from their own output folders as a user runs them.</summary>
public static class Binaries
{
    public static string Doras => Find("edge-client/Doras.Cli", "doras.dll");
    public static string Demo => Find("edge-client/Doras.Demo", "doras-demo.dll");
    public static string DeltaTool => Find("edge-client/Doras.DeltaTool", "doras-delta.dll");
    public static string Server => Find("server/Doras.Server", "doras-server.dll");

    private static string Find(string project, string file)
    {
        // tests/Doras.Tests/bin/<Configuration>/<tfm>/ -> repository root, same configuration and framework.
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = output.Name;
        var configuration = output.Parent!.Name;
        var root = output;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Doras.sln"))) root = root.Parent;
        if (root is null) throw new InvalidOperationException("cannot find the repository root from " + AppContext.BaseDirectory);
        var path = Path.Combine(root.FullName, project, "bin", configuration, framework, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{file} is not built at {path}");
    }
}
