using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;

namespace Doras.Server.Peering;

/// <summary>What a repository's tags point at (tag → manifest descriptor): the state a sync compares.</summary>
public static class TagState
{
    /// <summary>Reads every tag's manifest (a HEAD each in a registry); refuses a repository of more than <paramref name="maxTags"/> tags.</summary>
    public static async Task<Dictionary<string, Descriptor>> ReadAsync(IOciRepository repository, int maxTags, CancellationToken ct)
    {
        var tags = new List<string>();
        await foreach (var tag in repository.ListTagsAsync(ct).ConfigureAwait(false))
        {
            if (tags.Count == maxTags) throw new InvalidDataException($"{repository.Name} has more than {maxTags} tags (Peering:MaxSyncTags)");
            tags.Add(tag);
        }
        var state = new Dictionary<string, Descriptor>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var descriptor = repository is RemoteRepository remote
                ? await remote.StatManifestAsync(tag, ct).ConfigureAwait(false)
                : await repository.TryResolveAsync(tag, ct).ConfigureAwait(false);
            if (descriptor is not null) state[tag] = descriptor; // a tag deleted meanwhile is simply not there
        }
        return state;
    }

    /// <summary>Whether a repository has no tags at all (a registry's 404 for an unknown repository counts as none).</summary>
    public static async Task<bool> IsEmptyAsync(IOciRepository repository, CancellationToken ct)
    {
        try
        {
            await foreach (var _ in repository.ListTagsAsync(ct).ConfigureAwait(false)) return false;
            return true;
        }
        catch (HttpRequestException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound) { return true; }
    }
}
