using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Doras.Oci.Model;

namespace Doras.Oci.Remote;

/// <summary>
/// Lists that the distribution API pages through the <c>Link: &lt;…&gt;; rel="next"</c> header (tags, catalog).
/// Tolerates registries that ignore <c>n</c>/<c>last</c>, send no Link, or answer <c>"tags": null</c>.
/// </summary>
internal static class Pagination
{
    private const int MaxPages = 10_000;

    public static async IAsyncEnumerable<string> ListAsync(HttpClient http, Uri first, string property, string what, [EnumeratorCancellation] CancellationToken ct)
    {
        Uri? next = first;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var page = 0; next is not null && page < MaxPages; page++)
        {
            using var response = await http.GetAsync(next, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound && page == 0) yield break;
            await RemoteRepository.EnsureSuccessAsync(response, what, ct).ConfigureAwait(false);
            using var doc = JsonDocument.Parse(await response.Content.ReadBoundedAsync(16 * OciJson.MaxManifestBytes, what, ct).ConfigureAwait(false));
            if (doc.RootElement.TryGetProperty(property, out var items) && items.ValueKind == JsonValueKind.Array)
                foreach (var item in items.EnumerateArray())
                    if (item.GetString() is { } value && seen.Add(value)) yield return value;
            next = NextLink(response, next);
        }
    }

    private static Uri? NextLink(HttpResponseMessage response, Uri current)
    {
        if (!response.Headers.TryGetValues("Link", out var links)) return null;
        foreach (var link in links.SelectMany(l => l.Split(',')))
        {
            var parts = link.Split(';');
            if (parts.Length < 2 || !parts.Skip(1).Any(p => p.Trim().Replace(" ", "") is "rel=\"next\"" or "rel=next")) continue;
            var target = parts[0].Trim().TrimStart('<').TrimEnd('>');
            return Uri.TryCreate(current, target, out var uri) ? uri : null;
        }
        return null;
    }
}
