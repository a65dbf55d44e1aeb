using System.Net.Http.Headers;

namespace Doras.Oci.Remote.Auth;

/// <summary>A parsed <c>WWW-Authenticate</c> challenge: scheme (Basic or Bearer) and parameters (realm, service, scope).</summary>
public sealed record Challenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? this[string name] => Parameters.GetValueOrDefault(name);

    public static Challenge? From(HttpResponseMessage response)
    {
        foreach (var header in response.Headers.WwwAuthenticate)
        {
            if (header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) || header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
                return new Challenge(header.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) ? "Bearer" : "Basic", ParseParameters(header));
        }
        return null;
    }

    /// <summary>Parses <c>realm="…",service="…",scope="a,b"</c>, honouring quotes (scopes contain commas).</summary>
    private static Dictionary<string, string> ParseParameters(AuthenticationHeaderValue header)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var text = header.Parameter ?? "";
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || text[i] == ' ')) i++;
            var eq = text.IndexOf('=', i);
            if (eq < 0) break;
            var name = text[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length) i++;
                    sb.Append(text[i++]);
                }
                i++;
                value = sb.ToString();
            }
            else
            {
                var end = text.IndexOf(',', i);
                if (end < 0) end = text.Length;
                value = text[i..end].Trim();
                i = end;
            }
            result[name] = value;
        }
        return result;
    }
}
