using System.CommandLine;
using Doras.EdgeClient.Updates;
using Doras.EdgeClient.Updates.Install;

namespace Doras.Cli.Commands;

/// <summary><c>doras rollback --output DIR</c>: put back the version the last update replaced (kept with --keep-previous).</summary>
internal static class RollbackCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "The installation to roll back (as given to pull)", Required = true };
        var workDir = new Option<string?>("--work-dir") { Description = "State and staging directory (default: .NAME.doras beside the output)" };
        var json = new Option<bool>("--json") { Description = "Machine-readable output" };
        var command = new Command("rollback", "Put back the version the last update replaced (kept with --keep-previous); again to roll forward") { output, workDir, json };
        command.SetAction(async (result, ct) =>
        {
            var outcome = await new Installation(result.GetValue(output)!, result.GetValue(workDir)).RollbackAsync(ct); // local work only
            Console.WriteLine(result.GetValue(json) ? CliJson.Of(JsonResult.From(outcome)) : Format.Describe(outcome));
            return ExitCodes.Ok;
        });
        return command;
    }
}
