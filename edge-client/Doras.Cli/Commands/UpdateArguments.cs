using System.CommandLine;
using System.Text.Json;
using Doras.Delta.Algorithms;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Model;

namespace Doras.Cli.Commands;

/// <summary>The options of `pull` and `watch`: what to keep where, which server, limits, output format.</summary>
internal sealed class UpdateArguments
{
    public Argument<string> Reference { get; } = new("reference") { Description = "The version to install: [registry/]repo:tag or @digest" };
    public Option<string?> Server { get; } = new("--server") { Description = "The Doras server's URL (required; or DORAS_SERVER)", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DORAS_SERVER") };
    public Option<string?> Output { get; } = new("--output", "-o") { Description = "Where to install: a file artifact goes into this directory, a directory artifact becomes it (required, unless `pull --image-layout`)" };
    public Option<string?> WorkDir { get; } = new("--work-dir") { Description = "State and staging directory (default: .NAME.doras beside the output)" };
    public Option<string[]> Accept { get; } = new("--accept") { Description = $"Accepted delta algorithms, in order of preference: auto (the smallest the server makes) or {DeltaAlgorithms.Default().Listing}", DefaultValueFactory = _ => [.. DeltaRequest.DefaultAlgorithms], AllowMultipleArgumentsPerToken = true };
    public Option<long> MaxBytes { get; } = new("--max-bytes") { Description = "Largest artifact or delta accepted", DefaultValueFactory = _ => 16L << 30 };
    public Option<long> Reserve { get; } = new("--reserve-bytes") { Description = "Free space to leave on the device" };
    public Option<bool> KeepPrevious { get; } = new("--keep-previous") { Description = "Keep the replaced version in the work directory, for `doras rollback`" };
    public Option<long?> MaxBytesPerPeriod { get; } = new("--max-bytes-per-period") { Description = "Metered links: at most this many bytes downloaded per period (see --period-hours)" };
    public Option<double> PeriodHours { get; } = new("--period-hours") { Description = "The period of --max-bytes-per-period, in hours", DefaultValueFactory = _ => 24 };
    public Option<double> StallTimeout { get; } = new("--stall-timeout") { Description = "Abort a download that brings under 1 KiB, or a wait for the server's answer, of this many seconds (retried, resuming; then exit 3); 0: never", DefaultValueFactory = _ => Oci.Remote.HttpBody.DefaultStallTimeout.TotalSeconds };
    public Option<double> Timeout { get; } = new("--timeout") { Description = "Give up an update after this many seconds (every retry, wait and download included), exit 3", DefaultValueFactory = _ => UpdateOptions.DefaultTimeout.TotalSeconds };
    public Option<bool> ReplaceExisting { get; } = new("--replace-existing") { Description = "Replace a file or directory at the output that doras did not install (default: refuse, exit 2, leave it untouched)" };
    public Option<bool> Json { get; } = new("--json") { Description = "Machine-readable output: one JSON object per result" };
    public Option<bool> AllowHttp { get; } = new("--allow-http") { Description = "Allow a plain-HTTP --server URL (a trusted network or loopback only; default: refused)" };
    public Option<string?> TokenCommand { get; } = new("--token-command") { Description = "Shell command printing the server's token (Bearer); run again when the server answers 401" };
    public Option<string?> TokenFile { get; } = new("--token-file") { Description = "File holding the server's token (Bearer); read for every request, so a renewed token is used at once" };
    public Option<string?> Platform { get; } = new("--platform") { Description = "os/arch[/variant] to install when the tag is a multi-platform index (default: this machine)" };
    public Option<string[]> VerifyKey { get; } = new("--verify-key") { Description = "Install only versions signed by this cosign public key (PEM; repeatable: any one suffices); refused otherwise, exit 11" };
    public Option<string?> TrustPolicy { get; } = new("--trust-policy") { Description = "Install only versions with a Notation signature this trust policy (Notation trust policy v1.0 JSON) accepts; with --trust-store; refused otherwise, exit 11" };
    public Option<string?> TrustStore { get; } = new("--trust-store") { Description = "Notation trust store directory (x509/ca/NAME and x509/signingAuthority/NAME hold the trusted certificates); with --trust-policy" };
    public Option<bool> AllowDowngrade { get; } = new("--allow-downgrade") { Description = "With --verify-key or --trust-policy: accept a signed version older than the newest one accepted here (default: refused, exit 12)" };
    public Option<string?> ImageLayout { get; } = new("--image-layout") { Description = "Keep a container image in this OCI image layout directory, tagged with the reference's tag, exactly as the registry has it (instead of --output)" };
    public StoreArguments Registry { get; } = new();

    public void AddTo(Command command)
    {
        command.Arguments.Add(Reference);
        foreach (var option in new Option[] { Server, Output, WorkDir, Accept, MaxBytes, Reserve, KeepPrevious, MaxBytesPerPeriod, PeriodHours, StallTimeout, Timeout, ReplaceExisting, Json, AllowHttp, TokenCommand, TokenFile, Platform, VerifyKey, TrustPolicy, TrustStore, AllowDowngrade, ImageLayout }) command.Options.Add(option);
        Registry.AddTo(command, withStore: false); // pull and watch never read the local store
    }

    /// <summary>The updaters (artifacts, images) and what to do; dispose the context to release connections.</summary>
    /// <param name="Image">With --image-layout: the container image to keep there (null: an artifact at --output).</param>
    public sealed record Setup(Updater Updater, UpdateOptions Options, EdgeClient.Images.ImageUpdater Images, EdgeClient.Images.ImageUpdateOptions? Image, IDisposable Context)
    {
        public void Deconstruct(out Updater updater, out UpdateOptions options, out IDisposable context) => (updater, options, context) = (Updater, Options, Context);
    }

    public Setup Create(ParseResult result)
    {
        var imageLayout = result.GetValue(ImageLayout);
        var output = result.GetValue(Output);
        if (imageLayout is not null && output is not null)
            throw new ArgumentException("give --output (a file or directory artifact) or --image-layout (a container image), not both");
        output ??= imageLayout ?? throw new ArgumentException("--output is required: where to install (a file artifact goes into this directory, a directory artifact becomes it)");
        // No default: a guessed address the device never named would only be refused, or worse, answered by a stranger.
        var serverText = result.GetValue(Server)
            ?? throw new ArgumentException("name the Doras server: --server URL (e.g. https://doras.example.org), or set DORAS_SERVER");
        if (!Uri.TryCreate(serverText, UriKind.Absolute, out var serverUrl) || serverUrl.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--server '{serverText}' is not an http(s) URL");
        if (serverUrl.Scheme == "http" && !result.GetValue(AllowHttp))
            throw new ArgumentException($"--server {serverText} is plain HTTP: pass --allow-http to allow it (a trusted network or loopback only), or use https");
        var stallSeconds = result.GetValue(StallTimeout);
        if (!double.IsFinite(stallSeconds) || stallSeconds < 0 || stallSeconds > TimeSpan.MaxValue.TotalSeconds / 2)
            throw new ArgumentException($"--stall-timeout {stallSeconds} is not a number of seconds (0 turns the check off)");
        var timeoutSeconds = result.GetValue(Timeout);
        if (!double.IsFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds >= TimeSpan.FromDays(1).TotalSeconds)
            throw new ArgumentException($"--timeout {timeoutSeconds} is not a number of seconds between 0 and a day");
        var target = Oci.Model.Reference.Parse(result.GetValue(Reference)!);
        var platform = result.GetValue(Platform) is { } p ? Oci.Model.Platforms.Parse(p) : null;
        var verifyKeys = result.GetValue(VerifyKey) ?? [];
        var (trustPolicy, trustStore) = (result.GetValue(TrustPolicy), result.GetValue(TrustStore));
        if ((trustPolicy is null) != (trustStore is null))
            throw new ArgumentException(trustPolicy is null
                ? "--trust-store needs --trust-policy: the policy says which of its stores to trust for which repository"
                : "--trust-policy needs --trust-store: the directory holding the certificates its trustStores name (x509/ca/NAME, x509/signingAuthority/NAME)");
        if (result.GetValue(AllowDowngrade) && verifyKeys.Length == 0 && trustPolicy is null)
            throw new ArgumentException("--allow-downgrade only means something with --verify-key or --trust-policy (without them, versions are not checked and never refused as older)");
        var verification = verifyKeys.Length == 0 && trustPolicy is null ? null
            : trustPolicy is null ? Signing.PublisherVerification.FromKeyFiles(verifyKeys)
            : Signing.PublisherVerification.FromFiles(verifyKeys, trustPolicy, trustStore);
        // What the policy asks that a device cannot check offline (revocation) is said once, not silently skipped.
        foreach (var line in verification?.Notation?.Unchecked ?? []) Console.Error.WriteLine($"doras: warning: {line}");
        var client = new DeltaClient(serverUrl, new DeltaClientOptions
        {
            AllowHttp = result.GetValue(AllowHttp),
            TokenProvider = Tokens(result),
            Headers = Registry.Headers(result),
            // Bare references through a registry-mode server: -u/-p answer the registry's challenge the server passes on.
            RegistryCredentials = target.Registry is null && result.GetValue(Registry.Username) is not null ? Registry.Credentials(result, serverUrl.Authority) : null,
        });
        var opened = target.Registry is null ? null : Registry.Open(result, target, retries: false); // the updater retries whole attempts
        var updater = new Updater(client, opened?.Client) { Progress = ConsoleUpdateProgress.Create(result.GetValue(Json)) };
        var options = new UpdateOptions
        {
            Reference = target.ToString(),
            Platform = platform,
            Output = output,
            WorkDirectory = result.GetValue(WorkDir),
            AcceptedAlgorithms = result.GetValue(Accept)!,
            MaxArtifactBytes = result.GetValue(MaxBytes),
            ReserveBytes = result.GetValue(Reserve),
            KeepPrevious = result.GetValue(KeepPrevious),
            ReplaceExisting = result.GetValue(ReplaceExisting),
            Verification = verification,
            AllowDowngrade = result.GetValue(AllowDowngrade),
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            StallTimeout = stallSeconds == 0 ? System.Threading.Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(stallSeconds),
            DataBudget = result.GetValue(MaxBytesPerPeriod) is { } budget
                ? new DataBudgetOptions { MaxBytes = budget, Period = TimeSpan.FromHours(result.GetValue(PeriodHours)) }
                : null,
        };
        var images = new EdgeClient.Images.ImageUpdater(client, opened?.Client);
        var image = imageLayout is null ? null : new EdgeClient.Images.ImageUpdateOptions
        {
            Reference = options.Reference, Layout = imageLayout, Platform = options.Platform, Verification = options.Verification,
            AllowDowngrade = options.AllowDowngrade, MaxImageBytes = options.MaxArtifactBytes, ReserveBytes = options.ReserveBytes,
        };
        return new Setup(updater, options, images, image, new Disposables(client, opened));
    }

    /// <summary>The server's token: from --token-command or --token-file (one of them), or none.</summary>
    private IServerTokenProvider? Tokens(ParseResult result) => (result.GetValue(TokenCommand), result.GetValue(TokenFile)) switch
    {
        ({ } command, { }) => throw new ArgumentException($"give one of --token-command and --token-file, not both (got '{command}' and a file)"),
        ({ Length: > 0 } command, null) => new CommandTokenProvider(command),
        (null, { Length: > 0 } file) => new FileTokenProvider(file),
        _ => null,
    };

    private sealed class Disposables(params IDisposable?[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item?.Dispose();
        }
    }
}
