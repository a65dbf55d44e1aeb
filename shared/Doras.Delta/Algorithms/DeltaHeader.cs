using System.Buffers.Binary;
using System.Text;
using Doras.Oci.Model;

namespace Doras.Delta.Algorithms;

/// <summary>
/// Identifies the base and target of a delta, stored as a zstd skippable frame in front of the delta so
/// that plain `zstd -d --patch-from` passes over it, while our decoder refuses a delta made for another base
/// before producing a single byte.
/// Layout: u32 LE magic 0x184D2A5D, u32 LE payload length, payload = "DORASDLT", version 3,
/// base digest, base size (i64 LE), target digest, target size (i64 LE), algorithm name (u8 length + ASCII);
/// a digest is one byte naming its algorithm (1 sha256, 2 sha512) and the raw hash. Versions 1 and 2 (digests
/// as text; version 1 without a name, read as zstd) are still read.
/// </summary>
public sealed record DeltaHeader(Digest BaseDigest, long BaseSize, Digest TargetDigest, long TargetSize, string Algorithm = ZstdPatchAlgorithm.AlgorithmName)
{
    private const uint SkippableMagic = 0x184D2A5D;
    private static readonly byte[] Signature = "DORASDLT"u8.ToArray();
    private const byte Version = 3;
    private const int MaxPayload = 512;

    public byte[] ToBytes()
    {
        var algorithmText = Encoding.ASCII.GetBytes(Algorithm);
        var payload = new MemoryStream();
        payload.Write(Signature);
        payload.WriteByte(Version);
        WriteDigest(payload, BaseDigest);
        WriteInt64(payload, BaseSize);
        WriteDigest(payload, TargetDigest);
        WriteInt64(payload, TargetSize);
        payload.WriteByte((byte)algorithmText.Length);
        payload.Write(algorithmText);
        var bytes = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, SkippableMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)payload.Length);
        payload.ToArray().CopyTo(bytes, 8);
        return bytes;
    }

    private static void WriteInt64(Stream into, long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        into.Write(bytes);
    }

    private static void WriteDigest(Stream into, Digest digest)
    {
        into.WriteByte(digest.Algorithm switch
        {
            Digest.Sha256 => 1,
            Digest.Sha512 => 2,
            _ => throw new ArgumentException($"digest algorithm {digest.Algorithm} cannot be written in a delta header"),
        });
        into.Write(Convert.FromHexString(digest.Hex));
    }

    /// <summary>
    /// Reads a header from the start of <paramref name="delta"/> if there is one. Returns the header (or null)
    /// and the bytes read that were not a header, which belong to the delta proper.
    /// </summary>
    public static async Task<(DeltaHeader? Header, byte[] Unconsumed)> ReadAsync(Stream delta, CancellationToken ct)
    {
        var start = new byte[8];
        var got = await delta.ReadAtLeastAsync(start, 8, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        if (got < 8 || BinaryPrimitives.ReadUInt32LittleEndian(start) != SkippableMagic)
            return (null, start[..got]);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(start.AsSpan(4));
        if (length > MaxPayload) throw new CorruptDeltaException($"delta header claims {length} bytes, more than {MaxPayload}");
        var payload = new byte[length];
        try { await delta.ReadExactlyAsync(payload, ct).ConfigureAwait(false); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException("delta is truncated inside its header", e); }
        if (!payload.AsSpan().StartsWith(Signature)) return (null, [.. start, .. payload]); // someone else's skippable frame
        try { return (Parse(payload.AsSpan(Signature.Length)), []); }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            throw new CorruptDeltaException($"delta header is malformed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Reads the header, if any, and refuses a delta made by another algorithm, for another base, or for another
    /// target before a byte is produced. Returns the header and the rest of the delta as a stream.
    /// </summary>
    public static async Task<(DeltaHeader? Header, Stream Remainder)> ReadCheckedAsync(DeltaInput oldVersion, Stream delta, DeltaTarget? expected, string algorithm, CancellationToken ct)
    {
        var (header, unconsumed) = await ReadAsync(delta, ct).ConfigureAwait(false);
        if (header is not null)
        {
            if (header.Algorithm != algorithm)
                throw new CorruptDeltaException($"delta was made by the {header.Algorithm} algorithm, not {algorithm}");
            if (header.BaseDigest != oldVersion.Digest || header.BaseSize != oldVersion.Size)
                throw new CorruptDeltaException($"delta was made for base {header.BaseDigest} ({header.BaseSize} bytes), not for the installed {oldVersion.Digest} ({oldVersion.Size} bytes)");
            if (expected is not null && (header.TargetDigest != expected.Digest || header.TargetSize != expected.Size))
                throw new CorruptDeltaException($"delta produces {header.TargetDigest}, not the expected target {expected.Digest}");
        }
        return (header, unconsumed.Length == 0 ? delta : new ConcatenatedReadStream(new MemoryStream(unconsumed), delta));
    }

    private static DeltaHeader Parse(ReadOnlySpan<byte> p)
    {
        var version = p[0];
        if (version is not (1 or 2 or Version)) throw new FormatException($"unsupported header version {version}");
        p = p[1..];
        var baseDigest = ReadDigest(ref p, version);
        var baseSize = BinaryPrimitives.ReadInt64LittleEndian(p); p = p[8..];
        var targetDigest = ReadDigest(ref p, version);
        var targetSize = BinaryPrimitives.ReadInt64LittleEndian(p); p = p[8..];
        var algorithm = version == 1 ? ZstdPatchAlgorithm.AlgorithmName : Encoding.ASCII.GetString(p.Slice(1, p[0]));
        return new DeltaHeader(baseDigest, baseSize, targetDigest, targetSize, algorithm);
    }

    private static Digest ReadDigest(ref ReadOnlySpan<byte> p, byte version)
    {
        Digest digest;
        if (version < 3)
        {
            digest = Digest.Parse(Encoding.ASCII.GetString(p.Slice(1, p[0])));
            p = p[(1 + p[0])..];
            return digest;
        }
        var (algorithm, length) = p[0] switch
        {
            1 => (Digest.Sha256, 32),
            2 => (Digest.Sha512, 64),
            var other => throw new FormatException($"unknown digest algorithm {other}"),
        };
        digest = Digest.FromHash(algorithm, p.Slice(1, length));
        p = p[(1 + length)..];
        return digest;
    }
}
