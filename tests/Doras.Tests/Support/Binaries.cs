using System.Runtime.InteropServices;

namespace Doras.Tests.Support;

/// <summary>
/// The command-line programs, run as a user runs them. <see cref="Doras"/> is the Native AOT executable devices
/// get, made by the README's publish command once per test run, so every suite that runs `doras` (end to end,
/// kill-anywhere, exit codes, resilience) catches trimming and AOT breakage. The others run on the shared runtime
/// from their build folders (`dotnet FILE.dll`).
/// </summary>
public static class Binaries
{
    private static readonly Lazy<string> DorasExecutable = new(() => NativeExecutable("edge-client/Doras.Cli", "doras", HostRuntime));
    private static readonly Lazy<string> DeltaToolExecutable = new(() => NativeExecutable("edge-client/Doras.DeltaTool", "doras-delta", HostRuntime));

    /// <summary>The native `doras` executable for this machine (published on first use).</summary>
    public static string Doras => DorasExecutable.Value;

    /// <summary>The native `doras-delta` executable for this machine (published on first use).</summary>
    public static string DeltaToolNative => DeltaToolExecutable.Value;

    public static string Demo => Find("edge-client/Doras.Demo", "doras-demo.dll");
    public static string DeltaTool => Find("edge-client/Doras.DeltaTool", "doras-delta.dll");
    public static string Server => Find("server/Doras.Server", "doras-server.dll");

    /// <summary>linux-x64 or linux-arm64: the runtime identifier of the machine the tests run on.</summary>
    public static string HostRuntime => RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";

    public static string RepositoryRoot
    {
        get
        {
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Doras.sln"))) root = root.Parent;
            return root?.FullName ?? throw new InvalidOperationException("cannot find the repository root from " + AppContext.BaseDirectory);
        }
    }

    /// <summary>
    /// `dotnet publish PROJECT -c Release -r RUNTIME`, exactly as the README says, and the executable it leaves in
    /// the project's publish folder. MSBuild's incremental build makes a second publish of unchanged sources cheap
    /// (so a publish .ci/run already did is reused); no build servers are left behind to hold the test run open.
    /// </summary>
    public static string NativeExecutable(string project, string name, string runtime)
    {
        var projectDirectory = Path.Combine(RepositoryRoot, project);
        using var process = ExternalTool.Start("dotnet", ["publish", projectDirectory, "-c", "Release", "-r", runtime, "-nodeReuse:false", "-p:UseSharedCompilation=false", "-v", "q", "-nologo"],
            new ToolOptions { Environment = new Dictionary<string, string?> { ["MSBUILDDISABLENODEREUSE"] = "1", ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" } });
        if (!process.WaitForExit(TimeSpan.FromMinutes(20)))
        {
            process.Kill();
            throw new TimeoutException($"publishing {project} for {runtime} took over 20 minutes");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"publishing {project} for {runtime} failed ({process.ExitCode}): {process.Output}");
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var path = Path.Combine(projectDirectory, "bin", "Release", framework, runtime, "publish", name);
        return File.Exists(path) ? path : throw new FileNotFoundException($"the publish of {project} left no {name} at {path}");
    }

    private static string Find(string project, string file)
    {
        // tests/Doras.Tests/bin/<Configuration>/<tfm>/ -> repository root, same configuration and framework.
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = output.Name;
        var configuration = output.Parent!.Name;
        var path = Path.Combine(RepositoryRoot, project, "bin", configuration, framework, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{file} is not built at {path}");
    }
}
