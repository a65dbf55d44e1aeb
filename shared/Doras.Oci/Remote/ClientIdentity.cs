using System.Reflection;

namespace Doras.Oci.Remote;

/// <summary>Who is calling: the version every Doras program reports, and the User-Agent built from it.</summary>
public static class ClientIdentity
{
    /// <summary>
    /// The build's informational version (e.g. <c>1.0.0+6aa54db…</c>), the same text <c>doras --version</c>
    /// prints, since every Doras assembly is built with one version.
    /// </summary>
    public static string Version { get; } =
        typeof(ClientIdentity).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ClientIdentity).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>The User-Agent of registry and server requests: <c>doras-dotnet/VERSION</c>.</summary>
    public static string UserAgent { get; } = $"doras-dotnet/{Version}";
}
