using System.Text;
using System.Text.RegularExpressions;

namespace Doras.Signing.Notation;

/// <summary>
/// Text read from an envelope before it is trusted (header values, plugin names, certificate subjects) made safe to
/// print in a refusal: ANSI escape sequences and control characters (C0, DEL, C1) and bidirectional overrides removed,
/// at most <see cref="MaxLength"/> characters.
/// </summary>
internal static partial class SafeText
{
    public const int MaxLength = 200;

    [GeneratedRegex(@"\x1B\[[0-?]*[ -/]*[@-~]|\x1B[@-_]|\x9B[0-?]*[ -/]*[@-~]")]
    private static partial Regex Escapes();

    /// <summary>One value from the envelope: cleaned and capped at <see cref="MaxLength"/>.</summary>
    public static string Of(string? text) => Clean(text, MaxLength);

    /// <summary>A whole message: cleaned, capped at <paramref name="max"/> characters.</summary>
    public static string Clean(string? text, int max)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var without = Escapes().Replace(text, "");
        var builder = new StringBuilder(Math.Min(without.Length, max + 2));
        foreach (var c in without)
        {
            if (c < 0x20 || c is >= '\x7F' and <= '\x9F' || c is '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069')) continue;
            builder.Append(c);
            if (builder.Length > max)
            {
                builder.Length = max - 1;
                if (char.IsHighSurrogate(builder[^1])) builder.Length--;
                return builder.Append('…').ToString();
            }
        }
        return builder.ToString();
    }
}
