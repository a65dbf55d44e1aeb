using Doras.Server.Collection;
using Doras.Server.Hosting;

if (ServerHelp.Answer(args, Console.Out)) return 0;
var server = new Doras.Server.Commands.ServerApp(DorasServer.Build, DorasServer.SettingSwitches);
if (args is ["gc", .. var gcArgs]) return await GcCommand.RunAsync(gcArgs, Console.Out, server);
if (await Doras.Server.Peering.AdminCommands.TryRunAsync(args, Console.Out, Console.Error, server) is { } exitCode) return exitCode;
var app = DorasServer.Build(args);
try { SettingsCheck.Validate(app.Services); }
catch (Exception e) when (SettingsCheck.Refusals(e) is { } refusals)
{
    foreach (var refusal in refusals) Console.Error.WriteLine($"doras-server: {refusal}");
    return SettingsCheck.UsageExitCode;
}
await app.RunAsync();
return 0;
