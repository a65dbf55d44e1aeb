using Doras.Oci.Model;

namespace Doras.Oci.Content;

/// <summary>What a repository's tags point at (tag → manifest descriptor): the state a sync compares.</summary>
public static class TagState
{
    /// <summary>
    /// Reads every tag's manifest descriptor (without the manifest where the store can: <see cref="IManifestStat"/>, a
    /// HEAD each in a registry); refuses a repository of more than <paramref name="maxTags"/> tags.
    /// </summary>
    /// <param name="limitName">The setting that sets the limit, named in the refusal.</param>
    public static async Task<Dictionary<string, Descriptor>> ReadAsync(IReadOnlyOciRepository repository, int maxTags, CancellationToken ct, string? limitName = null)
    {
        var tags = new List<string>();
        await foreach (var tag in repository.ListTagsAsync(ct).ConfigureAwait(false))
        {
            if (tags.Count == maxTags)
                throw new InvalidDataException($"{repository.Name} has more than {maxTags} tags{(limitName is null ? "" : $" ({limitName})")}");
            tags.Add(tag);
        }
        var state = new Dictionary<string, Descriptor>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var descriptor = repository is IManifestStat stat
                ? await stat.StatManifestAsync(tag, ct).ConfigureAwait(false)
                : await repository.TryResolveAsync(tag, ct).ConfigureAwait(false);
            if (descriptor is not null) state[tag] = descriptor; // a tag deleted meanwhile is simply not there
        }
        return state;
    }

    /// <summary>Whether a repository has no tags at all (a registry's 404 for an unknown repository counts as none).</summary>
    public static async Task<bool> IsEmptyAsync(IReadOnlyOciRepository repository, CancellationToken ct)
    {
        try
        {
            await foreach (var _ in repository.ListTagsAsync(ct).ConfigureAwait(false)) return false;
            return true;
        }
        catch (HttpRequestException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound) { return true; }
    }
}
