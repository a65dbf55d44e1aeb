using System.Text;
using Doras.Delta.Algorithms;
using Doras.Oci.Model;

namespace Doras.Delta.Images;

/// <summary>What the delta says of one layer of the new image, in manifest order.</summary>
public abstract record LayerPlan
{
    /// <summary>The device holds a blob with this digest already (a layer of its old image).</summary>
    public sealed record Held : LayerPlan;

    /// <summary>Nothing here is smaller than the layer, or it cannot be reproduced: the device downloads the blob itself.</summary>
    public sealed record Fetch : LayerPlan;

    /// <summary>A non-distributable layer: passed through untouched (neither in the delta nor downloaded).</summary>
    public sealed record Foreign : LayerPlan;

    /// <summary>
    /// The layer's tar is made from the base by <paramref name="Algorithm"/>'s delta (<paramref name="DeltaLength"/>
    /// bytes that follow in the file), checked against the diff_id and <paramref name="TarSize"/>, then compressed back
    /// by <paramref name="Recipe"/>.
    /// </summary>
    public sealed record Rebuilt(LayerRecipe Recipe, string Algorithm, long TarSize, long DeltaLength) : LayerPlan;
}

/// <summary>
/// The fixed part of an image delta: which images (by manifest digest) and which base. The new manifest and config
/// are not in it: the device reads them from the registry before it asks (it must know the target's layers), so
/// they would cost bytes twice.
/// </summary>
public sealed record ImageDeltaHeader(Digest From, Digest To, Digest BaseDigest, long BaseSize);

/// <summary>
/// An image delta's one blob (<see cref="MediaType"/>): everything a device needs to turn its old image into the
/// registry's new one, exactly. Layout: the magic <c>DORASIMG</c> and version 1; from and to manifest digests, base
/// digest (short strings) and base size (varint); the layer count (varint) and per layer one <see cref="LayerPlan"/>: a kind
/// byte (0 held, 1 fetch, 2 foreign, 3 rebuilt), and for rebuilt layers the <see cref="LayerRecipe"/>, the inner
/// algorithm's name (short string), the tar's size and the inner delta's length (varints), then the inner delta
/// (complete, with its own header). Readers refuse anything over the limits below before allocating for it.
/// </summary>
public static class ImageDeltaFile
{
    public const string MediaType = "application/vnd.doras.delta.image.v1";
    public const string AlgorithmName = "image";
    private static readonly byte[] Magic = "DORASIMG"u8.ToArray();
    private const byte Version = 1;
    /// <summary>A gzip recipe's limit: far above what a real stream needs (its side data is a small part of the layer).</summary>
    public const long MaxRecipeBytes = 64L << 20;
    private const byte HeldKind = 0, FetchKind = 1, ForeignKind = 2, RebuiltKind = 3;
    private const string What = "image delta";

    public static void WriteHeader(Stream output, ImageDeltaHeader header, int layerCount)
    {
        output.Write(Magic);
        output.WriteByte(Version);
        ShortString.Write(output, header.From.ToString());
        ShortString.Write(output, header.To.ToString());
        ShortString.Write(output, header.BaseDigest.ToString());
        Varint.Write(output, header.BaseSize);
        Varint.Write(output, (long)layerCount);
    }

    /// <summary>Writes one layer's plan; for a rebuilt layer, the inner delta's bytes are copied from <paramref name="innerDelta"/> after it.</summary>
    public static async Task WriteLayerAsync(Stream output, LayerPlan plan, Stream? innerDelta, CancellationToken ct)
    {
        var record = new MemoryStream();
        switch (plan)
        {
            case LayerPlan.Held: record.WriteByte(HeldKind); break;
            case LayerPlan.Fetch: record.WriteByte(FetchKind); break;
            case LayerPlan.Foreign: record.WriteByte(ForeignKind); break;
            case LayerPlan.Rebuilt rebuilt:
                record.WriteByte(RebuiltKind);
                rebuilt.Recipe.WriteTo(record);
                ShortString.Write(record, rebuilt.Algorithm);
                Varint.Write(record, rebuilt.TarSize);
                Varint.Write(record, rebuilt.DeltaLength);
                break;
        }
        await output.WriteAsync(record.ToArray(), ct).ConfigureAwait(false);
        if (plan is LayerPlan.Rebuilt r)
        {
            var bounded = new BoundedReadStream(innerDelta ?? throw new ArgumentNullException(nameof(innerDelta)), r.DeltaLength, truncated: "the inner delta is shorter than its stated length");
            await bounded.CopyToAsync(output, 1 << 16, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the header, checking what can be checked here: the magic, the version, the limits.</summary>
    public static (ImageDeltaHeader Header, int LayerCount) ReadHeader(Stream input)
    {
        var magic = new byte[Magic.Length];
        ReadExactly(input, magic);
        if (!magic.AsSpan().SequenceEqual(Magic)) throw new CorruptDeltaException($"this is not an {What} (wrong magic)");
        var version = ReadByte(input);
        if (version != Version) throw new CorruptDeltaException($"{What} has version {version}; this build reads version {Version}");
        var from = ReadDigest(input);
        var to = ReadDigest(input);
        var baseDigest = ReadDigest(input);
        var baseSize = Varint.ReadLength(input, What);
        var count = Varint.ReadLength(input, What);
        if (count > Oci.Images.ImageConfigFile.MaxLayers) throw new CorruptDeltaException($"{What} plans {count} layers, over the limit of {Oci.Images.ImageConfigFile.MaxLayers}");
        return (new ImageDeltaHeader(from, to, baseDigest, baseSize), (int)count);
    }

    /// <summary>Reads one layer's plan; for a rebuilt layer the next <c>DeltaLength</c> bytes of the input are its inner delta.</summary>
    public static LayerPlan ReadLayer(Stream input)
    {
        switch (ReadByte(input))
        {
            case HeldKind: return new LayerPlan.Held();
            case FetchKind: return new LayerPlan.Fetch();
            case ForeignKind: return new LayerPlan.Foreign();
            case RebuiltKind:
                var recipe = LayerRecipe.ReadFrom(input, MaxRecipeBytes, What);
                var algorithm = ShortString.Read(input, $"{What} is truncated");
                return new LayerPlan.Rebuilt(recipe, algorithm, Varint.ReadLength(input, What), Varint.ReadLength(input, What));
            case var other: throw new CorruptDeltaException($"{What} has an unknown layer kind {other}");
        }
    }

    /// <summary>The inner delta of a rebuilt layer, as a stream that ends where it does (a truncated file is a clear error).</summary>
    public static Stream InnerDelta(Stream input, LayerPlan.Rebuilt plan) =>
        new BoundedReadStream(input, plan.DeltaLength, truncated: $"{What} is truncated inside a layer's delta");

    private static Digest ReadDigest(Stream input) =>
        Digest.TryParse(ShortString.Read(input, $"{What} is truncated"), out var digest) ? digest : throw new CorruptDeltaException($"{What} has a malformed digest");

    private static byte ReadByte(Stream input) =>
        input.ReadByte() is var b and >= 0 ? (byte)b : throw new CorruptDeltaException($"{What} is truncated");

    private static void ReadExactly(Stream input, byte[] buffer)
    {
        try { input.ReadExactly(buffer); }
        catch (EndOfStreamException e) { throw new CorruptDeltaException($"{What} is truncated", e); }
    }
}
