using Doras.Server.Hosting;

if (ServerHelp.Answer(args, Console.Out)) return 0;
var app = DorasServer.Build(args);
await app.RunAsync();
return 0;
