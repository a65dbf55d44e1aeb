using System.Net;
using System.Net.Http.Headers;

namespace Doras.Oci.Remote;

/// <summary>
/// The body of a blob download that, when the connection breaks or the body ends early, asks again with
/// <c>Range: bytes=N-</c> and carries on where it stopped, a bounded number of times. Never asks past the
/// end; a server that ignores Range (200) is read from the start and the bytes already seen are skipped.
/// A body longer than what is left of the blob is refused (an <see cref="InvalidDataException"/>), and a
/// stalled one ends the download (<see cref="ResponseStalledException"/>): see <see cref="HttpBody"/>.
/// </summary>
internal sealed class ResumableDownloadStream : Content.ReadOnlyStream
{
    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly long _size;
    private readonly int _maxResumes;
    private HttpResponseMessage? _response;
    private Stream? _body;
    private long _position;
    private int _resumes;

    private ResumableDownloadStream(HttpClient http, Uri url, long size, int maxResumes, long offset)
    {
        (_http, _url, _size, _maxResumes, _position) = (http, url, size, maxResumes, offset);
    }

    public static async Task<Stream> OpenAsync(HttpClient http, Uri url, long size, int maxResumes, CancellationToken ct, long offset = 0)
    {
        var stream = new ResumableDownloadStream(http, url, size, maxResumes, offset);
        await stream.ConnectAsync(ct).ConfigureAwait(false);
        return stream;
    }

    private async Task ConnectAsync(CancellationToken ct)
    {
        _body?.Dispose();
        _response?.Dispose();
        _body = null;
        if (_position >= _size) return; // nothing left: never ask for a range past the end
        using var request = new HttpRequestMessage(HttpMethod.Get, _url);
        if (_position > 0) request.Headers.Range = new RangeHeaderValue(_position, null);
        _response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (_response.StatusCode == HttpStatusCode.NotFound)
            throw new Content.NotFoundException($"blob {_url} not found");
        await RemoteRepository.EnsureSuccessAsync(_response, $"blob {_url}", ct).ConfigureAwait(false);
        // Never more than the blob has left (all of it when Range is ignored), and never a stalled transfer.
        var rangeIgnored = _position > 0 && _response.StatusCode == HttpStatusCode.OK;
        _body = await HttpBody.OpenAsync(_response.Content, $"blob {_url}", rangeIgnored ? _size : _size - _position, ct).ConfigureAwait(false);
        if (rangeIgnored)
        {
            // Range ignored: skip what we already have.
            var skip = _position;
            var scratch = new byte[81920];
            while (skip > 0)
            {
                var n = await _body.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, skip)), ct).ConfigureAwait(false);
                if (n == 0) throw new IOException($"blob {_url} ended before the resume offset {_position}");
                skip -= n;
            }
        }
        else if (_position > 0 && _response.Content.Headers.ContentRange?.From != _position)
        {
            throw new IOException($"blob {_url}: asked for bytes from {_position}, got {_response.Content.Headers.ContentRange}");
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_body is null) return 0;
            int n;
            try
            {
                n = await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            // A stalled transfer ends this attempt (the caller retries later, resuming with Range); a dropped one resumes now.
            catch (Exception e) when (e is (IOException and not ResponseStalledException) or HttpRequestException && _resumes < _maxResumes && !cancellationToken.IsCancellationRequested)
            {
                _resumes++;
                await ConnectAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (n > 0 || _position >= _size)
            {
                _position += n;
                return n;
            }
            // The body ended before the blob did: resume, or let the verifier report the short read.
            if (_resumes >= _maxResumes) return 0;
            _resumes++;
            await ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override int Read(Span<byte> buffer)
    {
        var rented = new byte[buffer.Length];
        var n = ReadAsync(rented).AsTask().GetAwaiter().GetResult();
        rented.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override long Length => _size;
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body?.Dispose();
            _response?.Dispose();
        }
        base.Dispose(disposing);
    }
}
