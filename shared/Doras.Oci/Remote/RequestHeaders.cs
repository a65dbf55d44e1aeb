using System.Text.Json;

namespace Doras.Oci.Remote;

/// <summary>
/// Extra headers sent with every request (<c>--header 'X-Meta-Name: value'</c>, or <c>HttpHeaders</c> in the
/// Docker config.json): metadata such as a device's identity. One rule for what is allowed: a header name
/// (an RFC 9110 token) that is not one the protocol itself sets, and a value of printable ASCII (no line breaks).
/// </summary>
public static class RequestHeaders
{
    /// <summary>Headers the client sets itself: overriding them would break authentication, ranges or bodies.</summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "Authorization", "Proxy-Authorization", "Host", "Content-Length", "Content-Type", "Content-Range",
        "Transfer-Encoding", "Connection", "Upgrade", "Range", "Accept", "Expect", "TE", "Trailer", "Keep-Alive", "Cookie",
    };

    /// <summary>Parses <c>Name: value</c>.</summary>
    public static KeyValuePair<string, string> Parse(string text)
    {
        var colon = text.IndexOf(':');
        if (colon <= 0) throw new FormatException($"header '{text}' is not 'Name: value'");
        return Validate(text[..colon].Trim(), text[(colon + 1)..].Trim());
    }

    public static KeyValuePair<string, string> Validate(string name, string value)
    {
        if (name.Length == 0 || !name.All(IsTokenChar))
            throw new FormatException($"header name '{name}' is not a valid HTTP header name");
        if (Reserved.Contains(name))
            throw new FormatException($"header '{name}' is set by doras itself and cannot be given");
        if (value.Any(c => c is '\r' or '\n' or '\0'))
            throw new FormatException($"the value of header '{name}' contains a line break");
        // HTTP/1.1 sends header values as ASCII (the .NET client refuses anything else only when it sends, in the
        // middle of an update); other text must be encoded by the caller (percent- or base64-encoded).
        if (!value.All(c => char.IsAscii(c) && (c >= ' ' || c == '\t') && c != '\x7f'))
            throw new FormatException($"the value of header '{name}' has a character that is not printable ASCII: encode it (e.g. percent-encoding)");
        return new(name, value);
    }

    /// <summary>The <c>HttpHeaders</c> object of a Docker config.json, as Docker sends them; none when the file or the object is missing.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> FromDockerConfig(string path)
    {
        if (!File.Exists(path)) return [];
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("HttpHeaders", out var headers)) return [];
        if (headers.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'HttpHeaders' in {path} is not an object");
        return headers.EnumerateObject()
            .Select(h => h.Value.ValueKind == JsonValueKind.String ? Validate(h.Name, h.Value.GetString()!)
                : throw new InvalidDataException($"'HttpHeaders.{h.Name}' in {path} is not a string"))
            .ToList();
    }

    /// <summary>Later entries replace earlier ones of the same name (command line over config).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Merge(params IEnumerable<KeyValuePair<string, string>>[] sources)
    {
        var merged = new List<KeyValuePair<string, string>>();
        foreach (var source in sources)
        {
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in source)
            {
                if (names.Add(header.Key)) merged.RemoveAll(h => string.Equals(h.Key, header.Key, StringComparison.OrdinalIgnoreCase));
                merged.Add(header);
            }
        }
        return merged;
    }

    /// <summary>Puts the headers on a client's defaults, so every request it sends (and every redirect it follows) carries them.</summary>
    public static void ApplyTo(HttpClient http, string userAgent, IEnumerable<KeyValuePair<string, string>>? headers)
    {
        http.DefaultRequestHeaders.UserAgent.Clear();
        http.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", userAgent);
        foreach (var (name, value) in headers ?? [])
            if (!http.DefaultRequestHeaders.TryAddWithoutValidation(name, value))
                throw new FormatException($"header '{name}' cannot be sent on requests");
    }

    // RFC 9110 token characters.
    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);
}
