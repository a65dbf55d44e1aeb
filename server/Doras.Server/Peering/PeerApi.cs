using System.Text.Json;
using System.Text.Json.Serialization;

namespace Doras.Server.Peering;

/// <summary>The peer API's paths and JSON (snake_case), shared by its endpoints and our client of other peers.</summary>
public static class PeerApi
{
    public const string Prefix = "/peer/v1";
    public const string Token = "token";
    public const string Subleases = "subleases";
    public const string Replicas = "replicas";
    public const string Configuration = "configuration";
    public const string Sync = "sync";
    public const string Delta = "delta";
    public const string DelegatedManifest = "pull-delegation/manifest";
    public const string DelegatedBlob = "pull-delegation/blob";

    /// <summary>Largest JSON body the peer API reads or its client accepts.</summary>
    public const int MaxJsonBytes = 4 << 20;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Query(string repository) => "?repository=" + Uri.EscapeDataString(repository);
}

public sealed record TokenAnswer(string Token, int ExpiresIn);

public sealed record SubleaseAnswer(string Repository, string Token, DateTimeOffset ExpiresAt);

public sealed record ReplicaRequest(string? Sublease);

/// <summary>The settings a repository is served with on its primary, which its replicas take over.</summary>
public sealed record RepositoryConfiguration
{
    public required string Repository { get; init; }
    public required IReadOnlyList<string> Algorithms { get; init; }
    public required int ZstdLevel { get; init; }
    public required double AutoMaxRatio { get; init; }
    public required long BsdiffMaxInputBytes { get; init; }
    public required int FailureRetentionSeconds { get; init; }
    public required long MaxSignatureBytes { get; init; }
}

/// <summary>A replica's tags (tag → manifest digest), sent to its primary.</summary>
public sealed record SyncRequest(IReadOnlyDictionary<string, string> Tags);

/// <summary>
/// The primary's answer: the tags the replica lacks or holds at another digest (tag → digest on the primary),
/// the replica's tags the primary no longer has, and how many agreed.
/// </summary>
public sealed record SyncAnswer(IReadOnlyDictionary<string, string> Changed, IReadOnlyList<string> Deleted, int Unchanged);

/// <summary>A pull a peer does for us: the upstream image (<c>host/repo:tag</c> or <c>@digest</c>) and our credentials there.</summary>
public sealed record DelegatedPullRequest(string Image, string? User, string? Password);
