using System.Net;
using Doras.Oci.Remote.Auth;
using Polly;
using Polly.Retry;

namespace Doras.Oci.Remote;

/// <summary>How hard to retry a registry request.</summary>
public sealed record RegistryRetryOptions
{
    public int MaxRetries { get; init; } = 4;
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Retries requests that failed for passing reasons (<see cref="Transience"/>: connection failures, 408, 429, 5xx) with exponential,
/// jittered backoff, waiting as long as a <c>Retry-After</c> header asks. Requests whose body cannot be sent
/// twice (streamed uploads) are not retried here; the upload logic resumes those itself.
/// </summary>
public sealed class RetryHandler(RegistryRetryOptions options) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (options.MaxRetries <= 0 || !RegistryAuthHandler.IsReplayable(request))
            return await base.SendAsync(request, ct).ConfigureAwait(false);
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>().AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = options.MaxRetries,
            Delay = options.BaseDelay,
            MaxDelay = options.MaxDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
            {
                { Exception: { } e } => !ct.IsCancellationRequested && Transience.IsTransient(e),
                { Result: { } r } => Transience.IsTransient(r.StatusCode),
                _ => false,
            }),
            DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result)),
            OnRetry = args =>
            {
                args.Outcome.Result?.Dispose();
                return ValueTask.CompletedTask;
            },
        }).Build();
        return await pipeline.ExecuteAsync(async token => await base.SendAsync(request, token).ConfigureAwait(false), ct).ConfigureAwait(false);
    }

    private TimeSpan? RetryAfter(HttpResponseMessage? response)
    {
        var header = response?.Headers.RetryAfter;
        var delay = header?.Delta ?? (header?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        if (delay is null) return null;
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay > options.MaxDelay ? options.MaxDelay : delay;
    }
}
