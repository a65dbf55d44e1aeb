using Doras.Server.Hosting;

if (ServerHelp.Answer(args, Console.Out)) return 0;
if (await Doras.Server.Peering.AdminCommands.TryRunAsync(args, Console.Out, Console.Error) is { } exitCode) return exitCode;
var app = DorasServer.Build(args);
await app.RunAsync();
return 0;
