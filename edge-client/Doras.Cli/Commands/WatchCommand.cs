using System.CommandLine;
using System.Diagnostics;
using Doras.EdgeClient.Updates;
using Doras.EdgeClient.Watching;

namespace Doras.Cli.Commands;

/// <summary>
/// <c>doras watch</c>: the daemon mode for update agents. Checks the tag on an interval with jitter, updates,
/// runs a command after each installed update (e.g. restart the service) and reports its outcome; one line
/// (or JSON object) per check; ends on Ctrl-C/SIGTERM or after --max-checks, with the last check's exit code.
/// </summary>
internal static class WatchCommand
{
    public static Command Create()
    {
        var arguments = new UpdateArguments();
        var interval = new Option<double>("--interval") { Description = "Seconds between checks", DefaultValueFactory = _ => 300 };
        var jitter = new Option<double>("--jitter") { Description = "Random spread of each wait, as a fraction of the interval", DefaultValueFactory = _ => 0.2 };
        var onUpdate = new Option<string?>("--on-update") { Description = "Shell command run after each installed update (env: DORAS_MODE, DORAS_MANIFEST, DORAS_PATH)" };
        var maxChecks = new Option<int?>("--max-checks") { Description = "Stop after this many checks" };
        var command = new Command("watch", "Keep a target at a tag: check periodically, update, run a command after updates") { interval, jitter, onUpdate, maxChecks };
        arguments.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            if (result.GetValue(arguments.AllowDowngrade))
                throw new ArgumentException("--allow-downgrade is for one `doras pull`: a watch would accept every older signed version for as long as it runs");
            var setup = arguments.Create(result);
            var (updater, options, context) = setup;
            using (context)
            {
                var json = result.GetValue(arguments.Json);
                var hook = result.GetValue(onUpdate);
                var watcher = new UpdateWatcher(updater);
                var lastCode = ExitCodes.Ok;
                string? hookOutcome = null;
                watcher.Updated += async (update, token) => hookOutcome = hook is null ? null : await RunHookAsync(hook, update, token);
                watcher.Checked += (check, _) =>
                {
                    lastCode = check.Error is null ? ExitCodes.Ok : ExitCodes.For(check.Error);
                    if (json)
                        Console.WriteLine(check.Result is { } r
                            ? CliJson.Of(JsonResult.From(r, check.Number, hookOutcome))
                            : CliJson.Of(new JsonError(Messages.For(check.Error!), lastCode, check.Number)));
                    else
                        Console.WriteLine(check.Result is { } r
                            ? $"check {check.Number}: {Format.Describe(r)}{(hookOutcome is null ? "" : $"; {hookOutcome}")}"
                            : $"check {check.Number}: failed ({lastCode}): {Messages.For(check.Error!)}");
                    hookOutcome = null;
                    return Task.CompletedTask;
                };
                try
                {
                    Func<CancellationToken, Task<UpdateResult>> update = setup.Image is { } image
                        ? async token => (await setup.Images.UpdateAsync(image, token)).AsUpdateResult()
                        : token => updater.UpdateAsync(options, token);
                    await watcher.RunAsync(update, options.Reference, new WatchOptions
                    {
                        Interval = TimeSpan.FromSeconds(result.GetValue(interval)),
                        Jitter = result.GetValue(jitter),
                        MaxChecks = result.GetValue(maxChecks),
                    }, ct);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return lastCode; // stopped by a signal: a normal end for a daemon
                }
                return lastCode;
            }
        });
        return command;
    }

    private static async Task<string> RunHookAsync(string hook, UpdateResult update, CancellationToken ct)
    {
        var start = new ProcessStartInfo("/bin/sh", ["-c", hook]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DORAS_MODE"] = update.Mode.ToString().ToLowerInvariant();
        start.Environment["DORAS_MANIFEST"] = update.ManifestDigest;
        start.Environment["DORAS_PATH"] = update.InstalledPath;
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(ct) + await process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var tail = output.Trim().Split('\n').LastOrDefault()?.Trim();
        return $"on-update exited {process.ExitCode}{(string.IsNullOrEmpty(tail) ? "" : $": {tail}")}";
    }
}
