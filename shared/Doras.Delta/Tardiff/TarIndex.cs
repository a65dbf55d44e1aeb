using System.Text;
using Doras.Delta.Artifacts;
using Doras.Delta.Zstd;

namespace Doras.Delta.Tardiff;

/// <summary>
/// One member of a tar archive as it lies in the archive's bytes: its headers (including the pax or GNU
/// long-name entries in front of it) from <see cref="Start"/> to <see cref="DataStart"/>, then its data and
/// the padding to the next 512-byte block, up to <see cref="End"/>.
/// </summary>
public sealed record TarMember(string Path, char Type, long Start, long DataStart, long DataSize, long End)
{
    public bool IsRegularFile => Type is '0' or '\0' or '7';
    public long HeaderLength => DataStart - Start;
    public long DataLength => End - DataStart;
}

/// <summary>
/// The members of a tar archive (ustar, pax, GNU and v7 headers), found by walking its headers. Only what a
/// delta needs: where each member lies and what path it has; the archive is not extracted or trusted.
/// </summary>
public static class TarIndex
{
    private const int Block = 512;

    /// <summary>The members, and where the end-of-archive blocks begin. Throws <see cref="IncompatibleArtifactException"/> for what is not a tar.</summary>
    public static (IReadOnlyList<TarMember> Members, long TrailerStart) Read(NativeView tar)
    {
        var members = new List<TarMember>();
        long offset = 0, memberStart = 0;
        string? longName = null;
        long? paxSize = null;
        while (true)
        {
            if (offset == tar.Length && memberStart == offset) return (members, offset); // no end-of-archive blocks: tolerated, as tar does
            if (offset + Block > tar.Length)
                throw new IncompatibleArtifactException($"not a tar archive: it ends inside a header at {offset}");
            var header = tar.Span(offset, Block);
            if (!header.ContainsAnyExcept((byte)0))
            {
                if (memberStart != offset) throw new IncompatibleArtifactException("not a tar archive: extended headers without a member");
                return (members, offset);
            }
            if (!ChecksumMatches(header))
                throw new IncompatibleArtifactException($"not a tar archive: bad header checksum at {offset}");
            var type = (char)header[156];
            var size = paxSize ?? ParseNumber(header.Slice(124, 12), offset);
            var dataStart = offset + Block;
            var end = dataStart + (size + Block - 1) / Block * Block;
            if (size < 0 || end > tar.Length)
                throw new IncompatibleArtifactException($"not a tar archive: a member at {offset} runs past its end");
            switch (type)
            {
                case 'x': // pax extended header for the next member
                    (var paxPath, paxSize) = ParsePax(tar, dataStart, size);
                    longName = paxPath ?? longName;
                    break;
                case 'L': // GNU long name for the next member
                    longName = NullTerminated(tar.Span(dataStart, (int)Math.Min(size, 1 << 20)));
                    break;
                case 'K': // GNU long link name: only the position matters here
                    break;
                default:
                    members.Add(new TarMember(longName ?? HeaderName(header), type, memberStart, dataStart, size, end));
                    longName = null;
                    paxSize = null;
                    memberStart = end;
                    break;
            }
            offset = end;
        }
    }

    private static bool ChecksumMatches(ReadOnlySpan<byte> header)
    {
        long sum = 0;
        for (var i = 0; i < Block; i++) sum += i is >= 148 and < 156 ? ' ' : header[i];
        return TryParseOctal(header.Slice(148, 8), out var stored) && stored == sum;
    }

    private static long ParseNumber(ReadOnlySpan<byte> field, long offset)
    {
        if ((field[0] & 0x80) != 0) // GNU base-256 for sizes over 8 GiB
        {
            long value = field[0] & 0x7F;
            foreach (var b in field[1..])
            {
                if (value > long.MaxValue >> 8) throw new IncompatibleArtifactException($"not a tar archive: size out of range at {offset}");
                value = value << 8 | b;
            }
            return value;
        }
        return TryParseOctal(field, out var octal) ? octal : throw new IncompatibleArtifactException($"not a tar archive: bad size at {offset}");
    }

    private static bool TryParseOctal(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        var digits = 0;
        foreach (var b in field)
        {
            if (b is (byte)' ' or 0) { if (digits > 0) break; continue; }
            if (b is < (byte)'0' or > (byte)'7' || value > long.MaxValue >> 3) return false;
            value = value << 3 | (long)(b - '0');
            digits++;
        }
        return true;
    }

    private static string HeaderName(ReadOnlySpan<byte> header)
    {
        var name = NullTerminated(header[..100]);
        // POSIX ustar ("ustar\0") keeps a path prefix; GNU's "ustar  " uses that space for other fields.
        var prefix = header.Slice(257, 6).SequenceEqual("ustar\0"u8) ? NullTerminated(header.Slice(345, 155)) : "";
        return prefix.Length > 0 ? prefix + "/" + name : name;
    }

    private static string NullTerminated(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }

    /// <summary>The path and size records of a pax header ("LEN key=value\n" records).</summary>
    private static (string? Path, long? Size) ParsePax(NativeView tar, long start, long size)
    {
        if (size > 1 << 20) throw new IncompatibleArtifactException("not a tar archive: a pax header over 1 MiB");
        var records = tar.Span(start, (int)size);
        string? path = null;
        long? paxSize = null;
        while (!records.IsEmpty)
        {
            // Each record's length (in bytes, itself included) comes first.
            var space = records.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(Encoding.ASCII.GetString(records[..space]), out var length) || length <= space + 2 || length > records.Length)
                break; // malformed: what was read so far is enough to match members
            var record = records[(space + 1)..(length - 1)];
            var equals = record.IndexOf((byte)'=');
            if (equals > 0)
            {
                var key = record[..equals];
                var value = Encoding.UTF8.GetString(record[(equals + 1)..]);
                if (key.SequenceEqual("path"u8)) path = value;
                else if (key.SequenceEqual("size"u8) && long.TryParse(value, out var s) && s >= 0) paxSize = s;
            }
            records = records[length..];
        }
        return (path, paxSize);
    }
}
