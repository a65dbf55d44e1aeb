using System.CommandLine;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;

namespace Doras.Cli.Commands;

/// <summary><c>doras pull REPO:TAG --server URL --output DIR</c>: install or update by delta.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("reference") { Description = "The version to install: repo:tag or repo@sha256:…" };
        var server = new Option<string>("--server") { Description = "The Doras server's URL (or DORAS_SERVER)", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DORAS_SERVER") ?? "http://127.0.0.1:8080" };
        var output = new Option<string>("--output", "-o") { Description = "Where to install: a file artifact goes into this directory, a directory artifact becomes it", Required = true };
        var workDir = new Option<string?>("--work-dir") { Description = "State and staging directory (default: .NAME.doras beside the output)" };
        var accept = new Option<string[]>("--accept") { Description = "Accepted delta algorithms, in order of preference", DefaultValueFactory = _ => [.. DeltaRequest.DefaultAlgorithms], AllowMultipleArgumentsPerToken = true };
        var command = new Command("pull", "Install a version, by delta from the installed one when possible") { reference, server, output, workDir, accept };
        var registry = new StoreArguments();
        registry.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var target = Doras.Oci.Model.Reference.Parse(result.GetValue(reference)!);
            using var opened = target.Registry is null ? null : registry.Open(result, target);
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
            var serverText = result.GetValue(server)!;
            if (!Uri.TryCreate(serverText, UriKind.Absolute, out var serverUrl) || serverUrl.Scheme is not ("http" or "https"))
                throw new ArgumentException($"--server '{serverText}' is not an http(s) URL");
            var updater = new Updater(new DeltaClient(http, serverUrl), opened?.Client);
            var outcome = await updater.UpdateAsync(new UpdateOptions
            {
                Reference = result.GetValue(reference)!,
                Output = result.GetValue(output)!,
                WorkDirectory = result.GetValue(workDir),
                AcceptedAlgorithms = result.GetValue(accept)!,
            }, ct);
            Console.WriteLine(Format.Describe(outcome));
            return 0;
        });
        return command;
    }
}
