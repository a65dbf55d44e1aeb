using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Doras.Api;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Access;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// Sublease tokens: the primary of a repository issues one, and a replica of it can be created on another server
/// only with one; each works once and expires (<c>Peering:SubleaseLifetime</c>). They live in our own store
/// (<see cref="PeeringState"/>, tag <c>sublease-&lt;sha256 of the token&gt;</c>, so the store never holds a usable
/// token), so every instance sharing the store agrees on them. Using one is atomic on this instance (one use at a
/// time: of two concurrent redemptions exactly one wins), and between instances decided by the store: in a layout
/// store under a file lock; in a registry by deleting the token's manifest, which only one of two uses finds
/// (a registry that lets two simultaneous deletes of one manifest both succeed leaves a window of milliseconds).
/// </summary>
public sealed class Subleases(ArtifactStores stores, PeeringState peeringState, ReplicaRecords replicas, SubleaseQuota quota, IOptionsMonitor<PeeringOptions> options,
    TimeProvider time, ILogger<Subleases> logger)
{
    private const string RepositoryKey = "dev.doras.sublease.repository";
    private const string ExpiresKey = "dev.doras.sublease.expires";
    private const string StateKey = "dev.doras.sublease.state";
    private const string IssuedToKey = "dev.doras.sublease.issued-to";
    private const string Issued = "issued";
    private const string Used = "used";
    private readonly SemaphoreSlim _use = new(1, 1);

    /// <summary>A new sublease token for a repository this server is the primary of, or why not.</summary>
    /// <param name="peer">The peer asking through the peer API (its unused tokens are bounded); null for the operator.</param>
    public async Task<(SubleaseAnswer? Sublease, ApiProblem? Problem)> IssueAsync(string repository, string? peer, CancellationToken ct)
    {
        if (!Reference.IsValidRepository(repository)) return (null, PeerProblems.Invalid($"'{repository}' is not a valid repository name"));
        if (await replicas.FindAsync(repository, ct).ConfigureAwait(false) is { } replica)
            return (null, PeerProblems.NotPrimary(repository, replica.Peer, "only its primary issues sublease tokens"));
        var hasTags = false;
        await foreach (var _ in stores.Server.Repository(repository).ListTagsAsync(ct).ConfigureAwait(false)) { hasTags = true; break; }
        if (!hasTags) return (null, ApiProblem.NotFound($"this server holds no repository {repository}"));

        await SweepExpiredAsync(ct).ConfigureAwait(false);
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var expires = time.GetUtcNow() + options.CurrentValue.SubleaseLifetime;
        var max = options.CurrentValue.MaxOutstandingSubleases;
        if (peer is not null && !quota.TryTake(peer, TagOf(token), expires, max))
            return (null, PeerProblems.SubleaseRefused("Too many sublease tokens",
                $"peer '{peer}' holds {max} unused sublease tokens (Peering:MaxOutstandingSubleases); redeem one or let it expire first"));
        try { await WriteAsync(TagOf(token), repository, expires, Issued, peer, ct).ConfigureAwait(false); }
        catch
        {
            quota.Redeemed(TagOf(token)); // never issued: it holds no place
            throw;
        }
        logger.LogInformation("Issued a sublease token for {Repository}, valid until {Expires:O}", repository, expires);
        return (new SubleaseAnswer(repository, token, expires), null);
    }

    /// <summary>
    /// Uses up a sublease token for <paramref name="repository"/>: null when it was valid, otherwise why it is refused.
    /// A token a peer asked for through the peer API is that peer's alone; one the operator issued goes to whichever
    /// trusted peer it was handed to.
    /// </summary>
    public async Task<ApiProblem?> ConsumeAsync(string repository, string? token, string redeemer, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(token))
            return Refused("Sublease token required", $"creating a replica of {repository} needs a sublease token from its primary (doras-server sublease {repository})");
        if (token.Length > 128) return Unknown(repository);
        await _use.WaitAsync(ct).ConfigureAwait(false);
        try { return await UseAsync(repository, TagOf(token), redeemer, ct).ConfigureAwait(false); }
        finally { _use.Release(); }
    }

    private async Task<ApiProblem?> UseAsync(string repository, string tag, string redeemer, CancellationToken ct)
    {
        var state = peeringState.Repository;
        // Where the store has a lock every process honours (a layout), it decides; otherwise the store's delete does, below.
        using var storeLock = state is IRepositoryLock lockable
            ? await lockable.LockAsync("sublease", TimeSpan.FromSeconds(30), ct).ConfigureAwait(false)
            : null;
        if (await state.TryResolveAsync(tag, ct).ConfigureAwait(false) is not { } descriptor) return Unknown(repository);
        var manifest = await state.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
        if (manifest.Annotation(RepositoryKey) != repository) return Unknown(repository);
        if (manifest.Annotation(IssuedToKey) is { } owner && owner != redeemer) return Unknown(repository); // as if unknown: says nothing of whose it is
        if (manifest.Annotation(StateKey) == Used)
            return Refused("Sublease token already used", $"this sublease token for {repository} has been used to create a replica already; ask the primary for a new one");
        var expires = ExpiryOf(manifest);
        if (time.GetUtcNow() >= expires)
            return Refused("Sublease token expired", $"this sublease token for {repository} expired at {expires:O}; ask the primary for a new one");

        if (storeLock is null && state is IManifestDeleter deleter)
        {
            // The registry decides which of two concurrent uses wins: only one delete finds the manifest.
            try { await deleter.DeleteManifestAsync(descriptor.Digest, ct).ConfigureAwait(false); }
            catch (NotFoundException)
            {
                return Refused("Sublease token already used", $"this sublease token for {repository} has been used to create a replica already; ask the primary for a new one");
            }
        }
        await WriteAsync(tag, repository, expires, Used, manifest.Annotation(IssuedToKey), ct).ConfigureAwait(false);
        quota.Redeemed(tag);
        logger.LogInformation("A sublease token for {Repository} was used", repository);
        return null;
    }

    /// <summary>
    /// Removes the records of tokens past their expiry (used or not: either way they can only be refused now), so the
    /// state repository holds at most the tokens of one lifetime. Best effort: a failure leaves them for the next issue.
    /// </summary>
    private async Task SweepExpiredAsync(CancellationToken ct)
    {
        var state = peeringState.Repository;
        var now = time.GetUtcNow();
        try
        {
            var tags = new List<string>();
            await foreach (var tag in state.ListTagsAsync(ct).ConfigureAwait(false))
                if (tag.StartsWith(TagPrefix, StringComparison.Ordinal)) tags.Add(tag);
            foreach (var tag in tags)
            {
                if (await state.TryResolveAsync(tag, ct).ConfigureAwait(false) is not { } descriptor) continue;
                var manifest = await state.FetchManifestAsync(descriptor, ct).ConfigureAwait(false);
                if (ExpiryOf(manifest) < now) await peeringState.RemoveAsync(tag, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Could not sweep expired sublease records; trying again at the next issue");
        }
    }

    private static DateTimeOffset ExpiryOf(ImageManifest manifest) =>
        DateTimeOffset.Parse(manifest.Annotation(ExpiresKey) ?? "0001-01-01T00:00:00Z", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private Task WriteAsync(string tag, string repository, DateTimeOffset expires, string stateValue, string? issuedTo, CancellationToken ct)
    {
        var record = new Dictionary<string, string>
        {
            [RepositoryKey] = repository,
            [ExpiresKey] = expires.ToString("O", CultureInfo.InvariantCulture),
            [StateKey] = stateValue,
        };
        if (issuedTo is not null) record[IssuedToKey] = issuedTo;
        return peeringState.WriteAsync(tag, "application/vnd.doras.peering.sublease.v1", record, ct);
    }

    private const string TagPrefix = "sublease-";

    private static string TagOf(string token) => PeeringState.TagOf("sublease", token);

    private static ApiProblem Unknown(string repository) =>
        Refused("Sublease token unknown", $"this server issued no such sublease token for {repository}");

    private static ApiProblem Refused(string title, string detail) => PeerProblems.SubleaseRefused(title, detail);
}
