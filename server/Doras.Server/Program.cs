using Doras.Server.Hosting;

var app = DorasServer.Build(args);
await app.RunAsync();
