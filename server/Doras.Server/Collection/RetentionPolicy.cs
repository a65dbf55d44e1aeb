using System.Globalization;
using Doras.Delta.Vocabulary;
using Doras.Oci.Model;
using Doras.Server.Deltas;

namespace Doras.Server.Collection;

/// <summary>What a delta tag holds, as garbage collection sees it.</summary>
/// <param name="Failures">On a "failed" placeholder: how many builds failed in a row (<see cref="DeltaRecords.FailuresOf"/>).</param>
public sealed record DeltaEntry(string Tag, Digest Manifest, string? Placeholder, DateTimeOffset Created, Digest? From, Digest? To, int Failures = 1)
{
    public static DeltaEntry Of(string tag, Digest digest, ImageManifest manifest)
    {
        var created = DateTimeOffset.TryParse(manifest.Annotation(Annotations.Created), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var c)
            ? c : DateTimeOffset.MinValue;
        var placeholder = manifest.Annotation(DorasAnnotations.DeltaPlaceholder)
            ?? (manifest.Annotation(DorasAnnotations.GoDeltaDummy) == "true" ? "building" : null);
        return new DeltaEntry(tag, digest, placeholder, created, DigestOf(manifest.Annotation(DorasAnnotations.DeltaFrom)), DigestOf(manifest.Annotation(DorasAnnotations.DeltaTo)),
            Math.Max(1, DeltaRecords.FailuresOf(manifest)));
    }

    /// <summary>The digest of <c>name@sha256:…</c>.</summary>
    private static Digest? DigestOf(string? image) =>
        image?.LastIndexOf('@') is int at and >= 0 && Digest.TryParse(image[(at + 1)..], out var digest) ? digest : null;
}

/// <summary>Why a delta tag is deleted (also the metric's label).</summary>
public static class GcReasons
{
    public const string ExpiredPlaceholder = "expired_placeholder";
    public const string VersionGone = "version_gone";
    public const string Retention = "retention";
}

/// <summary>
/// The retention rule, once: a delta is kept while both its versions are among the repository's latest
/// <c>Gc:KeepLatestVersions</c>, or it was asked for or built within <c>Gc:KeepRequestedWithin</c>; it goes when its
/// base or target is no longer a tagged version of the repository. A "building" placeholder goes after
/// <c>Delta:PlaceholderExpiry</c> (its owner died), a "failed" one <c>Delta:MaxFailureRetention</c> after its failure
/// stopped standing (<see cref="DeltaOptions.FailureRetentionAfter"/>): until the next request builds again it keeps
/// the count of failures in a row, which a deletion would start again from one.
/// </summary>
public sealed class RetentionPolicy(GcOptions gc, DeltaOptions delta)
{
    /// <param name="latest">The latest versions' manifest digests.</param>
    /// <param name="versions">Every tagged version's manifest digest.</param>
    /// <param name="lastAsked">The last day each delta manifest was asked for.</param>
    /// <returns>Why the delta goes, or null to keep it.</returns>
    public string? Decide(DeltaEntry entry, IReadOnlySet<Digest> latest, IReadOnlySet<Digest> versions, IReadOnlyDictionary<Digest, DateOnly> lastAsked, DateTimeOffset now)
    {
        switch (entry.Placeholder)
        {
            case "building": return now - entry.Created > delta.PlaceholderExpiry ? GcReasons.ExpiredPlaceholder : null;
            case "failed": return now - entry.Created > delta.FailureRetentionAfter(entry.Failures) + delta.MaxFailureRetention ? GcReasons.ExpiredPlaceholder : null;
            case not null: return null; // a kind of placeholder this server does not know: not ours to judge
        }
        if (entry.From is not { } from || entry.To is not { } to || !versions.Contains(from) || !versions.Contains(to)) return GcReasons.VersionGone;
        if (latest.Contains(from) && latest.Contains(to)) return null;
        var since = now - gc.KeepRequestedWithin;
        if (entry.Created >= since) return null;
        if (lastAsked.TryGetValue(entry.Manifest, out var day) && day.ToDateTime(TimeOnly.MaxValue, DateTimeKind.Utc) >= since.UtcDateTime) return null;
        return GcReasons.Retention;
    }
}
