using System.Text.Json;
using System.Text.Json.Serialization;
using Doras.Oci;
using Doras.Oci.IO;

namespace Doras.EdgeClient.Updates;

/// <summary>A cap on the bytes downloaded in a rolling period, for metered links.</summary>
public sealed record DataBudgetOptions
{
    public required long MaxBytes { get; init; }
    public TimeSpan Period { get; init; } = TimeSpan.FromDays(1);
}

/// <summary>A download would take more of the data budget than is left; says when enough is free again.</summary>
public sealed class DataBudgetExceededException(string message, DateTimeOffset? availableAt) : IOException(message), IFailure
{
    public FailureKind Kind => FailureKind.OverBudget;

    /// <summary>When enough of the budget is free again (null: the download is larger than the whole budget).</summary>
    public DateTimeOffset? AvailableAt { get; } = availableAt;
}

/// <summary>
/// The ledger of bytes downloaded in the work directory (<c>budget.json</c>, written atomically). A download
/// first reserves what it still needs, so a process killed mid-download counts those bytes (the safe side on
/// a metered link); when the download ends, the reservation is settled to what actually came over the wire.
/// </summary>
internal sealed class DataBudget(string path, DataBudgetOptions options, TimeProvider time)
{
    public async Task<string> ReserveAsync(long bytes, string what, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var entries = Load(now);
        var used = entries.Sum(e => e.Bytes);
        if (used + bytes > options.MaxBytes)
            throw new DataBudgetExceededException(
                $"downloading {what} ({bytes} bytes) would exceed the data budget of {options.MaxBytes} bytes per {Format.Duration(options.Period)}: " +
                $"{used} bytes were downloaded in the last {Format.Duration(options.Period)}" + (AvailableAt(entries, bytes) is { } at ? $"; enough is free again at {at:u}" : ", and it is larger than the whole budget"),
                AvailableAt(entries, bytes));
        var entry = new Entry(Guid.NewGuid().ToString("N"), now, bytes);
        await SaveAsync([.. entries, entry], ct).ConfigureAwait(false);
        return entry.Id;
    }

    /// <summary>Replaces a reservation by the bytes that were actually transferred.</summary>
    public async Task SettleAsync(string id, long transferred)
    {
        var entries = Load(time.GetUtcNow()).Select(e => e.Id == id ? e with { Bytes = transferred } : e).Where(e => e.Bytes > 0);
        await SaveAsync([.. entries], CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The earliest time at which dropping the oldest entries leaves room for <paramref name="bytes"/>.</summary>
    private DateTimeOffset? AvailableAt(IReadOnlyList<Entry> entries, long bytes)
    {
        if (bytes > options.MaxBytes) return null;
        var remaining = entries.Sum(e => e.Bytes);
        foreach (var entry in entries.OrderBy(e => e.At))
        {
            remaining -= entry.Bytes;
            if (remaining + bytes <= options.MaxBytes) return entry.At + options.Period;
        }
        return time.GetUtcNow();
    }

    /// <summary>The entries still inside the period; an unreadable ledger counts as empty rather than blocking updates forever.</summary>
    private List<Entry> Load(DateTimeOffset now)
    {
        try
        {
            var ledger = JsonSerializer.Deserialize(File.ReadAllBytes(path), DataBudgetJson.Default.Ledger);
            return ledger?.Entries.Where(e => e.At > now - options.Period).ToList() ?? [];
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return [];
        }
    }

    private Task SaveAsync(List<Entry> entries, CancellationToken ct) =>
        Durable.WriteAllBytesAtomicAsync(path, JsonSerializer.SerializeToUtf8Bytes(new Ledger(entries), DataBudgetJson.Default.Ledger), ct);

    internal sealed record Ledger([property: JsonPropertyName("entries")] List<Entry> Entries);

    internal sealed record Entry(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("at")] DateTimeOffset At,
        [property: JsonPropertyName("bytes")] long Bytes);
}

[JsonSerializable(typeof(DataBudget.Ledger))]
internal sealed partial class DataBudgetJson : JsonSerializerContext;
