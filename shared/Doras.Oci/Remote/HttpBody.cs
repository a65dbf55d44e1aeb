using System.Diagnostics;
using Doras.Oci.Content;

namespace Doras.Oci.Remote;

/// <summary>
/// The one rule for reading the body of an HTTP answer from a server we do not control: never more than a known
/// number of bytes (so an endless or oversized answer cannot grow memory or fill a disk), and never waiting on a
/// stalled transfer (a server that sends nothing, or a byte now and then, cannot keep a download alive for ever;
/// <see cref="HttpClient.Timeout"/> ends at the headers and does not cover a streamed body).
/// </summary>
public static class HttpBody
{
    /// <summary>How long a transfer may go without progress when nothing else is set.</summary>
    public static readonly TimeSpan DefaultStallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Progress is at least this many bytes per stall timeout (or the end of the body): a server that sends
    /// one byte a second is as stalled as one that sends nothing.
    /// </summary>
    public const int StallMinimumBytes = 1024;

    private static readonly AsyncLocal<TimeSpan?> s_stallTimeout = new();

    /// <summary>The stall timeout of body reads in the current flow: the innermost <see cref="UseStallTimeout"/>, else the default.</summary>
    public static TimeSpan StallTimeout => s_stallTimeout.Value ?? DefaultStallTimeout;

    /// <summary>
    /// Uses <paramref name="timeout"/> for every body read in the calling flow (and the asynchronous work it
    /// starts) until disposed; <see cref="Timeout.InfiniteTimeSpan"/> turns the check off.
    /// </summary>
    public static IDisposable UseStallTimeout(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the stall timeout must be positive");
        var previous = s_stallTimeout.Value;
        s_stallTimeout.Value = timeout;
        return new Restore(previous);
    }

    private sealed class Restore(TimeSpan? previous) : IDisposable
    {
        public void Dispose() => s_stallTimeout.Value = previous;
    }

    /// <summary>
    /// The body of <paramref name="content"/> as a stream that refuses more than <paramref name="maxBytes"/>
    /// (null: the caller bounds it, e.g. by a digest and size) with an <see cref="InvalidDataException"/>
    /// (<see cref="TooLarge"/>), and a stalled transfer with <see cref="ResponseStalledException"/>. A declared
    /// Content-Length over the bound is refused before a byte is read.
    /// </summary>
    public static async Task<GuardedReadStream> OpenAsync(HttpContent content, string what, long? maxBytes, CancellationToken ct)
    {
        if (maxBytes is { } max && content.Headers.ContentLength is { } declared && declared > max)
            throw TooLarge(what, max, declared);
        var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        return new GuardedReadStream(stream, what, maxBytes, StallTimeout);
    }

    /// <summary>The error for an answer longer than the client accepts for it: refused, not read on (as bad data from the server).</summary>
    public static InvalidDataException TooLarge(string what, long limit, long? declared) => new(declared is { } d
        ? $"{what}: the answer declares {d} bytes, over the limit of {limit} bytes; refused"
        : $"{what}: the answer is longer than the limit of {limit} bytes; refused");

    /// <summary>
    /// Reads a whole body of at most <paramref name="maxBytes"/> into memory; a longer one is refused with an
    /// <see cref="InvalidDataException"/> (<see cref="TooLarge"/>), or with <paramref name="truncate"/> cut to
    /// its first bytes (for error messages).
    /// </summary>
    public static async Task<byte[]> ReadBoundedAsync(this HttpContent content, int maxBytes, string what, CancellationToken ct, bool truncate = false)
    {
        await using var stream = await OpenAsync(content, what, truncate ? null : maxBytes, ct).ConfigureAwait(false);
        var buffer = new MemoryStream();
        var chunk = new byte[16384];
        while (!truncate || buffer.Length < maxBytes)
        {
            var want = truncate ? (int)Math.Min(chunk.Length, maxBytes - buffer.Length) : chunk.Length;
            var n = await stream.ReadAsync(chunk.AsMemory(0, want), ct).ConfigureAwait(false);
            if (n == 0) break;
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }
}

/// <summary>
/// A response body read under <see cref="HttpBody"/>'s rule: at most a bound of bytes, and each read waits only
/// as long as is left of the stall timeout (linked to the caller's token). The timeout counts only the time spent
/// waiting in reads, not the caller's own work between them, and starts again whenever
/// <see cref="HttpBody.StallMinimumBytes"/> have arrived.
/// </summary>
public sealed class GuardedReadStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly string _what;
    private readonly long? _maxBytes;
    private readonly TimeSpan _stallTimeout;
    private TimeSpan _waited;
    private long _sinceProgress;
    private bool _cutByTimeout;

    internal GuardedReadStream(Stream inner, string what, long? maxBytes, TimeSpan stallTimeout)
    {
        (_inner, _what, _maxBytes, _stallTimeout) = (inner, what, maxBytes, stallTimeout);
    }

    /// <summary>Bytes handed to the reader so far (never more than the bound).</summary>
    public long BytesRead { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        int n;
        if (_stallTimeout == Timeout.InfiniteTimeSpan)
        {
            n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var left = _stallTimeout - _waited;
            if (left <= TimeSpan.Zero) throw Stalled();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(left);
            var started = Stopwatch.GetTimestamp();
            try
            {
                n = await _inner.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            }
            // Cancelling a read can also close the connection under it: ObjectDisposedException is the same stall. The
            // cancel can land just as a read completes, and the closed connection then fails the next read.
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException
                && (timeout.IsCancellationRequested || _cutByTimeout) && !cancellationToken.IsCancellationRequested)
            {
                throw Stalled();
            }
            if (timeout.IsCancellationRequested) _cutByTimeout = true;
            _waited += Stopwatch.GetElapsedTime(started);
            _sinceProgress += n;
            if (_sinceProgress >= HttpBody.StallMinimumBytes) (_waited, _sinceProgress) = (TimeSpan.Zero, 0);
        }
        if (_maxBytes is { } max && BytesRead + n > max) throw HttpBody.TooLarge(_what, max, null);
        BytesRead += n;
        return n;
    }

    private ResponseStalledException Stalled() => new(_sinceProgress == 0
        ? $"{_what}: the transfer stalled: no byte arrived for {_stallTimeout.TotalSeconds:0.###} s (stall timeout)"
        : $"{_what}: the transfer stalled: only {_sinceProgress} bytes arrived in {_stallTimeout.TotalSeconds:0.###} s (stall timeout)");

    public override int Read(Span<byte> buffer)
    {
        var rented = new byte[buffer.Length];
        var n = ReadAsync(rented).AsTask().GetAwaiter().GetResult();
        rented.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// A transfer that stopped making progress within the stall timeout: aborted as a passing network failure, to
/// be tried again (downloads resume where they stopped).
/// </summary>
public sealed class ResponseStalledException(string message) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.Network;
}
