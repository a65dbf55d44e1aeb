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
    public const int MaxPages = 10_000;

    /// <summary>The most entries one list may have, whatever its pages: the client remembers each one.</summary>
    public const int MaxItems = 1_000_000;

    public static async IAsyncEnumerable<string> ListAsync(HttpClient http, Uri first, string property, string what, [EnumeratorCancellation] CancellationToken ct)
    {
        var pages = new PageWalk(first, what);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (pages.Next is { } next)
        {
            using var response = await http.GetAsync(next, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound && pages.IsFirst) yield break;
            await RemoteRepository.EnsureSuccessAsync(response, what, ct).ConfigureAwait(false);
            using var doc = JsonDocument.Parse(await response.Content.ReadBoundedAsync(16 * OciJson.MaxManifestBytes, what, ct).ConfigureAwait(false));
            if (doc.RootElement.TryGetProperty(property, out var items) && items.ValueKind == JsonValueKind.Array)
                foreach (var item in items.EnumerateArray())
                    if (item.GetString() is { } value && seen.Add(value))
                    {
                        if (seen.Count > MaxItems) throw new InvalidDataException($"{what}: more than {MaxItems} entries");
                        yield return value;
                    }
            pages.Advance(response);
        }
    }

    /// <summary>
    /// The pages of one list, followed by their <c>Link: &lt;…&gt;; rel="next"</c> headers: at most
    /// <see cref="MaxPages"/>, and never a page twice (a registry whose links loop gets an error, not a spin).
    /// </summary>
    internal sealed class PageWalk(Uri first, string what)
    {
        private readonly HashSet<Uri> _visited = [first];
        private int _read;

        public Uri? Next { get; private set; } = first;
        public bool IsFirst => _read == 0;

        public void Advance(HttpResponseMessage response)
        {
            _read++;
            var next = NextLink(response, Next!);
            if (next is not null && !_visited.Add(next))
                throw new InvalidDataException($"{what}: the registry's Link header leads back to a page already read ({next})");
            if (next is not null && _read >= MaxPages)
                throw new InvalidDataException($"{what}: more than {MaxPages} pages");
            Next = next;
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
