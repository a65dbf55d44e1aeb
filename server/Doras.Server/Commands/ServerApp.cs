namespace Doras.Server.Commands;

/// <summary>
/// How a one-off command (<c>gc</c>, the admin commands) builds the server's app from settings, and which short flags
/// are settings: handed to them by Program.cs, so the feature folders that hold the commands do not depend on
/// Hosting, which assembles those features.
/// </summary>
public sealed record ServerApp(Func<string[], Action<WebApplicationBuilder>?, WebApplication> Build, IReadOnlyDictionary<string, string> SettingSwitches);
