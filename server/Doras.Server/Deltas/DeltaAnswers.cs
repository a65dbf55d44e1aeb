using System.Globalization;
using Doras.Oci.Model;
using Doras.Server.Access;

namespace Doras.Server.Deltas;

/// <summary>
/// The delta endpoint's front: answers a ready delta from memory when <see cref="ReadyAnswers"/> still holds it for
/// this caller, otherwise asks <see cref="DeltaService"/> (and remembers a ready answer); counts every request and
/// answer for the metrics.
/// </summary>
public sealed class DeltaAnswers(DeltaService deltas, ReadyAnswers answers, ClientAccess access, DeltaUsage usage, DeltaMetrics metrics)
{
    public async Task<DeltaOutcome> RequestAsync(Caller caller, DeltaQuery query, CancellationToken ct)
    {
        metrics.DeltaRequests.Inc();
        var key = KeyOf(query);
        // A platform picked from an index is resolved anew each time: revalidating by the tag would compare the
        // index's digest with the platform manifest's, and the key would have to carry the platform.
        var cacheable = key is not null && query.Platform is null;
        DeltaOutcome outcome;
        if (cacheable && await answers.TryAnswerAsync(caller, key!, ct).ConfigureAwait(false) is { } remembered)
        {
            outcome = remembered;
        }
        else
        {
            var stamp = key is null ? null : answers.Stamp(key.Repository);
            outcome = await deltas.RequestAsync(caller, query, ct).ConfigureAwait(false);
            if (cacheable && outcome is DeltaOutcome.Ready ready) answers.Remember(key!, ready, stamp);
        }
        Count(outcome);
        if (key is not null && outcome is DeltaOutcome.Ready { Response.DeltaImage: { } deltaImage }
            && Digest.TryParse(deltaImage[(deltaImage.LastIndexOf('@') + 1)..], out var deltaManifest))
            usage.Record(key.Repository, deltaManifest);
        return outcome;
    }

    /// <summary>The request's key, or null when it is malformed (then <see cref="DeltaService"/> says why).</summary>
    private AnswerKey? KeyOf(DeltaQuery query)
    {
        if (query.FromDigest is null || (query.ToDigest ?? query.ToTag) is not { } toText || (query.ToDigest is null) == (query.ToTag is null)) return null;
        var (from, badFrom) = access.ParseImage(query.FromDigest, Api.DeltaApi.FromDigest);
        var (to, badTo) = access.ParseImage(toText, Api.DeltaApi.ToTag);
        if (badFrom is not null || badTo is not null || from!.Digest is not { } fromDigest || from.Name != to!.Name) return null;
        if (query.ToDigest is not null ? to.Digest is null || to.Tag is not null : to.Tag is null || to.Digest is not null) return null;
        return new AnswerKey(from.Repository, fromDigest, to.Identifier, string.Join(',', query.AcceptedAlgorithms));
    }

    private void Count(DeltaOutcome outcome)
    {
        var status = outcome switch
        {
            DeltaOutcome.Ready => "ready",
            DeltaOutcome.UpToDate => "up_to_date",
            DeltaOutcome.Pending => "pending",
            DeltaOutcome.Problem p => p.Details.Status.ToString(CultureInfo.InvariantCulture),
            _ => "other",
        };
        metrics.DeltaAnswers.WithLabels(status).Inc();
        if (outcome is DeltaOutcome.Ready { Response: { FullSize: { } full, DeltaSize: { } delta } } && full > delta)
            metrics.BytesSaved.Inc(full - delta);
    }
}
