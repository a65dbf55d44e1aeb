using System.Diagnostics;

namespace Doras.Tests.Support;

/// <summary>
/// The one bounded wait of the tests: asks a condition again every <see cref="Interval"/> until it holds, and fails
/// the test naming what did not happen (and the last value seen) once <c>limit</c> has passed. No test polls by hand.
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>Waits until <paramref name="condition"/> holds; fails with "<paramref name="what"/> … within …" if it never does.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan limit, string what, TimeSpan? interval = null)
    {
        await UntilAsync(condition, ok => ok, limit, what, interval);
    }

    /// <inheritdoc cref="UntilAsync(Func{Task{bool}}, TimeSpan, string, TimeSpan?)"/>
    public static Task UntilAsync(Func<bool> condition, TimeSpan limit, string what, TimeSpan? interval = null) =>
        UntilAsync(() => Task.FromResult(condition()), limit, what, interval);

    /// <summary>
    /// Whether <paramref name="condition"/> comes to hold within <paramref name="limit"/>, asked every
    /// <see cref="Interval"/>: for a caller that fails in its own words (a launcher that shows the process's log).
    /// </summary>
    public static async Task<bool> HoldsWithinAsync(Func<Task<bool>> condition, TimeSpan limit, TimeSpan? interval = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await condition()) return true;
            if (clock.Elapsed >= limit) return false;
            await Task.Delay(interval ?? Interval);
        }
    }

    /// <inheritdoc cref="HoldsWithinAsync(Func{Task{bool}}, TimeSpan, TimeSpan?)"/>
    public static Task<bool> HoldsWithinAsync(Func<bool> condition, TimeSpan limit, TimeSpan? interval = null) =>
        HoldsWithinAsync(() => Task.FromResult(condition()), limit, interval);

    /// <summary>
    /// Asks <paramref name="attempt"/> until its answer satisfies <paramref name="done"/> and returns that answer;
    /// fails naming <paramref name="what"/> and the last answer if none does within <paramref name="limit"/>.
    /// </summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> attempt, Func<T, bool> done, TimeSpan limit, string what, TimeSpan? interval = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var last = await attempt();
            if (done(last)) return last;
            if (clock.Elapsed >= limit)
            {
                Assert.Fail(FormattableString.Invariant($"{what}: not within {limit.TotalSeconds:0.#} s (last seen: {Describe(last)})"));
                throw new UnreachableException();
            }
            await Task.Delay(interval ?? Interval);
        }
    }

    /// <inheritdoc cref="UntilAsync{T}(Func{Task{T}}, Func{T, bool}, TimeSpan, string, TimeSpan?)"/>
    public static Task<T> UntilAsync<T>(Func<T> attempt, Func<T, bool> done, TimeSpan limit, string what, TimeSpan? interval = null) =>
        UntilAsync(() => Task.FromResult(attempt()), done, limit, what, interval);

    private static string Describe(object? value) => value switch
    {
        null => "nothing",
        bool b => b ? "true" : "false (the condition did not hold)",
        _ => value.ToString() is { Length: > 500 } text ? text[..500] + "…" : value.ToString()!,
    };
}
