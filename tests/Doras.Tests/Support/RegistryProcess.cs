using System.Net;
using System.Net.Sockets;

namespace Doras.Tests.Support;

/// <summary>
/// A real OCI registry (Debian's docker-registry, distribution v2.8) on 127.0.0.1 with a random port and a
/// temporary directory, optionally with htpasswd basic auth or token auth. Installs nothing: .ci/run does.
/// </summary>
public sealed class RegistryProcess : IAsyncDisposable
{
    private readonly ToolProcess _process;
    private readonly TempDirectory _dir;

    private RegistryProcess(ToolProcess process, TempDirectory dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public Uri Url => new($"http://{Host}/");
    public string DataDirectory => _dir.Path;

    public static Task<RegistryProcess> StartAsync() => StartAsync(auth: "");

    /// <summary>With basic auth for one user (bcrypt htpasswd, the only hash distribution accepts).</summary>
    public static Task<RegistryProcess> StartWithBasicAuthAsync(string user, string password) => StartWithBasicAuthAsync((user, password));

    /// <summary>With basic auth for these users (each may pull and push: distribution's htpasswd has no per-user rights).</summary>
    public static async Task<RegistryProcess> StartWithBasicAuthAsync(params (string User, string Password)[] users)
    {
        var dir = new TempDirectory();
        var htpasswd = string.Concat(users.Select(u => ExternalTool.RunOk("htpasswd", "-Bbn", u.User, u.Password).Trim() + "\n"));
        File.WriteAllText(dir["htpasswd"], htpasswd);
        return await StartAsync($"auth:\n  htpasswd:\n    realm: test-realm\n    path: {dir["htpasswd"]}\n", dir);
    }

    /// <summary>
    /// Sending push notifications (its webhook) to <paramref name="url"/> with <c>Authorization: <paramref name="authorization"/></c>
    /// (blob events left out, as an operator would).
    /// </summary>
    public static Task<RegistryProcess> StartWithNotificationsAsync(string url, string authorization) =>
        StartAsync($"notifications:\n  endpoints:\n    - name: doras\n      url: {url}\n      headers:\n        Authorization: [\"{authorization}\"]\n" +
            "      timeout: 5s\n      threshold: 3\n      backoff: 1s\n      ignoredmediatypes:\n        - application/octet-stream\n");

    /// <summary>With token auth: tokens signed by <paramref name="certificatePath"/>'s key, issued at <paramref name="realm"/>.</summary>
    public static Task<RegistryProcess> StartWithTokenAuthAsync(string realm, string certificatePath) =>
        StartAsync($"auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {certificatePath}\n");

    private static async Task<RegistryProcess> StartAsync(string auth, TempDirectory? dir = null)
    {
        dir ??= new TempDirectory();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var port = FreePort();
            var config = $"""
                version: 0.1
                log:
                  level: warn
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {dir["storage"]}
                  delete:
                    enabled: true
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:{port}
                  secret: test-secret
                {auth}
                """;
            File.WriteAllText(dir["config.yml"], config);
            var process = ExternalTool.Start("docker-registry", ["serve", dir["config.yml"]]);

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var up = await Eventually.HoldsWithinAsync(async () =>
            {
                if (process.HasExited) return true; // no use waiting (the port was taken?): the next attempt
                try
                {
                    using var response = await http.GetAsync($"http://127.0.0.1:{port}/v2/");
                    return response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized;
                }
                catch (HttpRequestException) { return false; }
            }, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
            if (up && !process.HasExited) return new RegistryProcess(process, dir, port);
            await process.DisposeAsync(); // kills it if it still runs
        }
        throw new InvalidOperationException("docker-registry did not come up");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync(); // kills it
        _dir.Dispose();
    }
}
