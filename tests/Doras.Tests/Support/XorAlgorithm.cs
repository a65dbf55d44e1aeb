using Doras.Delta.Algorithms;

namespace Doras.Tests.Support;

/// <summary>
/// A toy delta defined only here, to prove an algorithm is its own files plus one registration line: the delta
/// header, then each byte of the new version xor the old version's byte at the same offset (zero past its end).
/// </summary>
public sealed class XorAlgorithm : IDeltaAlgorithm
{
    public const string AlgorithmName = "xor";

    public string Name => AlgorithmName;
    public string MediaType => "application/vnd.example.delta.xor";

    /// <summary>Slow on paper, and gives way to a stronger delta: the estimates and leave-out rules must see both.</summary>
    public DeltaAlgorithmProfile Profile { get; } = new() { Description = "a test's toy", BytesPerSecond = 1e6, LeftOut = Outclassed.Always };

    public async Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default)
    {
        await delta.WriteAsync(new DeltaHeader(oldVersion.Digest, oldVersion.Size, newVersion.Digest, newVersion.Size, Name).ToBytes(), ct);
        await using var source = File.OpenRead(newVersion.Path);
        await XorAsync(oldVersion.Path, source, delta, ct);
    }

    public async Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default)
    {
        var (_, remainder) = await DeltaHeader.ReadCheckedAsync(oldVersion, delta, expected, Name, ct);
        await XorAsync(oldVersion.Path, remainder, output, ct);
    }

    /// <summary>Xor is its own inverse: the same pass encodes and applies.</summary>
    private static async Task XorAsync(string oldPath, Stream input, Stream output, CancellationToken ct)
    {
        await using var old = File.OpenRead(oldPath);
        var (buffer, mask) = (new byte[1 << 16], new byte[1 << 16]);
        int read;
        while ((read = await input.ReadAsync(buffer, ct)) > 0)
        {
            var masked = await old.ReadAtLeastAsync(mask.AsMemory(0, read), read, throwOnEndOfStream: false, ct);
            Array.Clear(mask, masked, read - masked);
            for (var i = 0; i < read; i++) buffer[i] ^= mask[i];
            await output.WriteAsync(buffer.AsMemory(0, read), ct);
        }
    }
}
