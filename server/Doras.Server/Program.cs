using Doras.Server.Collection;
using Doras.Server.Hosting;

if (ServerHelp.Answer(args, Console.Out)) return 0;
if (args is ["gc", .. var gcArgs]) return await GcCommand.RunAsync(gcArgs, Console.Out);
if (await Doras.Server.Peering.AdminCommands.TryRunAsync(args, Console.Out, Console.Error) is { } exitCode) return exitCode;
var app = DorasServer.Build(args);
await app.RunAsync();
return 0;
