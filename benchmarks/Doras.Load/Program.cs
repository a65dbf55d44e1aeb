using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Doras.Delta.Artifacts;
using Doras.Load;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Tests.Support;

// The delta server under load and a fault, on loopback only (see benchmarks/load.sh and RESULTS.md):
// a real docker-registry, N doras-server processes over it, D simulated devices on P versions asking for the delta
// to the newest one, one instance killed with SIGKILL in the middle of a build. Prints a Markdown row and exits 1
// unless every delta was built exactly once and every device was served.
//   doras-load --server PATH/doras-server.dll [--instances 3] [--devices 1000] [--pairs 20] [--size BYTES]
//              [--build-delay 3] [--expiry 10] [--heartbeat 2] [--settle 0.2] [--ramp 10] [--redis] [--no-kill] [--label TEXT]
var options = Options.Parse(args);
var work = Directory.CreateTempSubdirectory("doras-load-").FullName;
Console.Error.WriteLine($"doras-load: working in {work}");
var children = new List<Child>();
// Stopped from outside (Ctrl-C, SIGTERM): no server, registry or Redis is left running.
AppDomain.CurrentDomain.ProcessExit += (_, _) => { foreach (var child in children) child.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5)); };
try
{
    // The registry.
    var registryPort = Child.FreePort();
    File.WriteAllText(Path.Combine(work, "registry.yml"), $"""
        version: 0.1
        log:
          level: warn
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: {Path.Combine(work, "registry")}
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:{registryPort}
          secret: load-secret
        """);
    var registry = new Child("registry", "docker-registry", ["serve", Path.Combine(work, "registry.yml")], Path.Combine(work, "registry.log"));
    children.Add(registry);
    await registry.WaitUntilUpAsync($"http://127.0.0.1:{registryPort}/v2/", HttpStatusCode.OK);
    var registryHost = $"127.0.0.1:{registryPort}";

    string? redisEndpoint = null;
    if (options.Redis)
    {
        var redisPort = Child.FreePort();
        var redis = new Child("redis", "redis-server", ["--port", redisPort.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], Path.Combine(work, "redis.log"));
        children.Add(redis);
        for (var i = 0; i < 100 && !redis.Lines.Any(l => l.Contains("Ready to accept connections", StringComparison.Ordinal)); i++) await Task.Delay(100);
        redisEndpoint = $"127.0.0.1:{redisPort}";
    }

    // The versions: P bases and the target, each a synthetic executable with small edits from the first.
    using var publisher = new RegistryClient(registryHost, new RegistryClientOptions { PlainHttp = true });
    var repository = publisher.Repository("fleet/app");
    var original = TestData.Binary(options.Size, seed: 1);
    var bases = new List<Digest>();
    for (var v = 0; v <= options.Pairs; v++)
    {
        var path = Path.Combine(work, $"v{v}", "app.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, v == 0 ? original : TestData.Edit(original, seed: v + 1));
        var published = await ArtifactPublisher.PublishAsync(repository, path, [v == options.Pairs ? "latest" : $"v{v}"]);
        if (v < options.Pairs) bases.Add(published.Manifest.Digest);
    }

    // The server instances.
    var instances = new List<(Child Process, Uri Url)>();
    for (var i = 0; i < options.Instances; i++)
    {
        var port = Child.FreePort();
        string[] serverArgs = [options.Server, "--urls", $"http://127.0.0.1:{port}", "--registry", registryHost, "--Registry:PlainHttp", "true",
            "--Registry:RequireClientAuth", "false", "--Logging:Console:FormatterName", "simple", "--Logging:Console:FormatterOptions:SingleLine", "true",
            "--Logging:Console:FormatterOptions:TimestampFormat", "HH:mm:ss.fff ",
            "--Delta:TestOnlyBuildDelay", options.BuildDelay.ToString("c", CultureInfo.InvariantCulture),
            "--Delta:PlaceholderExpiry", options.Expiry.ToString("c", CultureInfo.InvariantCulture),
            "--Delta:HeartbeatInterval", options.Heartbeat.ToString("c", CultureInfo.InvariantCulture),
            "--Delta:ClaimSettleDelay", options.Settle.ToString("c", CultureInfo.InvariantCulture),
            "--Delta:PlaceholderPollInterval", "00:00:00.5", "--Delta:MaxConcurrentBuilds", "1",
            .. redisEndpoint is null ? Array.Empty<string>() : ["--Delta:RedisLease", redisEndpoint]];
        var server = new Child($"server{i}", "dotnet", serverArgs, Path.Combine(work, $"server{i}.log"));
        children.Add(server);
        instances.Add((server, new Uri($"http://127.0.0.1:{port}/")));
    }
    foreach (var (process, url) in instances) await process.WaitUntilUpAsync(new Uri(url, "healthz").ToString(), HttpStatusCode.OK);

    // The fleet, and the fault: the first instance is killed once it is building.
    using var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
    using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    var fleet = new Fleet(http, [.. instances.Select(i => i.Url)], registryHost, "fleet/app", bases, "latest", TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(10), options.Ramp);
    var clock = Stopwatch.StartNew();
    var running = fleet.RunAsync(options.Devices);
    TimeSpan? killedAt = null;
    if (options.Kill)
    {
        var victim = instances[0].Process;
        while (!running.IsCompleted && !victim.Lines.Any(l => l.Contains("Claimed delta", StringComparison.Ordinal))) await Task.Delay(20);
        if (!running.IsCompleted)
        {
            await Task.Delay(options.BuildDelay / 2); // in the middle of its build
            await victim.KillAsync();
            killedAt = clock.Elapsed;
        }
    }
    var results = await running;
    var elapsed = clock.Elapsed;
    await Task.Delay(TimeSpan.FromSeconds(1)); // the last log lines

    // Counting, from the servers' logs.
    var report = BuildLog.Count(instances.Select(i => i.Process).ToList());
    var served = results.Count(r => r.Served);
    var latencies = results.Where(r => r.Served).Select(r => r.Elapsed.TotalSeconds).Order().ToList();
    double P(double q) => latencies.Count == 0 ? double.NaN : latencies[(int)Math.Min(latencies.Count - 1, Math.Ceiling(q * latencies.Count) - 1)];
    var exactlyOnce = report.Completed.Count == options.Pairs && report.Completed.Values.All(c => c == 1);
    Console.WriteLine($"| {options.Label} | {options.Instances} | {options.Devices} | {options.Pairs} | {(killedAt is { } k ? $"{k.TotalSeconds:0.0} s" : "no")} "
        + $"| {report.Completed.Values.Sum()} ({report.Completed.Count} deltas, {(exactlyOnce ? "each once" : "NOT each once")}) | {report.StartedBySurvivors} | {report.DuplicateStarts} "
        + $"| {report.Takeovers} | {report.LostClaims} | {served}/{options.Devices} | {P(0.5):0.0} s / {P(0.99):0.0} s / {elapsed.TotalSeconds:0.0} s "
        + $"| {results.Sum(r => r.Requests)} | {results.Sum(r => r.Failovers)} |");
    foreach (var failure in results.Where(r => !r.Served).Take(5)) Console.Error.WriteLine($"device {failure.Device}: {failure.Error}");
    foreach (var (key, count) in report.Completed.Where(c => c.Value != 1)) Console.Error.WriteLine($"built {count} times: {key}");
    Console.Error.WriteLine($"doras-load: logs in {work}");
    return exactlyOnce && served == options.Devices ? 0 : 1;
}
finally
{
    foreach (var child in Enumerable.Reverse(children)) await child.DisposeAsync();
}

/// <summary>The builds the servers' logs record, per delta.</summary>
internal sealed record BuildLog(Dictionary<string, int> Completed, int StartedBySurvivors, int DuplicateStarts, int Takeovers, int LostClaims)
{
    private static readonly Regex Building = new(@"Building delta (?<key>.+)$", RegexOptions.Compiled);
    private static readonly Regex Built = new(@"Built delta (?<key>.+?) with ", RegexOptions.Compiled);

    public static BuildLog Count(IReadOnlyList<Child> servers)
    {
        var completed = new Dictionary<string, int>();
        var started = new Dictionary<string, int>();
        int takeovers = 0, lost = 0;
        foreach (var server in servers)
        {
            foreach (var line in server.Lines)
            {
                if (Built.Match(line) is { Success: true } built)
                    completed[built.Groups["key"].Value] = completed.GetValueOrDefault(built.Groups["key"].Value) + 1;
                else if (!server.Killed && Building.Match(line) is { Success: true } building)
                    started[building.Groups["key"].Value] = started.GetValueOrDefault(building.Groups["key"].Value) + 1;
                if (line.Contains("Took over delta", StringComparison.Ordinal)) takeovers++;
                if (line.Contains("Lost the claim", StringComparison.Ordinal)) lost++;
            }
        }
        // A start by a surviving instance beyond the first for a delta is the claim race: two instances computing one delta.
        return new BuildLog(completed, started.Values.Sum(), started.Values.Sum(c => Math.Max(0, c - 1)), takeovers, lost);
    }
}

internal sealed record Options(string Server, int Instances, int Devices, int Pairs, int Size, TimeSpan BuildDelay, TimeSpan Expiry, TimeSpan Heartbeat, TimeSpan Settle, TimeSpan Ramp, bool Redis, bool Kill, string Label)
{
    public static Options Parse(string[] args)
    {
        string Value(string name, string fallback)
        {
            var at = Array.IndexOf(args, name);
            return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
        }
        TimeSpan Seconds(string name, string fallback) => TimeSpan.FromSeconds(double.Parse(Value(name, fallback), CultureInfo.InvariantCulture));
        var server = Value("--server", "");
        if (!File.Exists(server)) throw new ArgumentException("--server PATH/doras-server.dll is required (benchmarks/load.sh builds it)");
        var options = new Options(server, int.Parse(Value("--instances", "3"), CultureInfo.InvariantCulture), int.Parse(Value("--devices", "1000"), CultureInfo.InvariantCulture),
            int.Parse(Value("--pairs", "20"), CultureInfo.InvariantCulture), int.Parse(Value("--size", "1048576"), CultureInfo.InvariantCulture),
            Seconds("--build-delay", "3"), Seconds("--expiry", "10"), Seconds("--heartbeat", "2"), Seconds("--settle", "0.2"), Seconds("--ramp", "10"),
            args.Contains("--redis"), !args.Contains("--no-kill"), Value("--label", "run"));
        if (options.Devices is < 1 or > 10_000 || options.Pairs is < 1 or > 200 || options.Instances is < 1 or > 10)
            throw new ArgumentException("bounded runs only: 1..10000 devices, 1..200 pairs, 1..10 instances");
        return options;
    }
}
