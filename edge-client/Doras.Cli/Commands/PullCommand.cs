using System.CommandLine;
using Doras.EdgeClient.Images;
using Doras.EdgeClient.Updates;

namespace Doras.Cli.Commands;

/// <summary><c>doras pull REF --server URL --output DIR</c>: install, or update by delta; <c>--image-layout DIR</c>: keep a container image.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var arguments = new UpdateArguments();
        var imageLayout = new Option<string?>("--image-layout") { Description = "Keep a container image in this OCI image layout directory, tagged with the reference's tag, exactly as the registry has it (instead of --output)" };
        var command = new Command("pull", "Install a version, by delta from the installed one when possible; or keep a container image in an OCI layout") { imageLayout };
        arguments.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var setup = arguments.Create(result, result.GetValue(imageLayout));
            using (setup.Context)
            {
                if (result.GetValue(imageLayout) is { } layout)
                {
                    var image = await setup.Images.UpdateAsync(new ImageUpdateOptions
                    {
                        Reference = setup.Options.Reference, Layout = layout, Platform = setup.Options.Platform, Verification = setup.Options.Verification,
                        AllowDowngrade = setup.Options.AllowDowngrade, MaxImageBytes = setup.Options.MaxArtifactBytes, ReserveBytes = setup.Options.ReserveBytes,
                    }, ct);
                    Console.WriteLine(image.Mode == UpdateMode.UpToDate
                        ? $"up to date: {image.Layout}:{image.Tag} is {image.ManifestDigest}"
                        : $"image: {image.Layout}:{image.Tag} is now {image.ManifestDigest}; downloaded {Format.Bytes(image.BytesDownloaded)} ({image.LayersDownloaded} blob(s)), kept {image.LayersKept}");
                    return ExitCodes.Ok;
                }
                var outcome = await setup.Updater.UpdateAsync(setup.Options, ct);
                Console.WriteLine(result.GetValue(arguments.Json) ? CliJson.Of(JsonResult.From(outcome)) : Format.Describe(outcome));
                return ExitCodes.Ok;
            }
        });
        return command;
    }
}
