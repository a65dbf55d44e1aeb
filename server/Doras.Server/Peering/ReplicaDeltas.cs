using System.Net;
using System.Text.Json;
using Doras.Api;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Deltas;

namespace Doras.Server.Peering;

/// <summary>
/// A delta a replica lacks is never built at the replica: the primary is asked for it (its peer delta API), and
/// while the primary builds it devices here get 202 with the primary's Retry-After; once the primary has it, the
/// delta artifact is copied into our store (verified) under its tag and served from here. Null for a repository
/// this server is the primary of. Devices asking at once for the same delta share one request to the primary (and
/// one copy): at most <see cref="MaxInFlight"/> deltas are asked for at a time, past that devices are told to come back.
/// </summary>
public sealed class ReplicaDeltas(ReplicaRecords replicas, PeerClients peers, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<ReplicaDeltas> logger) : IPrimaryDeltas
{
    public const int MaxInFlight = 64;

    /// <summary>The requests to the primary (and copies) in flight, one per delta.</summary>
    public SingleFlight<DeltaKey, BuildState> InFlight { get; } = new(MaxInFlight);

    public async Task<BuildState?> FromPrimaryAsync(DeltaKey key, IOciRepository local, IReadOnlyList<string> accepted, CancellationToken ct)
    {
        // Without peers nothing here can be a replica: the peering state is not even read (the server's
        // credentials need not reach its repository for deltas to be built).
        if (peers.Configured.Count == 0) return null;
        if (await replicas.FindAsync(key.Repository, ct).ConfigureAwait(false) is not { } replica) return null;
        // The shared request is not ended by one device hanging up, only by the server stopping (each peer call is bounded by its timeout).
        var shared = InFlight.Join(key, () => AskPrimaryAsync(replica, key, local, accepted, lifetime.ApplicationStopping));
        if (shared is null) return new BuildState.Busy(TimeSpan.FromSeconds(2), MaxInFlight);
        return await shared.WaitAsync(ct).ConfigureAwait(false);
    }

    private async Task<BuildState> AskPrimaryAsync(ReplicaRecord replica, DeltaKey key, IOciRepository local, IReadOnlyList<string> accepted, CancellationToken ct)
    {
        var query = $"{PeerApi.Delta}?{DeltaApi.FromDigest}={Uri.EscapeDataString($"{key.Repository}@{key.From}")}"
            + $"&{DeltaApi.ToDigest}={Uri.EscapeDataString($"{key.Repository}@{key.To}")}"
            + string.Concat(accepted.Select(a => $"&{DeltaApi.AcceptedAlgorithm}={Uri.EscapeDataString(a)}"));
        try
        {
            var client = peers.For(replica.Peer, PeerScopes.Replicate);
            using var response = await client.SendRawAsync(HttpMethod.Get, query, null, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                var wait = RetryAfterHeader.WaitOf(response.Headers, time.GetUtcNow()) ?? TimeSpan.FromSeconds(2);
                return new BuildState.Running(time.GetUtcNow(), time.GetUtcNow() + wait);
            }
            if (!response.IsSuccessStatusCode)
            {
                var refusal = await PeerClient.FailureAsync(replica.Peer, response, "did not give the delta", ct).ConfigureAwait(false);
                return new BuildState.Failed(refusal.Message, time.GetUtcNow(), response.StatusCode == HttpStatusCode.NotAcceptable, Failures: 0);
            }
            var bytes = await response.Content.ReadBoundedAsync(PeerApi.MaxJsonBytes, $"delta answer of peer {replica.Peer}", ct).ConfigureAwait(false);
            var answer = Parse(bytes) ?? throw new InvalidDataException($"peer {replica.Peer} answered the delta request with null");
            if (answer.Status != DeltaStatus.Ready || answer.DeltaImage is null || !Digest.TryParse(answer.DeltaImage[(answer.DeltaImage.LastIndexOf('@') + 1)..], out var delta))
                return new BuildState.Failed($"the primary answered '{answer.Status}' without a delta", time.GetUtcNow(), true, Failures: 0);
            var copied = await GraphCopy.CopyAsync(client.Repository(key.Repository), delta.ToString(), local, [key.Tag], ct: ct).ConfigureAwait(false);
            logger.LogInformation("Copied delta {Key} from the primary {Peer}", key, replica.Peer);
            return new BuildState.Succeeded(copied);
        }
        // Also our store's I/O during the copy (unclassified IOException, kind Internal): a failed delta, as it always was.
        catch (Exception e) when (PeerFailures.IsPeers(e, ct) || e is IOException)
        {
            logger.LogWarning("Could not ask the primary {Peer} for delta {Key}: {Error}", replica.Peer, key, e.Message);
            return new BuildState.Failed($"the primary of this replica could not be asked for the delta ({e.Message})", time.GetUtcNow(), false, Failures: 0);
        }
    }

    /// <summary>The primary's answer; JSON that does not parse is content that cannot be used (Verification), as a bounded read past its bound is.</summary>
    private static DeltaResponse? Parse(byte[] bytes)
    {
        try { return JsonSerializer.Deserialize<DeltaResponse>(bytes); }
        catch (JsonException e) { throw new InvalidDataException(e.Message, e); }
    }
}
