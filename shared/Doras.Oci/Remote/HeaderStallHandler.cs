namespace Doras.Oci.Remote;

/// <summary>
/// The stall timeout (<see cref="HttpBody.StallTimeout"/>) for the wait before an answer's headers too: a server that
/// accepts the connection and then says nothing ends the request after that long, as a stalled body does
/// (<see cref="ResponseStalledException"/>, transient: the attempt is retried within the update's deadline),
/// instead of holding the update for its whole deadline. Requests that send a body are not cut: the wait for
/// their headers includes the upload.
/// </summary>
public sealed class HeaderStallHandler : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var stall = HttpBody.StallTimeout;
        if (request.Content is not null || stall == Timeout.InfiniteTimeSpan) return await base.SendAsync(request, ct).ConfigureAwait(false);
        using var headers = CancellationTokenSource.CreateLinkedTokenSource(ct);
        headers.CancelAfter(stall);
        try
        {
            return await base.SendAsync(request, headers.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (headers.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new ResponseStalledException($"{request.Method} {request.RequestUri}: no answer within {stall.TotalSeconds:0.#} s (the stall timeout)");
        }
    }
}
