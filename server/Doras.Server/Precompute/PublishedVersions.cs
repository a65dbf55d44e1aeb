using System.Threading.Channels;
using Doras.Oci.Model;
using Microsoft.Extensions.Options;

namespace Doras.Server.Precompute;

/// <summary>A version that was just published: a manifest in a repository.</summary>
public sealed record PublishedVersion(string Repository, Digest Manifest);

/// <summary>
/// The versions waiting for their deltas to be planned: a bounded queue between those who notice a publication
/// (the registry webhook, the store watcher) and the <see cref="Precomputer"/>.
/// </summary>
public sealed class PublishedVersions(IOptions<PrecomputeOptions> options)
{
    private readonly Channel<PublishedVersion> _pending = Channel.CreateBounded<PublishedVersion>(
        new BoundedChannelOptions(Math.Max(1, options.Value.PendingVersions)) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    /// <summary>Queues a version; false when the queue is full.</summary>
    public bool TryAdd(PublishedVersion version) => _pending.Writer.TryWrite(version);

    public IAsyncEnumerable<PublishedVersion> ReadAllAsync(CancellationToken ct) => _pending.Reader.ReadAllAsync(ct);
}
