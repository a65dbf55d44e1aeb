using Polly;
using Polly.Retry;

namespace Doras.EdgeClient.Deltas;

/// <summary>
/// Polling backoff: exponential from <see cref="BaseDelay"/>, doubling, capped at <see cref="MaxDelay"/>, with
/// jitter, for at most <see cref="MaxAttempts"/> requests (or within an overall timeout). Built on Polly's retry strategy, which computes
/// delays without overflow however many attempts; each call builds a fresh pipeline, so attempts never carry
/// over from one update to the next.
/// </summary>
public sealed record BackoffOptions
{
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);
    public int MaxAttempts { get; init; } = 40;
    public bool UseJitter { get; init; } = true;

    /// <summary>Wait as long as the server's Retry-After says (capped at <see cref="MaxDelay"/>) when it sends one.</summary>
    public bool HonorRetryAfter { get; init; } = true;

    private static readonly TimeSpan MinimumTimeout = TimeSpan.FromMilliseconds(10); // Polly's least

    /// <summary>A retry pipeline for results of type <typeparamref name="T"/>.</summary>
    /// <param name="retryResult">Which results mean "not yet": ask again.</param>
    /// <param name="retryAfter">The server's hint carried by a result, if any.</param>
    /// <param name="retryException">Which failures are transient.</param>
    /// <param name="onRetry">Observes each scheduled retry (attempt number, delay).</param>
    /// <param name="onFailure">Observes each failure that is retried (for the message when time runs out).</param>
    /// <param name="timeout">One overall limit outside the retries, covering every attempt and wait (null, infinite or a day and over: none).</param>
    public ResiliencePipeline<T> CreatePipeline<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.All)] T>(
        Func<T, bool> retryResult, Func<T, TimeSpan?> retryAfter, Func<Exception, bool> retryException,
        Action<int, TimeSpan>? onRetry = null, Action<Exception>? onFailure = null, TimeSpan? timeout = null)
    {
        if (MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), "at least one attempt");
        var options = new RetryStrategyOptions<T>
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e ? retryException(e) : retryResult(args.Outcome.Result!)),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = UseJitter,
            Delay = BaseDelay,
            MaxDelay = MaxDelay,
            MaxRetryAttempts = MaxAttempts - 1,
            DelayGenerator = args =>
            {
                if (!HonorRetryAfter || args.Outcome.Result is not { } result || retryAfter(result) is not { } hint)
                    return ValueTask.FromResult<TimeSpan?>(null); // Polly's exponential backoff with jitter
                return ValueTask.FromResult<TimeSpan?>(hint < MaxDelay ? hint : MaxDelay);
            },
            OnRetry = args =>
            {
                if (args.Outcome.Exception is { } e) onFailure?.Invoke(e);
                onRetry?.Invoke(args.AttemptNumber + 1, args.RetryDelay);
                return ValueTask.CompletedTask;
            },
        };
        var builder = new ResiliencePipelineBuilder<T>();
        if (timeout is { } limit && limit != Timeout.InfiniteTimeSpan && limit < TimeSpan.FromDays(1))
            builder.AddTimeout(limit > MinimumTimeout ? limit : MinimumTimeout); // first added: outermost
        if (MaxAttempts > 1) builder.AddRetry(options);
        return builder.Build();
    }
}
