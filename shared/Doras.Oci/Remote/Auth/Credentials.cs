using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Doras.Oci.Remote.Auth;

/// <summary>Credentials for one registry: a user and password, or an identity (refresh) token.</summary>
public sealed record Credential(string? Username, string? Password, string? IdentityToken = null)
{
    public bool IsEmpty => string.IsNullOrEmpty(Username) && string.IsNullOrEmpty(IdentityToken);
}

/// <summary>Finds the credentials for a registry host (<c>host[:port]</c>); null means anonymous.</summary>
public interface ICredentialProvider
{
    Task<Credential?> GetAsync(string registry, CancellationToken ct = default);
}

/// <summary>Credentials given explicitly, per host; falls back to another provider.</summary>
public sealed class StaticCredentialProvider(IReadOnlyDictionary<string, Credential> credentials, ICredentialProvider? fallback = null) : ICredentialProvider
{
    public Task<Credential?> GetAsync(string registry, CancellationToken ct = default) =>
        credentials.TryGetValue(registry, out var credential) ? Task.FromResult<Credential?>(credential)
        : fallback?.GetAsync(registry, ct) ?? Task.FromResult<Credential?>(null);
}

/// <summary>
/// Credentials from a Docker <c>config.json</c>: <c>auths</c> entries (<c>auth</c> = base64 "user:password",
/// or <c>username</c>/<c>password</c>, or <c>identitytoken</c>), and credential helpers
/// (<c>credHelpers</c> per host, <c>credsStore</c> for all) run as <c>docker-credential-NAME get</c>.
/// </summary>
public sealed class DockerConfigCredentialProvider(string path) : ICredentialProvider
{
    /// <summary>$DOCKER_CONFIG/config.json or ~/.docker/config.json.</summary>
    public static string DefaultPath =>
        Path.Combine(Environment.GetEnvironmentVariable("DOCKER_CONFIG") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker"), "config.json");

    public async Task<Credential?> GetAsync(string registry, CancellationToken ct = default)
    {
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false));
        var root = doc.RootElement;
        if (root.TryGetProperty("credHelpers", out var helpers) && helpers.TryGetProperty(registry, out var helper) && helper.GetString() is { Length: > 0 } h)
            return await FromHelperAsync(h, registry, ct).ConfigureAwait(false);
        if (root.TryGetProperty("auths", out var auths))
            foreach (var entry in auths.EnumerateObject())
                if (HostOf(entry.Name) == registry)
                    return FromAuthEntry(entry.Value, registry);
        if (root.TryGetProperty("credsStore", out var store) && store.GetString() is { Length: > 0 } s)
            return await FromHelperAsync(s, registry, ct).ConfigureAwait(false);
        return null;
    }

    /// <summary>"https://index.docker.io/v1/" and "registry.example:5000" both name a host.</summary>
    private static string HostOf(string key)
    {
        var text = key.Contains("://", StringComparison.Ordinal) ? new Uri(key).Authority : key;
        return text.TrimEnd('/').Split('/')[0];
    }

    private static Credential? FromAuthEntry(JsonElement entry, string registry)
    {
        string? Get(string name) => entry.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        if (Get("identitytoken") is { Length: > 0 } token) return new Credential(Get("username"), null, token);
        if (Get("auth") is { Length: > 0 } auth)
        {
            string decoded;
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth)); }
            catch (FormatException) { throw new InvalidDataException($"the docker config entry for {registry} has an 'auth' that is not base64"); }
            var colon = decoded.IndexOf(':');
            if (colon < 0) throw new InvalidDataException($"the docker config entry for {registry} has an 'auth' that is not 'user:password'");
            return new Credential(decoded[..colon], decoded[(colon + 1)..]);
        }
        return Get("username") is { Length: > 0 } user ? new Credential(user, Get("password")) : null;
    }

    private static async Task<Credential?> FromHelperAsync(string helper, string registry, CancellationToken ct)
    {
        var start = new ProcessStartInfo($"docker-credential-{helper}", ["get"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"credential helper docker-credential-{helper} did not start");
        await process.StandardInput.WriteAsync(registry).ConfigureAwait(false);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
        var error = await process.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        if (process.ExitCode != 0)
            return output.Contains("credentials not found", StringComparison.OrdinalIgnoreCase) || error.Contains("credentials not found", StringComparison.OrdinalIgnoreCase)
                ? null
                : throw new InvalidOperationException($"credential helper docker-credential-{helper} failed: {(error + output).Trim()}");
        using var doc = JsonDocument.Parse(output);
        var user = doc.RootElement.GetProperty("Username").GetString();
        var secret = doc.RootElement.GetProperty("Secret").GetString();
        return user == "<token>" ? new Credential(null, null, secret) : new Credential(user, secret);
    }
}
