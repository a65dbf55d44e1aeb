using System.Text.RegularExpressions;

namespace Doras.Oci.Model;

/// <summary>
/// An artifact reference: <c>host[:port]/repo[:tag][@digest]</c>, or <c>repo[:tag][@digest]</c> without a
/// registry for the embedded store. The first path component is a registry host when it contains '.' or ':'
/// or is <c>localhost</c> (the Docker convention).
/// </summary>
public sealed partial record Reference(string? Registry, string Repository, string? Tag, Digest? Digest)
{
    public const int MaxTagLength = 128;

    /// <summary>The tag or, when present, the digest: what a store resolves.</summary>
    public string Identifier => Digest?.ToString() ?? Tag ?? throw new InvalidOperationException("reference has neither tag nor digest");

    public bool HasIdentifier => Digest is not null || Tag is not null;

    public Reference WithDigest(Digest digest) => this with { Tag = null, Digest = digest };

    public Reference WithTag(string tag) => this with { Tag = ValidateTag(tag), Digest = null };

    /// <summary>The repository with its registry host, without tag or digest.</summary>
    public string Name => Registry is null ? Repository : $"{Registry}/{Repository}";

    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    public static Reference Parse(string value)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new FormatException("invalid reference: it is empty");
        if (value.Length > 4096 || value.Any(char.IsWhiteSpace))
            throw new FormatException($"invalid reference '{Shorten(value)}': it must not contain white space");

        var rest = value;
        Digest? digest = null;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            try { digest = Model.Digest.Parse(rest[(at + 1)..]); }
            catch (FormatException e) { throw new FormatException($"invalid reference '{Shorten(value)}': {e.Message}"); }
            rest = rest[..at];
        }

        string? registry = null;
        var slash = rest.IndexOf('/');
        if (slash > 0)
        {
            var first = rest[..slash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost")
            {
                if (!HostPattern().IsMatch(first))
                    throw new FormatException($"invalid reference '{Shorten(value)}': '{first}' is not a valid registry host[:port]");
                registry = first;
                rest = rest[(slash + 1)..];
            }
        }

        string? tag = null;
        var colon = rest.LastIndexOf(':');
        if (colon >= 0 && colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            try { ValidateTag(tag); }
            catch (FormatException e) { throw new FormatException($"invalid reference '{Shorten(value)}': {e.Message}"); }
        }

        if (!IsValidRepository(rest))
            throw new FormatException(
                $"invalid reference '{Shorten(value)}': repository '{Shorten(rest)}' must be lowercase path components " +
                "of letters and digits separated by '.', '_', '__' or '-', joined by '/'");
        return new Reference(registry, rest, tag, digest);
    }

    public static bool IsValidRepository(string repository) =>
        repository.Length is > 0 and <= 255 && RepositoryPattern().IsMatch(repository);

    public static string ValidateTag(string tag)
    {
        if (!TagPattern().IsMatch(tag))
            throw new FormatException($"tag '{Shorten(tag)}' must be 1 to {MaxTagLength} letters, digits, '_', '.' or '-', not starting with '.' or '-'");
        return tag;
    }

    private static string Shorten(string s) => s.Length > 100 ? s[..100] + "…" : s;

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\z")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\z")]
    private static partial Regex HostPattern();
}
