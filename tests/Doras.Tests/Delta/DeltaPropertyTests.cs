using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Octodiff;
using Doras.Oci.Model;
using FsCheck;
using FsCheck.Fluent;
using TestData = Doras.Tests.Support.TestData;

namespace Doras.Tests.Delta;

/// <summary>
/// Property-based: for random inputs (random or structured bytes, empty to 200 KiB) and random edits (inserts,
/// deletes, overwrites), every algorithm's delta applies to exactly the new version. FsCheck shrinks a failure
/// to a small case; the cases are bounded so the suite stays quick.
/// </summary>
public class DeltaPropertyTests
{
    /// <summary>A version pair: kind of content, size, seeds and number of edits.</summary>
    public sealed record Pair(bool Structured, int Size, int Seed, int EditSeed, int Edits)
    {
        public byte[] Old => Structured ? TestData.Binary(Size, Seed) : TestData.Random(Size, Seed);
        public byte[] New => Size == 0 ? TestData.Random(EditSeed % 300, EditSeed) : TestData.Edit(Old, EditSeed, Edits);
    }

    private static readonly Arbitrary<Pair> Pairs = (
            from structured in Gen.Elements(true, false)
            from size in Gen.OneOf(Gen.Constant(0), Gen.Choose(1, 300), Gen.Choose(300, 200_000))
            from seed in Gen.Choose(0, 1_000_000)
            from editSeed in Gen.Choose(0, 1_000_000)
            from edits in Gen.Choose(0, 40)
            select new Pair(structured, size, seed, editSeed, edits))
        .ToArbitrary();

    private static readonly Config Cases = Config.QuickThrowOnFailure.WithMaxTest(25);

    [TestCase("zstd")]
    [TestCase("bsdiff")]
    [TestCase("bsdiff-lzma")]
    [TestCase("octodiff")]
    public void Every_delta_applies_to_exactly_the_new_version(string name)
    {
        var algorithm = DeltaAlgorithms.Default(zstdLevel: 3).Find(name)!;
        Check.One(Cases, Prop.ForAll(Pairs, pair =>
        {
            using var dir = new TempDirectory();
            var (old, @new) = (pair.Old, pair.New);
            var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
            var newInput = new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length);
            var delta = new MemoryStream();
            algorithm.EncodeAsync(oldInput, newInput, delta).GetAwaiter().GetResult();
            algorithm.ApplyToFileAsync(oldInput, new MemoryStream(delta.ToArray()), dir["out"], new DeltaTarget(newInput.Digest, newInput.Size)).GetAwaiter().GetResult();
            return File.ReadAllBytes(dir["out"]).AsSpan().SequenceEqual(@new);
        }));
    }

    /// <summary>
    /// The apply reads the old version through a 256 KiB window; versions past it whose blocks move around (forwards
    /// and backwards) make it refill from anywhere, and the byte differences are added a vector at a time with a
    /// tail of any length.
    /// </summary>
    [Test]
    public void Bsdiff_round_trips_when_matches_jump_around_an_old_version_larger_than_its_read_window()
    {
        var shuffles = (from size in Gen.Choose(300_000, 1_200_000)
                        from seed in Gen.Choose(0, 1_000_000)
                        from blocks in Gen.Choose(2, 24)
                        from edits in Gen.Choose(0, 30)
                        select (size, seed, blocks, edits)).ToArbitrary();
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(10), Prop.ForAll(shuffles, p =>
        {
            using var dir = new TempDirectory();
            var old = TestData.Binary(p.size, p.seed);
            var cuts = new Random(p.seed).GetItems(Enumerable.Range(1, p.size - 1).ToArray(), p.blocks - 1).Append(0).Append(p.size).Distinct().Order().ToArray();
            var pieces = cuts.Zip(cuts.Skip(1), (from, to) => old[from..to]).ToArray();
            new Random(p.seed + 1).Shuffle(pieces);
            var @new = TestData.Edit([.. pieces.SelectMany(b => b)], p.seed + 2, p.edits);
            var records = new MemoryStream();
            Doras.Delta.Bsdiff.BsdiffDelta.Write(old, @new, records);
            var output = new MemoryStream();
            Doras.Delta.Bsdiff.BsdiffDelta.ApplyAsync(dir.Write("old", old), new MemoryStream(records.ToArray()), output, long.MaxValue).GetAwaiter().GetResult();
            return output.ToArray().AsSpan().SequenceEqual(@new);
        }));
    }

    [Test]
    public void Raw_octodiff_deltas_round_trip_at_any_chunk_size()
    {
        var chunkSizes = Gen.Choose(128, 31 * 1024).ToArbitrary();
        Check.One(Cases, Prop.ForAll(Pairs, chunkSizes, (pair, chunkSize) =>
        {
            using var dir = new TempDirectory();
            var (old, @new) = (pair.Old, pair.New);
            var signature = new MemoryStream();
            OctodiffSignature.WriteAsync(new MemoryStream(old), signature, chunkSize).GetAwaiter().GetResult();
            signature.Position = 0;
            var delta = new MemoryStream();
            OctodiffDelta.Write(OctodiffSignature.Read(signature), new MemoryStream(@new), delta);
            var output = new MemoryStream();
            OctodiffDelta.ApplyAsync(dir.Write("old", old), new MemoryStream(delta.ToArray()), output).GetAwaiter().GetResult();
            return output.ToArray().AsSpan().SequenceEqual(@new);
        }));
    }

    [Test]
    public void A_delta_applied_to_another_base_never_passes_as_the_target()
    {
        var algorithms = DeltaAlgorithms.Default(zstdLevel: 3);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(15), Prop.ForAll(Pairs, pair =>
        {
            using var dir = new TempDirectory();
            var (old, @new) = (pair.Old, pair.New);
            var other = TestData.Edit(old, pair.Seed + 1, edits: 3);
            if (other.AsSpan().SequenceEqual(old)) return true; // nothing different to apply to
            var oldInput = new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length);
            var otherInput = new DeltaInput(dir.Write("other", other), Digest.Compute(other), other.Length);
            var newInput = new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length);
            foreach (var name in algorithms.Names)
            {
                var algorithm = algorithms.Find(name)!;
                var delta = new MemoryStream();
                try { algorithm.EncodeAsync(oldInput, newInput, delta).GetAwaiter().GetResult(); }
                catch (IncompatibleArtifactException) { continue; } // tardiff takes tar archives only
                try
                {
                    algorithm.ApplyToFileAsync(otherInput, new MemoryStream(delta.ToArray()), dir[$"out-{name}"], new DeltaTarget(newInput.Digest, newInput.Size)).GetAwaiter().GetResult();
                    return false; // the header names the base: applying to another must fail
                }
                catch (CorruptDeltaException e) when (e.Message.StartsWith("delta was made for base ", StringComparison.Ordinal)) { }
            }
            return true;
        }));
    }
}
