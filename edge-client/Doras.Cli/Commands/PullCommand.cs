using System.CommandLine;
using Doras.EdgeClient.Updates;

namespace Doras.Cli.Commands;

/// <summary><c>doras pull REF --server URL --output DIR</c>: install, or update by delta; <c>--image-layout DIR</c>: keep a container image.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var arguments = new UpdateArguments();
        var command = new Command("pull", "Install a version, by delta from the installed one when possible; or keep a container image in an OCI layout (--image-layout)");
        arguments.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var setup = arguments.Create(result);
            using (setup.Context)
            {
                var outcome = setup.Image is { } image
                    ? (await setup.Images.UpdateAsync(image, ct)).AsUpdateResult()
                    : await setup.Updater.UpdateAsync(setup.Options, ct);
                Console.WriteLine(result.GetValue(arguments.Json) ? CliJson.Of(JsonResult.From(outcome)) : Format.Describe(outcome));
                return ExitCodes.Ok;
            }
        });
        return command;
    }
}
