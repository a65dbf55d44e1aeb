using System.Text.Json.Serialization;

namespace Doras.Api;

/// <summary>The delta endpoint: <c>GET /api/v1/delta</c> and its query parameters.</summary>
public static class DeltaApi
{
    public const string Path = "/api/v1/delta";
    public const string FromDigest = "from_digest";
    public const string ToDigest = "to_digest";
    public const string ToTag = "to_tag";
    public const string AcceptedAlgorithm = "accepted_algorithm";
    /// <summary>
    /// <c>os/arch[/variant]</c>: when the to image is a multi-platform index, the delta is to this platform's manifest
    /// (deltas are between platform manifests).
    /// </summary>
    public const string Platform = "platform";

    /// <summary>
    /// <c>POST</c> an Octodiff signature of the file a device has (any content: unknown or locally changed) with
    /// <c>to_digest</c> or <c>to_tag</c>; the answer is a raw Octodiff delta from that file to the target's content.
    /// </summary>
    public const string SignaturePath = "/api/v1/delta/from-signature";
    public const string OctodiffMediaType = "application/vnd.doras.delta.octodiff";
    /// <summary>Response header: the target image by digest.</summary>
    public const string ToImageHeader = "Doras-To-Image";
}

/// <summary>What the delta endpoint says in <see cref="DeltaResponse.Status"/>.</summary>
public static class DeltaStatus
{
    /// <summary>200: the delta is stored at <see cref="DeltaResponse.DeltaImage"/>.</summary>
    public const string Ready = "ready";
    /// <summary>202: being computed; ask again after Retry-After.</summary>
    public const string Pending = "pending";
    /// <summary>200: from and to are the same image; nothing to download.</summary>
    public const string UpToDate = "up_to_date";
}

/// <summary>The body of a 200 or 202 answer from the delta endpoint.</summary>
public sealed record DeltaResponse
{
    [JsonPropertyName("status")] public required string Status { get; init; }

    /// <summary>The target image by digest: <c>repo@sha256:…</c> (resolved from to_tag when one was given).</summary>
    [JsonPropertyName("to_image")] public required string ToImage { get; init; }

    /// <summary>The delta artifact by digest; present when ready.</summary>
    [JsonPropertyName("delta_image"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DeltaImage { get; init; }

    [JsonPropertyName("algorithm"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Algorithm { get; init; }

    /// <summary>Size of the delta layer in bytes; present when ready.</summary>
    [JsonPropertyName("delta_size"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? DeltaSize { get; init; }

    /// <summary>Size of the target's full layer in bytes, for comparison.</summary>
    [JsonPropertyName("full_size"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? FullSize { get; init; }

    /// <summary>
    /// The delta manifest's one layer (an OCI descriptor), present when ready: the client downloads it (verified against
    /// this digest and size) without fetching the delta manifest first. Older servers do not send it; then fetch
    /// <see cref="DeltaImage"/>'s manifest.
    /// </summary>
    [JsonPropertyName("delta_layer"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DeltaLayer? DeltaLayer { get; init; }
}

/// <summary>An OCI descriptor of a delta's layer, as the delta endpoint sends it (the OCI spec's field names).</summary>
public sealed record DeltaLayer
{
    [JsonPropertyName("mediaType")] public required string MediaType { get; init; }
    [JsonPropertyName("digest")] public required string Digest { get; init; }
    [JsonPropertyName("size")] public required long Size { get; init; }

    [JsonPropertyName("annotations"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }
}

/// <summary>The "type" URIs of the RFC 9457 problem details the server returns.</summary>
public static class ProblemTypes
{
    private const string Base = "https://doras.dev/problems/";
    public const string InvalidRequest = Base + "invalid-request";
    public const string NotFound = Base + "not-found";
    public const string NotAcceptable = Base + "not-acceptable";
    public const string DeltaFailed = Base + "delta-failed";
    /// <summary>With <c>auto</c>: no delta is meaningfully smaller than the full download; download that instead.</summary>
    public const string DeltaNotWorthwhile = Base + "delta-not-worthwhile";
    public const string Unauthorized = Base + "unauthorized";
    public const string Internal = Base + "internal";
    /// <summary>503: every build slot is taken; ask again after Retry-After.</summary>
    public const string Busy = Base + "busy";
    /// <summary>503 from <c>/readyz</c>: a check failed (the store is not writable, the registry is not reachable).</summary>
    public const string NotReady = Base + "not-ready";

    /// <summary>Which problem types each status carries, for the API description.</summary>
    public static readonly IReadOnlyDictionary<int, string[]> ByStatus = new Dictionary<int, string[]>
    {
        [400] = [InvalidRequest],
        [401] = [Unauthorized],
        [403] = [Unauthorized],
        [404] = [NotFound],
        [406] = [NotAcceptable, DeltaNotWorthwhile],
        [408] = [InvalidRequest],
        [413] = [InvalidRequest],
        [415] = [InvalidRequest],
        [500] = [DeltaFailed, Internal],
        [503] = [Busy, NotReady],
    };
}

/// <summary>Source-generated (trim-safe) JSON for the contract types.</summary>
[JsonSerializable(typeof(DeltaResponse))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
