using System.CommandLine;
using Doras.EdgeClient.Updates;

namespace Doras.Cli.Commands;

/// <summary><c>doras pull REF --server URL --output DIR</c>: install, or update by delta.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var arguments = new UpdateArguments();
        var command = new Command("pull", "Install a version, by delta from the installed one when possible");
        arguments.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var (updater, options, context) = arguments.Create(result);
            using (context)
            {
                var outcome = await updater.UpdateAsync(options, ct);
                Console.WriteLine(result.GetValue(arguments.Json) ? CliJson.Of(JsonResult.From(outcome)) : Format.Describe(outcome));
                return ExitCodes.Ok;
            }
        });
        return command;
    }
}
