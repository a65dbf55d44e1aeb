using System.CommandLine;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Cli.Commands;

/// <summary>
/// The options every command that touches content shares, and how a reference picks its store: one naming a
/// registry host goes to that registry; a bare <c>repo:tag</c> goes to the local layout store (<c>--store</c>).
/// </summary>
internal sealed class StoreArguments
{
    public Option<string> Store { get; } = new("--store") { Description = "Local OCI layout store (for references without a registry host)", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DORAS_Store__Path") ?? "doras-store" };
    public Option<bool> PlainHttp { get; } = new("--plain-http") { Description = "Talk plain HTTP to registries (local or test registries only)" };
    public Option<string?> Username { get; } = new("--username", "-u") { Description = "Registry user (default: from the Docker config.json)" };
    public Option<string?> Password { get; } = new("--password", "-p") { Description = "Registry password or token (or DORAS_REGISTRY_PASSWORD)" };
    public Option<string?> DockerConfig { get; } = new("--docker-config") { Description = "Docker config.json with registry credentials (and HttpHeaders sent with every request)", DefaultValueFactory = _ => DockerConfigCredentialProvider.DefaultPath };
    public Option<string[]> Header { get; } = new("--header", "-H") { Description = "'Name: value' sent with every registry request (repeatable; over the Docker config's HttpHeaders)" };

    /// <param name="withStore">Offer --store only where a reference without a registry host reads the local store.</param>
    public void AddTo(Command command, bool withStore = true)
    {
        if (withStore) command.Options.Add(Store);
        command.Options.Add(PlainHttp);
        command.Options.Add(Username);
        command.Options.Add(Password);
        command.Options.Add(DockerConfig);
        command.Options.Add(Header);
    }

    /// <summary>The headers every request carries: the Docker config's HttpHeaders, then --header (which wins by name).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers(ParseResult result) => RequestHeaders.Merge(
        RequestHeaders.FromDockerConfig(result.GetValue(DockerConfig)!),
        (result.GetValue(Header) ?? []).Select(RequestHeaders.Parse));

    /// <summary>Opens the repository a reference names; dispose the result to release its connections.</summary>
    /// <param name="retries">False where the caller retries whole operations itself: one layer of retry, not two.</param>
    public Opened Open(ParseResult result, Reference reference, IProgress<(Digest, long)>? progress = null, bool retries = true)
    {
        if (reference.Registry is null)
            return new Opened(OpenStore(result).Repository(reference.Repository), null);
        var client = OpenRegistry(result, reference.Registry, progress, retries);
        return new Opened(client.Repository(reference.Repository), client);
    }

    /// <summary>The local layout store (--store).</summary>
    public OciLayoutStore OpenStore(ParseResult result) => new(result.GetValue(Store)!);

    /// <summary>A client of one registry host with the command line's credentials, headers and transport; dispose it.</summary>
    public RegistryClient OpenRegistry(ParseResult result, string registry, IProgress<(Digest, long)>? progress = null, bool retries = true)
    {
        return new RegistryClient(registry, new RegistryClientOptions
        {
            PlainHttp = result.GetValue(PlainHttp), Credentials = Credentials(result, registry), Progress = progress,
            Retry = retries ? new() : new() { MaxRetries = 0 }, Headers = Headers(result),
        });
    }

    /// <summary>The command line's credentials for <paramref name="host"/> (-u/-p), over those of the Docker config.</summary>
    public ICredentialProvider Credentials(ParseResult result, string host)
    {
        ICredentialProvider credentials = new DockerConfigCredentialProvider(result.GetValue(DockerConfig)!);
        var user = result.GetValue(Username);
        var password = result.GetValue(Password) ?? Environment.GetEnvironmentVariable("DORAS_REGISTRY_PASSWORD");
        return user is null ? credentials : new StaticCredentialProvider(new Dictionary<string, Credential> { [host] = new(user, password) }, credentials);
    }

    public sealed record Opened(IOciRepository Repository, RegistryClient? Client) : IDisposable
    {
        public void Dispose() => Client?.Dispose();
    }
}

/// <summary>Transfer progress on standard error: a line per blob at every tenth, never flooding a log.</summary>
internal sealed class ConsoleProgress : IProgress<(Digest Digest, long Bytes)>
{
    private readonly Dictionary<Digest, (long Total, int Reported)> _blobs = [];

    public void Expect(Digest digest, long size)
    {
        lock (_blobs) _blobs[digest] = (size, -1);
    }

    public void Report((Digest Digest, long Bytes) value)
    {
        lock (_blobs)
        {
            if (!_blobs.TryGetValue(value.Digest, out var blob) || blob.Total <= 0) return;
            var tenth = (int)(10 * value.Bytes / blob.Total);
            if (tenth <= blob.Reported) return;
            _blobs[value.Digest] = (blob.Total, tenth);
            Console.Error.WriteLine($"  {value.Digest.Hex[..12]}: {Format.Bytes(value.Bytes)} of {Format.Bytes(blob.Total)} ({10 * tenth}%)");
        }
    }
}
