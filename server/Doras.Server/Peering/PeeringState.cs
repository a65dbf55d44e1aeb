using System.Security.Cryptography;
using System.Text;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// Our peering state in our own store (the <c>Peering:StateRepository</c> repository, never served to peers): one
/// small manifest per record (a sublease token, a grant, a replica), under a tag of its own, so that writing one
/// record never overwrites another, whichever instance writes it.
/// </summary>
public sealed class PeeringState(ArtifactStores stores, IOptionsMonitor<PeeringOptions> options)
{
    private const string IdKey = "dev.doras.peering.id";

    public string Name => options.CurrentValue.StateRepository;

    public IOciRepository Repository => stores.Server.Repository(Name);

    /// <summary><c>PREFIX-&lt;sha256 of the parts&gt;</c>: a valid tag whatever the parts hold, and never the parts themselves.</summary>
    public static string TagOf(string prefix, params string[] parts) =>
        prefix + "-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', parts))));

    /// <summary>Writes one record under <paramref name="tag"/>: its annotations, and optionally a JSON config blob.</summary>
    public async Task WriteAsync(string tag, string artifactType, IReadOnlyDictionary<string, string> annotations, CancellationToken ct, byte[]? json = null)
    {
        var state = Repository;
        var config = await state.PushBytesAsync(json is null ? MediaTypes.Empty : artifactType, json ?? "{}"u8.ToArray(), ct).ConfigureAwait(false);
        await state.PushManifestAsync(new ImageManifest
        {
            ArtifactType = artifactType,
            Config = config,
            Layers = [],
            // The tag in the manifest makes it one manifest per record, so deleting it (by digest) removes no other tag.
            Annotations = new Dictionary<string, string>(annotations) { [IdKey] = tag },
        }, [tag], ct).ConfigureAwait(false);
    }

    /// <summary>Removes the record under <paramref name="tag"/>; false when there is none.</summary>
    public async Task<bool> RemoveAsync(string tag, CancellationToken ct)
    {
        var state = Repository;
        if (await state.TryResolveAsync(tag, ct).ConfigureAwait(false) is not { } record) return false;
        // One manifest per record (see WriteAsync): no other tag shares it.
        await TagRemoval.UntagAsync(state, tag, record, keep: [], ct).ConfigureAwait(false);
        return true;
    }
}
