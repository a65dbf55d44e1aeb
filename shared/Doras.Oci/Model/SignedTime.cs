using System.Globalization;
using System.Text.RegularExpressions;

namespace Doras.Oci.Model;

/// <summary>
/// Times as the OCI specs write them (<c>org.opencontainers.image.created</c>, an image config's <c>created</c>):
/// RFC 3339 with an explicit offset or Z. A time without one would be read in the reader's local zone, and two
/// devices would order the same versions differently, so it is not a time at all here.
/// </summary>
public static partial class SignedTime
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339();

    public static DateTimeOffset? Parse(string? text) =>
        text is not null && text.Length <= 40 && Rfc3339().IsMatch(text)
        && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time.ToUniversalTime() : null;
}
