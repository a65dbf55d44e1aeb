using Doras.EdgeClient.Updates;

namespace Doras.Cli.Commands;

/// <summary>
/// Progress for people and logs: on a terminal, one line rewritten in place (bytes, rate, ETA); otherwise a
/// plain line per phase. Nothing with --json, whose output is for programs.
/// </summary>
public sealed class ConsoleUpdateProgress : IProgress<UpdateProgress>, IDisposable
{
    /// <summary>A phase that lasts (a server building, a slow answer) is told again this often, so a wait is never silent.</summary>
    private static readonly TimeSpan StillEvery = TimeSpan.FromSeconds(15);

    private readonly TextWriter _error;
    private readonly bool _terminal;
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly ITimer _still;
    private UpdatePhase? _phase;
    private string? _detail;
    private TimeSpan _lastDraw;
    private (TimeSpan At, long Bytes) _start;

    /// <param name="error">Where the lines go (standard error).</param>
    /// <param name="terminal">One line rewritten in place (a terminal), or a line per report (a log).</param>
    /// <param name="time">The clock of the rate, the time left and the "still …" lines.</param>
    public ConsoleUpdateProgress(TextWriter error, bool terminal, TimeProvider time)
    {
        (_error, _terminal, _time) = (error, terminal, time);
        _started = time.GetTimestamp();
        _still = time.CreateTimer(_ => Still(), null, StillEvery, StillEvery);
    }

    private TimeSpan Elapsed => _time.GetElapsedTime(_started);

    public void Dispose() => _still.Dispose();

    public static IProgress<UpdateProgress>? Create(bool json) => json ? null : new ConsoleUpdateProgress(Console.Error, !Console.IsErrorRedirected, TimeProvider.System);

    private void Still()
    {
        lock (this)
        {
            // Downloads draw their own progress; the result line follows Done.
            if (_phase is null or UpdatePhase.Downloading or UpdatePhase.Done) return;
            var waited = Elapsed - _start.At;
            if (waited < StillEvery) return;
            _error.WriteLine($"doras: still {Format.Phase(_phase.Value)}{(_detail is null ? "" : " " + _detail)} ({Format.Duration(TimeSpan.FromSeconds(Math.Floor(waited.TotalSeconds)))})");
        }
    }

    public void Report(UpdateProgress value)
    {
        lock (this)
        {
            if (value.Phase != _phase)
            {
                if (_terminal && _phase == UpdatePhase.Downloading) _error.WriteLine();
                _phase = value.Phase;
                _detail = value.Detail;
                _start = (Elapsed, value.Bytes);
                // Done needs no line of its own: the result line that follows says how it ended, in words.
                if (value.Phase is not (UpdatePhase.Downloading or UpdatePhase.Done))
                    _error.WriteLine($"doras: {Format.Phase(value.Phase)}{(value.Detail is null ? "" : " " + value.Detail)}");
            }
            if (value.Phase != UpdatePhase.Downloading || value.Total is not { } total) return;
            var now = Elapsed;
            var done = value.Bytes >= total;
            if (!done && now - _lastDraw < TimeSpan.FromMilliseconds(_terminal ? 200 : 5000)) return;
            _lastDraw = now;
            var seconds = (now - _start.At).TotalSeconds;
            var rate = (value.Bytes - _start.Bytes) / Math.Max(0.001, seconds);
            // A rate needs some time and bytes behind it: no "0 B/s, ETA 00:00" in the first instants.
            var speed = done ? "" : seconds < 1 || rate <= 0 ? ", estimating time left"
                : $", {Format.Bytes((long)rate)}/s, {Format.Duration(TimeSpan.FromSeconds(Math.Ceiling((total - value.Bytes) / rate)))} left";
            var line = $"doras: downloading {Format.Bytes(value.Bytes)} of {Format.Bytes(total)}{speed}";
            if (_terminal) _error.Write("\r" + line.PadRight(70));
            else _error.WriteLine(line);
        }
    }
}
