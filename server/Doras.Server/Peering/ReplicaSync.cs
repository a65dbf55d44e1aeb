using System.Net;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>What one sync of one replica did.</summary>
public sealed record SyncReport(string Repository, string Peer)
{
    /// <summary><c>synced</c>, <c>checked-deletions</c> (the primary said 404 for the whole repository), or <c>failed</c>.</summary>
    public string Outcome { get; init; } = "synced";
    public List<string> Added { get; init; } = [];
    public List<string> Moved { get; init; } = [];
    public List<string> Deleted { get; init; } = [];
    public int Unchanged { get; init; }
    /// <summary>Referrers (signatures, SBOMs… whose subject is a version added or moved) copied, or found already here.</summary>
    public int Attached { get; init; }
    public string? Error { get; init; }
}

/// <summary>
/// Brings one replica up to its primary: sends our tags (tag → digest), gets back what differs, deletes the tags
/// the primary no longer has, then copies the manifests and blobs we lack (versions and deltas alike, each
/// verified against its digest, blobs we hold skipped) from the primary's peer API and moves the tags. A version's
/// signatures travel with it: cosign's tags (<c>sha256-&lt;hex&gt;.sig</c>) are tags like any other, and its referrers
/// (manifests whose subject it or one of its platform manifests is, which need no tag) are copied before its tag.
/// A referrers fallback index (<c>sha256-&lt;hex&gt;</c>) this registry keeps for referrers it was given is its own: not
/// deleted because the primary, which may list referrers another way, has no such tag.
/// A 404 for the whole repository only means "maybe deleted": every tag is then asked about on its own, and only
/// the tags the primary answers 404 for are deleted. Any other failure (the primary down, 5xx, a timeout)
/// deletes nothing.
/// </summary>
public sealed class ReplicaSync(ArtifactStores stores, PeerClients peers, IOptionsMonitor<PeeringOptions> options, ILogger<ReplicaSync> logger)
{
    public async Task<SyncReport> SyncAsync(ReplicaRecord replica, CancellationToken ct)
    {
        var report = new SyncReport(replica.Repository, replica.Peer);
        try
        {
            report = await RunAsync(replica, report, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // Whatever a primary answers (a body that is not a sync answer, a tag gone between answer and copy) fails
            // this replica's sync, never the server: the periodic sync runs in the host.
            report = report with { Outcome = "failed", Error = e.Message };
        }
        if (report.Error is null)
            logger.LogInformation("Synced replica {Repository} from {Peer}: {Outcome}, {Added} added, {Moved} moved, {Deleted} deleted, {Unchanged} unchanged",
                report.Repository, report.Peer, report.Outcome, report.Added.Count, report.Moved.Count, report.Deleted.Count, report.Unchanged);
        else
            logger.LogWarning("Sync of replica {Repository} from {Peer} failed, nothing deleted: {Error}", report.Repository, report.Peer, report.Error);
        return report;
    }

    private async Task<SyncReport> RunAsync(ReplicaRecord replica, SyncReport report, CancellationToken ct)
    {
        var local = stores.Server.Repository(replica.Repository);
        var mine = await TagState.ReadAsync(local, options.CurrentValue.MaxSyncTags, ct, "Peering:MaxSyncTags").ConfigureAwait(false);
        var client = peers.For(replica.Peer, PeerScopes.Replicate);
        var primary = client.Repository(replica.Repository);
        SyncAnswer answer;
        try
        {
            answer = await client.SendAsync<SyncAnswer>(HttpMethod.Post, PeerApi.Sync + PeerApi.Query(replica.Repository),
                new SyncRequest(mine.ToDictionary(t => t.Key, t => t.Value.Digest.ToString())), ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.StatusCode == HttpStatusCode.NotFound && e is not PeerTokenException)
        {
            return await CheckDeletionsAsync(local, primary, mine, report, ct).ConfigureAwait(false);
        }

        if (answer.Deleted is null || answer.Changed is null)
            throw new InvalidDataException($"peer {replica.Peer} answered the sync of {replica.Repository} without its changed and deleted tags");
        var deleted = answer.Deleted.Where(t => mine.ContainsKey(t) && !AttachmentTags.IsReferrersTag(t)).ToList();
        await DeleteAsync(local, mine, deleted, ct).ConfigureAwait(false);
        var added = new List<string>();
        var moved = new List<string>();
        var attachedCount = 0;
        var done = new HashSet<Digest>();
        foreach (var (tag, digestText) in answer.Changed.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            Reference.ValidateTag(tag);
            var digest = Digest.Parse(digestText);
            // A version's referrers come with it (the server's own tags and the attachments' tags have none to bring).
            var attached = ReservedTags.IsReserved(tag) || AttachmentTags.IsAttachment(tag) || !done.Add(digest) ? null : new AttachedCopy
            {
                CosignTags = false, // tags: synced as every tag is
                Progress = new SyncProgress<(Descriptor Manifest, string Via, string Action)>(a =>
                {
                    if (a.Action == "limit")
                        logger.LogWarning("Sync of replica {Repository}: referrer {Digest} of {Tag} left behind, over the limit of referrers per version", replica.Repository, a.Manifest.Digest, tag);
                    else attachedCount++;
                }),
            };
            var copied = await GraphCopy.CopyAsync(primary, digest.ToString(), local, [tag], new CopyOptions { Attached = attached }, ct).ConfigureAwait(false);
            if (copied.Digest != digest) throw new DigestMismatchException($"the primary named {digest} for {replica.Repository}:{tag} but served {copied.Digest}");
            (mine.ContainsKey(tag) ? moved : added).Add(tag);
        }
        // Referrers attached later to a version the replica already has (a Notation signature or an SBOM added after
        // the release) come too: one listing per version, and only referrers the replica lacks are copied.
        foreach (var (tag, descriptor) in mine.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            if (deleted.Contains(tag) || answer.Changed.ContainsKey(tag) || ReservedTags.IsReserved(tag) || AttachmentTags.IsAttachment(tag) || !done.Add(descriptor.Digest)) continue;
            attachedCount += await CopyLateReferrersAsync(primary, local, descriptor.Digest, ct).ConfigureAwait(false);
        }
        return report with { Added = added, Moved = moved, Deleted = deleted, Unchanged = answer.Unchanged, Attached = attachedCount };
    }

    /// <summary>Most referrers looked at per version and sync, as a copy brings at most with a version.</summary>
    private const int MaxLateReferrers = 500;

    private static async Task<int> CopyLateReferrersAsync(RemoteRepository primary, IOciRepository local, Digest version, CancellationToken ct)
    {
        var copied = 0;
        foreach (var referrer in (await primary.ReferrersAsync(version, ct: ct, limit: MaxLateReferrers).ConfigureAwait(false)).Take(MaxLateReferrers))
        {
            if (await local.ExistsAsync(referrer, ct).ConfigureAwait(false)) continue;
            // Its own referrers (a countersignature) with it; tags are synced as every tag is.
            await GraphCopy.CopyAsync(primary, referrer.Digest.ToString(), local, [], new CopyOptions { Attached = new AttachedCopy { CosignTags = false } }, ct).ConfigureAwait(false);
            copied++;
        }
        return copied;
    }

    /// <summary>The primary said 404 for the whole repository: ask for each tag, and delete only those it really lost.</summary>
    private async Task<SyncReport> CheckDeletionsAsync(IOciRepository local, RemoteRepository primary, Dictionary<string, Descriptor> mine, SyncReport report, CancellationToken ct)
    {
        // A 404 from something in front of the primary (an ingress's default backend while it redeploys) is not the
        // primary's word: its peer API must answer as a v2 registry before any 404 of a tag counts.
        using (var probe = await peers.For(report.Peer, PeerScopes.Replicate).SendRawAsync(HttpMethod.Get, "v2/", null, ct).ConfigureAwait(false))
            if (!probe.IsSuccessStatusCode || !probe.Headers.TryGetValues(RegistryClient.ApiVersionHeader, out var versions) || !versions.Any(v => v.StartsWith("registry/2.", StringComparison.Ordinal)))
                throw new HttpRequestException($"peer {report.Peer} answered 404 for {report.Repository}, but its API did not answer as a registry (GET v2/: {(int)probe.StatusCode}); nothing deleted");
        var gone = new List<string>();
        foreach (var tag in mine.Keys.Where(t => !AttachmentTags.IsReferrersTag(t)).Order(StringComparer.Ordinal))
            if (await primary.StatManifestAsync(tag, ct).ConfigureAwait(false) is null) gone.Add(tag); // any error ends the check, deleting nothing
        await DeleteAsync(local, mine, gone, ct).ConfigureAwait(false);
        return report with { Outcome = "checked-deletions", Deleted = gone, Unchanged = mine.Count - gone.Count };
    }

    private static async Task DeleteAsync(IOciRepository local, Dictionary<string, Descriptor> mine, IReadOnlyCollection<string> tags, CancellationToken ct)
    {
        var remaining = new Dictionary<string, Descriptor>(mine, StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var manifest = remaining[tag];
            remaining.Remove(tag);
            var keep = remaining.Where(t => t.Value.Digest == manifest.Digest).Select(t => t.Key).ToList();
            await TagRemoval.UntagAsync(local, tag, manifest, keep, ct).ConfigureAwait(false);
        }
    }
}
