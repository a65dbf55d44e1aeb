using Doras.Delta.Executables;

namespace Doras.Tests.Delta;

/// <summary>
/// A piece's shift from file offsets to addresses, looked up once, is what each of its bytes gets looked up alone:
/// the first segment holding the byte, of code where asked, even where segments overlap in the file.
/// </summary>
public class AddressLayoutTests
{
    [Test]
    public void A_pieces_shift_is_each_of_its_bytes_address_or_there_is_none()
    {
        // Code at 0x1000-0x3000, overlapping data at 0x2800-0x5000 after it in the table, then code again at 0x6000-0x7000
        // that an earlier data segment holds first.
        var layout = new AddressLayout([
            new LoadSegment(0x1000, 0x401000, 0x2000, 0x2000, Executable: true),
            new LoadSegment(0x2800, 0x602800, 0x2800, 0x3000, Executable: false),
            new LoadSegment(0x5800, 0x805800, 0x1000, 0x1000, Executable: false),
            new LoadSegment(0x6000, 0xA06000, 0x1000, 0x1000, Executable: true),
        ]);
        var random = new Random(5);
        for (var k = 0; k < 20_000; k++)
        {
            var start = random.Next(0, 0x7800);
            var end = start + random.Next(1, 0x1200);
            foreach (var codeOnly in new[] { true, false })
            {
                if (!layout.TryShiftOf(start, end, codeOnly, out var shift)) continue;
                for (var offset = start; offset < end; offset += random.Next(1, 64))
                {
                    var found = codeOnly ? layout.TryCodeAddressOf(offset, out var address) : layout.TryAddressOf(offset, out address);
                    Assert.That(found && address == offset + shift, $"[{start:x}, {end:x}) code only {codeOnly}: byte {offset:x}");
                }
            }
        }
        Assert.That(layout.TryShiftOf(0x2000, 0x2900, codeOnly: false, out var inCode), Is.True, "the code segment is first in the table");
        Assert.That(inCode, Is.EqualTo(0x400000));
        Assert.That(layout.TryShiftOf(0x2F00, 0x3100, codeOnly: false, out _), Is.False, "code, then data: two segments");
        Assert.That(layout.TryShiftOf(0x5F00, 0x6100, codeOnly: true, out _), Is.False, "part of it is no code");
        Assert.That(layout.TryShiftOf(0x6000, 0x6100, codeOnly: true, out var code), Is.True);
        Assert.That(code, Is.EqualTo(0xA00000));
        Assert.That(layout.TryShiftOf(0x6000, 0x6100, codeOnly: false, out var first), Is.True, "the data segment holds it first");
        Assert.That(first, Is.EqualTo(0x800000));
    }
}
