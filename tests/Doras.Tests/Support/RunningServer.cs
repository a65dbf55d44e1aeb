using Doras.Oci.Layout;
using Doras.Server.Deltas;
using Doras.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Doras.Tests.Support;

/// <summary>The real server on 127.0.0.1 with a random port over a temporary layout store.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TempDirectory _directory;

    private RunningServer(WebApplication app, TempDirectory directory, string storePath)
    {
        _app = app;
        _directory = directory;
        StorePath = storePath;
        Url = new Uri(app.Urls.First());
        Http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromMinutes(2) };
    }

    public Uri Url { get; }
    public string StorePath { get; }
    public HttpClient Http { get; }
    public OciLayoutStore Store => new(StorePath);
    public TempDirectory Scratch => _directory;
    public DeltaBuilder Builder => _app.Services.GetRequiredService<DeltaBuilder>();

    /// <summary>One of the server's own services, to set up a state a test needs (e.g. every build slot taken).</summary>
    public T Service<T>() where T : notnull => _app.Services.GetRequiredService<T>();

    public static Task<RunningServer> StartAsync(params string[] extraArgs) => StartOnStoreAsync(storePath: null, extraArgs);

    /// <summary>Starts with the server's services or Kestrel changed first (a clock the test moves, Kestrel's limits).</summary>
    public static Task<RunningServer> StartAsync(Action<WebApplicationBuilder> configure, params string[] extraArgs) =>
        StartOnStoreAsync(storePath: null, extraArgs, configure);

    /// <summary>Starts on an existing store (e.g. to restart a server over the same data).</summary>
    public static Task<RunningServer> StartOnStoreAsync(string? storePath, params string[] extraArgs) => StartOnStoreAsync(storePath, extraArgs, configure: null);

    /// <summary>Starts on an existing store with the server's services changed first (e.g. a second instance on the first one's clock).</summary>
    public static Task<RunningServer> StartOnStoreAsync(string storePath, Action<WebApplicationBuilder> configure, params string[] extraArgs) =>
        StartOnStoreAsync(storePath, extraArgs, configure);

    private static async Task<RunningServer> StartOnStoreAsync(string? storePath, string[] extraArgs, Action<WebApplicationBuilder>? configure)
    {
        var directory = new TempDirectory();
        var store = storePath ?? directory["store"];
        var app = DorasServer.Build(["--urls", "http://127.0.0.1:0", "--store", store, "--log-level", "Warning", .. extraArgs], configure);
        await app.StartAsync();
        return new RunningServer(app, directory, store);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _directory.Dispose();
    }
}
