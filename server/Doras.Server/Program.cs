using Doras.Server.Collection;
using Doras.Server.Hosting;

if (ServerHelp.Answer(args, Console.Out)) return 0;
if (args is ["gc", .. var gcArgs]) return await GcCommand.RunAsync(gcArgs, Console.Out);
var app = DorasServer.Build(args);
await app.RunAsync();
return 0;
