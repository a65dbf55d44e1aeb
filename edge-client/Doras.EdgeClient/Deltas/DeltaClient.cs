using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Doras.Api;
using Doras.Delta.Algorithms;
using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.EdgeClient.Deltas;

/// <summary>Ask for the delta from an installed image (by digest) to a target (by digest or tag).</summary>
/// <param name="Authorization">Sent to the server, which reads the images with it (registry mode).</param>
public sealed record DeltaRequest(Reference From, Reference To, IReadOnlyList<string> AcceptedAlgorithms, AuthenticationHeaderValue? Authorization = null)
{
    /// <summary>When <see cref="To"/> names a multi-platform index: the platform whose manifest the delta goes to (the server resolves it).</summary>
    public Platform? Platform { get; init; }

    /// <summary>
    /// Let the server keep the smallest of the deltas this client can apply ("auto"); a server that does not know
    /// "auto" takes the first of the others it knows.
    /// </summary>
    public static IReadOnlyList<string> DefaultAlgorithms { get; } = DeltaAlgorithms.Default().DeviceDefaults;
}

/// <summary>One answer of the delta endpoint: ready, up to date, or pending with the server's Retry-After.</summary>
public sealed record DeltaPoll(DeltaResponse Response, TimeSpan? RetryAfter)
{
    public bool IsPending => Response.Status == DeltaStatus.Pending;
    public bool IsUpToDate => Response.Status == DeltaStatus.UpToDate;
}

/// <summary>A ready delta: its manifest's layer and a verified stream of its bytes.</summary>
public sealed record DeltaDownload(DeltaResponse Response, Descriptor Layer, Stream Content) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Content.DisposeAsync();
}

/// <summary>The server answered with an error (RFC 9457 problem details).</summary>
public sealed class DeltaServerException(HttpStatusCode status, string? type, string title, string detail)
    : Exception($"{(int)status} {title}: {detail}"), IFailure
{
    public FailureKind Kind => Failures.KindOf(Status);

    public HttpStatusCode Status { get; } = status;
    public string? Type { get; } = type;
    public string Title { get; } = title;
    public string Detail { get; } = detail;

    /// <summary>Worth asking again: overload or a passing server fault, not a remembered build failure.</summary>
    public bool IsTransient => Transience.IsTransient(Status) && Type != ProblemTypes.DeltaFailed;
}

/// <summary>How to reach the delta server (the Go client's <c>NewEdgeClient(serverURL, allowHttp, tokenProvider)</c>).</summary>
public sealed record DeltaClientOptions
{
    /// <summary>
    /// Talk plain HTTP to the server. Off: an <c>http://</c> server URL is refused (<see cref="ArgumentException"/>),
    /// loopback too, because tokens and the answers that say what to install would travel unprotected.
    /// </summary>
    public bool AllowHttp { get; init; }

    /// <summary>Authorization for requests that carry none of their own; asked per request, and again after a 401.</summary>
    public IServerTokenProvider? TokenProvider { get; init; }

    /// <summary>
    /// The registry credentials for a server in registry mode reached with bare references (<c>repo:tag</c>): when it
    /// answers 401 with the registry's own challenge, the client answers that challenge as a registry client does
    /// (Basic with these credentials, or a token fetched from the challenge's realm) and sends the request again.
    /// Keyed by the server's host. References that name the registry use the registry client's authorization instead.
    /// </summary>
    public Oci.Remote.Auth.ICredentialProvider? RegistryCredentials { get; init; }

    public BackoffOptions Backoff { get; init; } = new();

    /// <summary>Until the answer's headers arrive (bodies are bounded by the stall timeout).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Sent with every request (device metadata): see <see cref="RequestHeaders"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public string UserAgent { get; init; } = ClientIdentity.UserAgent;
}

/// <summary>
/// The edge client's view of the delta server, mirroring the Go edge client: <see cref="PollDeltaAsync"/>
/// asks once (Go: <c>ReadDeltaAsync</c>), <see cref="ReadDeltaAsync"/> polls with backoff until the delta is
/// ready (Go: <c>ReadDelta</c>), and <see cref="ReadDeltaAsStreamAsync"/> also opens the delta's bytes (Go:
/// <c>ReadDeltaAsStream</c>).
/// </summary>
public sealed class DeltaClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _server;

    /// <param name="server">The server's URL: https, or http with <see cref="DeltaClientOptions.AllowHttp"/>.</param>
    /// <param name="transport">Connections to use (not disposed with this client); a new pool when null.</param>
    public DeltaClient(Uri server, DeltaClientOptions? options = null, HttpMessageHandler? transport = null)
    {
        options ??= new DeltaClientOptions();
        if (!server.IsAbsoluteUri || server.Scheme is not ("http" or "https"))
            throw new ArgumentException($"the server URL '{server}' is not an http(s) URL");
        if (server.Scheme == "http" && !options.AllowHttp)
            throw new ArgumentException($"the server URL {server} is plain HTTP, which carries tokens and update answers unprotected: use https, or allow it explicitly (DeltaClientOptions.AllowHttp, doras --allow-http)");
        _server = server.AbsoluteUri.EndsWith('/') ? server : new Uri(server.AbsoluteUri + "/");
        Backoff = options.Backoff;
        HttpMessageHandler handler = transport is null ? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) } : new SharedHandler(transport);
        handler = new HeaderStallHandler { InnerHandler = handler }; // a server that accepts and never answers ends at the stall timeout
        if (options.RegistryCredentials is { } credentials) handler = new Oci.Remote.Auth.RegistryAuthHandler(credentials) { InnerHandler = handler };
        if (options.TokenProvider is { } tokens) handler = new ServerTokenHandler(tokens) { InnerHandler = handler };
        _http = new HttpClient(handler) { Timeout = options.Timeout };
        RequestHeaders.ApplyTo(_http, options.UserAgent, options.Headers);
    }

    public Uri Server => _server;

    public BackoffOptions Backoff { get; }

    public void Dispose() => _http.Dispose();

    /// <summary>The largest answer of the delta API (JSON, problem+json) read; a longer one is refused.</summary>
    public const int MaxAnswerBytes = 4 << 20;

    /// <summary>Reads manifests and blobs of a repository from the server's /v2 API.</summary>
    public RemoteRepository Repository(string name) => new(_http, _server, name);

    /// <summary>One request: the delta is ready, the device is up to date, or the delta is still being computed (Go: <c>ReadDeltaAsync</c>).</summary>
    public async Task<DeltaPoll> PollDeltaAsync(DeltaRequest request, CancellationToken ct = default)
    {
        if (request.From.Digest is null) throw new ArgumentException($"the from image must be named by digest, got {request.From}", nameof(request));
        var query = $"{DeltaApi.FromDigest}={Uri.EscapeDataString(request.From.ToString())}"
            + (request.To.Digest is not null
                ? $"&{DeltaApi.ToDigest}={Uri.EscapeDataString(request.To.ToString())}"
                : $"&{DeltaApi.ToTag}={Uri.EscapeDataString(request.To.ToString())}")
            + string.Concat(request.AcceptedAlgorithms.Select(a => $"&{DeltaApi.AcceptedAlgorithm}={Uri.EscapeDataString(a)}"))
            + (request.Platform is { } platform ? $"&{DeltaApi.Platform}={Uri.EscapeDataString(Platforms.Format(platform))}" : "");
        using var message = new HttpRequestMessage(HttpMethod.Get, new Uri(_server, DeltaApi.Path.TrimStart('/') + "?" + query));
        message.Headers.Authorization = request.Authorization;
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Accepted)
        {
            var json = await response.Content.ReadBoundedAsync(MaxAnswerBytes, $"the delta server's answer to GET {DeltaApi.Path}", ct).ConfigureAwait(false);
            var body = (json.Length == 0 ? null : JsonSerializer.Deserialize(json, ApiJsonContext.Default.DeltaResponse))
                ?? throw new InvalidDataException("the delta server sent an empty answer");
            var retryAfter = RetryAfterHeader.WaitOf(response.Headers, DateTimeOffset.UtcNow);
            return new DeltaPoll(body, response.StatusCode == HttpStatusCode.Accepted ? retryAfter : null);
        }
        throw await ProblemAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary>Asks until the delta is ready (or up to date), waiting with exponential, jittered backoff in between (Go: <c>ReadDelta</c>).</summary>
    public async Task<DeltaResponse> ReadDeltaAsync(DeltaRequest request, CancellationToken ct = default)
    {
        var pipeline = Backoff.CreatePipeline<DeltaPoll>(
            retryResult: poll => poll.IsPending,
            retryAfter: poll => poll.RetryAfter,
            retryException: Transience.IsTransient);
        var last = await pipeline.ExecuteAsync(async token => await PollDeltaAsync(request, token).ConfigureAwait(false), ct).ConfigureAwait(false);
        if (last.IsPending)
            throw new TimeoutException($"the delta from {request.From} to {request.To} was still being computed after {Backoff.MaxAttempts} attempts");
        return last.Response;
    }

    /// <summary>
    /// Asks until the delta is ready (or up to date) for at most <paramref name="within"/>, not a count of attempts,
    /// with the same backoff; then <see cref="TimeoutException"/>. Only "pending" is asked again here: failures go
    /// to the caller, whose retries they are (one layer of retry).
    /// </summary>
    public async Task<DeltaResponse> WaitForDeltaAsync(DeltaRequest request, TimeSpan within, CancellationToken ct = default)
    {
        var pipeline = (Backoff with { MaxAttempts = int.MaxValue }).CreatePipeline<DeltaPoll>(
            retryResult: poll => poll.IsPending, retryAfter: poll => poll.RetryAfter, retryException: _ => false, timeout: within);
        try
        {
            return (await pipeline.ExecuteAsync(async token => await PollDeltaAsync(request, token).ConfigureAwait(false), ct).ConfigureAwait(false)).Response;
        }
        catch (Polly.Timeout.TimeoutRejectedException e)
        {
            throw new TimeoutException($"the delta from {request.From} to {request.To} was not ready within {Updates.Format.Duration(within)}", e);
        }
    }

    /// <summary>Waits for the delta, then opens its bytes: null when the device is already up to date (Go: <c>ReadDeltaAsStream</c>).</summary>
    public async Task<DeltaDownload?> ReadDeltaAsStreamAsync(DeltaRequest request, CancellationToken ct = default)
    {
        var response = await ReadDeltaAsync(request, ct).ConfigureAwait(false);
        return response.Status == DeltaStatus.UpToDate ? null : await OpenDeltaAsync(response, ct: ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens the bytes of a ready delta, verified against its digest as they are read: from
    /// <paramref name="source"/> (e.g. the registry the delta is stored in), or from the server's /v2 API.
    /// </summary>
    public async Task<DeltaDownload> OpenDeltaAsync(DeltaResponse response, IReadOnlyOciRepository? source = null, CancellationToken ct = default)
    {
        var (repository, layer) = await ResolveDeltaLayerAsync(response, source, ct).ConfigureAwait(false);
        return new DeltaDownload(response, layer, await repository.FetchAsync(layer, ct).ConfigureAwait(false));
    }

    /// <summary>
    /// Sends the Octodiff signature of the file the device has and writes the raw Octodiff delta from it to the
    /// target into <paramref name="delta"/>, refusing (<see cref="InvalidDataException"/>) a delta over
    /// <paramref name="maxBytes"/> (see <see cref="SignatureDeltaBound"/>). Returns the target image by digest
    /// and the bytes received.
    /// </summary>
    public async Task<(string ToImage, long Bytes)> ReadDeltaFromSignatureAsync(Reference to, Stream signature, Stream delta, long maxBytes,
        AuthenticationHeaderValue? authorization = null, CancellationToken ct = default)
    {
        var query = to.Digest is not null
            ? $"{DeltaApi.ToDigest}={Uri.EscapeDataString(to.ToString())}"
            : $"{DeltaApi.ToTag}={Uri.EscapeDataString(to.ToString())}";
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(_server, DeltaApi.SignaturePath.TrimStart('/') + "?" + query))
        {
            Content = new StreamContent(signature),
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        message.Headers.Authorization = authorization;
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK) throw await ProblemAsync(response, ct).ConfigureAwait(false);
        var toImage = response.Headers.TryGetValues(DeltaApi.ToImageHeader, out var values) ? values.First()
            : throw new InvalidDataException($"the signature delta answer has no {DeltaApi.ToImageHeader} header");
        await using var body = await HttpBody.OpenAsync(response.Content, $"the signature delta to {to}", maxBytes, ct).ConfigureAwait(false);
        await body.CopyToAsync(delta, ct).ConfigureAwait(false);
        return (toImage, body.BytesRead);
    }

    /// <summary>
    /// The most a raw Octodiff delta to content of <paramref name="targetContentSize"/> bytes may be: its
    /// literal data plus commands cannot sensibly exceed twice the content (and a little), nor the device's
    /// limit on any download.
    /// </summary>
    public static long SignatureDeltaBound(long targetContentSize, long maxArtifactBytes) =>
        Math.Min(maxArtifactBytes, 2 * targetContentSize + (64 << 10));

    /// <summary>
    /// The layer (descriptor) of a ready delta, and the repository to fetch it from: as the answer carries it
    /// (<c>delta_layer</c>, no request), else from the delta's manifest. Either way the download is verified against it.
    /// </summary>
    public async Task<(IReadOnlyOciRepository Repository, Descriptor Layer)> ResolveDeltaLayerAsync(DeltaResponse response, IReadOnlyOciRepository? source = null, CancellationToken ct = default)
    {
        var deltaImage = Reference.Parse(response.DeltaImage ?? throw new InvalidDataException("a ready delta answer has no delta_image"));
        var repository = source ?? Repository(deltaImage.Repository);
        if (response.DeltaLayer is { } given)
        {
            if (!Digest.TryParse(given.Digest, out var digest) || given.Size < 0 || string.IsNullOrEmpty(given.MediaType))
                throw new InvalidDataException($"the delta answer's delta_layer is not a valid descriptor (digest '{given.Digest}', size {given.Size})");
            return (repository, new Descriptor { MediaType = given.MediaType, Digest = digest, Size = given.Size, Annotations = given.Annotations });
        }
        var descriptor = await repository.ResolveAsync(deltaImage.Identifier, ct).ConfigureAwait(false);
        var manifest = await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        if (manifest.Layers.Count != 1)
            throw new InvalidDataException($"delta {deltaImage} has {manifest.Layers.Count} layers, expected 1");
        return (repository, manifest.Layers[0]);
    }

    private static async Task<DeltaServerException> ProblemAsync(HttpResponseMessage response, CancellationToken ct)
    {
        string? type = null, title = response.ReasonPhrase ?? "error", detail = "";
        try
        {
            using var doc = JsonDocument.Parse(await response.Content.ReadBoundedAsync(MaxAnswerBytes, $"the delta server's error {(int)response.StatusCode}", ct).ConfigureAwait(false));
            if (doc.RootElement.TryGetProperty("type", out var t)) type = t.GetString();
            if (doc.RootElement.TryGetProperty("title", out var ti)) title = ti.GetString() ?? title;
            if (doc.RootElement.TryGetProperty("detail", out var d)) detail = d.GetString() ?? "";
        }
        catch (JsonException) { detail = "(the server's error was not problem+json)"; }
        catch (InvalidDataException) { detail = $"(the server's error was longer than {MaxAnswerBytes} bytes; not read)"; }
        return new DeltaServerException(response.StatusCode, type, title, detail);
    }
}
