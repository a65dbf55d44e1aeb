using System.Text.Json;

namespace Doras.Server.Collection;

/// <summary>
/// <c>doras-server gc [--dry-run] [--json] [settings…]</c>: one garbage collection with the server's configuration
/// (the same settings, file and environment), without starting a server. Logs go to stderr; the report to stdout.
/// Exit code 0, or 1 when a repository could not be collected.
/// </summary>
public static class GcCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, Commands.ServerApp server)
    {
        var dryRun = args.Contains("--dry-run");
        var json = args.Contains("--json");
        var settings = args.Where(a => a is not ("--dry-run" or "--json")).ToArray();
        await using var app = server.Build(settings, builder =>
        {
            builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.Services.Configure<GcOptions>(o => o.Enabled = false); // no periodic run inside a one-off command
        });
        var report = await app.Services.GetRequiredService<GarbageCollector>().RunAsync(dryRun, CancellationToken.None);
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(report));
        }
        else
        {
            foreach (var d in report.Deleted)
                output.WriteLine($"{(dryRun ? "would delete" : "deleted")} {d.Repository}:{d.Tag} ({d.Digest}): {d.Reason}");
            foreach (var s in report.BlobSweepsSkipped) output.WriteLine($"kept every blob of {s}");
            foreach (var e in report.Errors) output.WriteLine($"error: {e}");
            output.WriteLine($"{report.Deleted.Count} delta tags {(dryRun ? "to delete" : "deleted")}, {report.Kept} kept, {report.BlobsRemoved} unreferenced blobs ({report.BlobBytesRemoved} bytes) {(dryRun ? "to remove" : "removed")}, in {report.Repositories.Count} repositories");
        }
        return report.Errors.Count == 0 ? 0 : 1;
    }
}
