using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Oci.Remote;

/// <summary>Reports the running byte count of a transfer as it is read.</summary>
internal sealed class ProgressReadStream(Stream inner, Digest digest, IProgress<(Digest, long)> progress) : ReadOnlyStream
{
    private long _total;

    public override int Read(Span<byte> buffer) => Report(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Report(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    private int Report(int n)
    {
        if (n > 0) progress.Report((digest, _total += n));
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
