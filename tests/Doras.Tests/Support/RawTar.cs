using System.Text;

namespace Doras.Tests.Support;

/// <summary>
/// A tar written byte by byte (ustar headers with their checksums), so a test can express any archive,
/// including what TarWriter would refuse to write: names with '..', links anywhere, the same name twice.
/// </summary>
public sealed class RawTar
{
    public static readonly DateTimeOffset DefaultTime = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);
    private readonly MemoryStream _bytes = new();

    public RawTar File(string name, string content = "x", string mode = "644", DateTimeOffset? time = null) =>
        Entry('0', name, "", mode, Encoding.UTF8.GetBytes(content), time);

    public RawTar File(string name, byte[] content, string mode = "644", DateTimeOffset? time = null) =>
        Entry('0', name, "", mode, content, time);

    public RawTar Directory(string name, string mode = "755", DateTimeOffset? time = null) => Entry('5', name, "", mode, [], time);

    public RawTar Symlink(string name, string target) => Entry('2', name, target, "777", [], null);

    public RawTar HardLink(string name, string source) => Entry('1', name, source, "644", [], null);

    public RawTar Entry(char type, string name, string linkName, string mode, byte[] content, DateTimeOffset? time)
    {
        // Names that do not fit the header go in a pax extended header before it, as tar does.
        if (Encoding.UTF8.GetByteCount(name) > 100 || Encoding.UTF8.GetByteCount(linkName) > 100)
        {
            var records = new StringBuilder();
            if (Encoding.UTF8.GetByteCount(name) > 100) records.Append(PaxRecord("path", name));
            if (Encoding.UTF8.GetByteCount(linkName) > 100) records.Append(PaxRecord("linkpath", linkName));
            Entry('x', "PaxHeaders/entry", "", "644", Encoding.UTF8.GetBytes(records.ToString()), time);
            name = name[..Math.Min(name.Length, 99)];
            linkName = linkName[..Math.Min(linkName.Length, 99)];
        }
        var header = new byte[512];
        void Put(int offset, int length, string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            if (bytes.Length > length) throw new ArgumentException($"'{text}' does not fit in {length} bytes");
            bytes.CopyTo(header, offset);
        }
        string Octal(long value, int width) => Convert.ToString(value, 8).PadLeft(width - 1, '0'); // then a NUL
        Put(0, 100, name);
        Put(100, 8, Convert.ToString(Convert.ToInt32(mode, 8), 8).PadLeft(7, '0'));
        Put(108, 8, Octal(0, 8));
        Put(116, 8, Octal(0, 8));
        Put(124, 12, Octal(content.Length, 12));
        Put(136, 12, Octal((time ?? DefaultTime).ToUnixTimeSeconds(), 12));
        Put(148, 8, "        "); // the checksum counts its own field as spaces
        header[156] = (byte)type;
        Put(157, 100, linkName);
        Put(257, 6, "ustar");
        Put(263, 2, "00");
        Put(265, 32, "root");
        Put(297, 32, "root");
        Put(148, 8, Convert.ToString(header.Sum(b => b), 8).PadLeft(6, '0') + "\0 ");
        _bytes.Write(header);
        _bytes.Write(content);
        _bytes.Write(new byte[(512 - content.Length % 512) % 512]);
        return this;
    }

    /// <summary>"LENGTH key=value\n", where LENGTH counts the whole record, its own digits included.</summary>
    private static string PaxRecord(string key, string value)
    {
        var body = $" {key}={value}\n";
        var length = Encoding.UTF8.GetByteCount(body);
        var digits = length.ToString().Length;
        if ((length + digits).ToString().Length > digits) digits++;
        return $"{length + digits}{body}";
    }

    /// <summary>The archive, with its two zero blocks at the end.</summary>
    public MemoryStream ToStream()
    {
        var stream = new MemoryStream();
        _bytes.WriteTo(stream);
        stream.Write(new byte[1024]);
        stream.Position = 0;
        return stream;
    }
}
