using System.Text.Json;
using System.Text.RegularExpressions;

namespace Doras.Oci.Remote;

/// <summary>
/// One line from an error answer: a registry's <c>{"errors":[{"code","message"}]}</c> as <c>CODE: message</c>,
/// problem+json as its detail (or title); any other text as it is, on one line.
/// </summary>
public static partial class ErrorBody
{
    public static string Describe(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return "";
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
                return string.Join("; ", errors.EnumerateArray().Select(e => string.Join(": ", new[] { Text(e, "code"), Text(e, "message") }.Where(t => t.Length > 0))));
            if (root.ValueKind == JsonValueKind.Object && (Text(root, "detail") is { Length: > 0 } detail ? detail : Text(root, "title")) is { Length: > 0 } problem)
                return problem;
        }
        catch (JsonException) { } // not JSON, or cut at its bound
        // A web page is no registry's answer: say what it is, not its markup.
        if (body.TrimStart().StartsWith('<')) return HtmlTitle().Match(body) is { Success: true } title
            ? $"an HTML page ('{Cut(Whitespace().Replace(title.Groups[1].Value, " ").Trim())}'), not a registry's answer"
            : "an HTML page, not a registry's answer";
        return Cut(Whitespace().Replace(body, " ").Trim());
    }

    /// <summary>A registry's error entries as data (none when the body is not the distribution spec's <c>errors</c> array).</summary>
    public static IReadOnlyList<RegistryError> Errors(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return [];
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("errors", out var errors) || errors.ValueKind != JsonValueKind.Array) return [];
            return errors.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.Object)
                .Select(e => new RegistryError(Text(e, "code"), Text(e, "message"),
                    e.TryGetProperty("detail", out var detail) && detail.ValueKind != JsonValueKind.Null ? detail.GetRawText() : null))
                .ToList();
        }
        catch (JsonException) { return []; } // not JSON, or cut at its bound
    }

    /// <summary>One line of reasonable length: a person reads it, and a hostile body must not flood a log.</summary>
    private static string Cut(string text) => text.Length > 300 ? text[..300] + "…" : text;

    [GeneratedRegex(@"<title[^>]*>([^<]{0,200})", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlTitle();

    private static string Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
