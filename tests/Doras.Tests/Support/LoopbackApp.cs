using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Support;

/// <summary>A small misbehaving or fake HTTP server on 127.0.0.1 with a random port, for fault paths.</summary>
public static class LoopbackApp
{
    public static async Task<WebApplication> StartAsync(string route, RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.Map(route, handler);
        await app.StartAsync();
        return app;
    }
}

/// <summary>An IProgress that reports on the calling thread, at once (Progress&lt;T&gt; posts later).</summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
