using System.CommandLine;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Octodiff;
using Doras.Oci.IO;
using Doras.Oci.Model;

namespace Doras.DeltaTool;

/// <summary>
/// The three commands. Every output is written beside its destination and renamed into place only when
/// complete (and, for apply, verified), so a failed run never leaves a file that passes as a result. A file already at
/// the destination is the user's: it is replaced only with <c>--replace-existing</c>, checked before any work starts and
/// again by the rename itself.
/// </summary>
internal static class DeltaCommands
{
    public static Command Diff()
    {
        var algorithm = new Option<string>("--algorithm", "-a") { Description = $"{Algorithms(19, 0).Listing}, or auto (the smallest, chosen as the server chooses)", DefaultValueFactory = _ => ZstdPatchAlgorithm.AlgorithmName };
        var kind = new Option<ArtifactKind>("--kind") { Description = "auto: what the versions are, as the server sees them: File, or Directory (a tar of the tree)", DefaultValueFactory = _ => ArtifactKind.File };
        var budget = new Option<double>("--budget") { Description = "auto: seconds after which no further candidate is tried (the server's Delta:AutoBudget)", DefaultValueFactory = _ => SmallestDelta.DefaultBudget.TotalSeconds };
        var level = new Option<int>("--level") { Description = "zstd level (1-22)", DefaultValueFactory = _ => 19 };
        var workers = new Option<int>("--workers") { Description = "zstd worker threads (0: single-threaded)" };
        var signature = new Option<string?>("--signature") { Description = "Make a raw Octodiff delta from an Octodiff signature instead of the old file: diff --signature SIG NEW DELTA" };
        var paths = new Argument<string[]>("paths") { Description = "OLD NEW DELTA (or NEW DELTA with --signature)", Arity = new ArgumentArity(2, 3) };
        var warmRuns = new Option<int>("--warm-runs")
        {
            Description = "Benchmarks: build the delta this many times in this process, keep the last, and print its CPU time (a running server's JIT and caches are warm; one build pays their start-up)",
            DefaultValueFactory = _ => 1,
        };
        var replace = ReplaceExisting();
        var command = new Command("diff", "Make a delta from OLD to NEW") { algorithm, kind, budget, level, workers, signature, warmRuns, replace, paths };
        command.SetAction(async (result, ct) =>
        {
            var files = result.GetValue(paths)!;
            if (result.GetValue(signature) is { } signaturePath)
            {
                if (files.Length != 2) throw new ArgumentException("diff --signature takes NEW and DELTA");
                var destination = new Destination(files[1], result.GetValue(replace));
                OctodiffSignature parsed;
                await using (var signatureFile = File.OpenRead(signaturePath)) parsed = OctodiffSignature.Read(signatureFile);
                await using var newFile = File.OpenRead(files[0]);
                await destination.WriteAsync((output, _) => { OctodiffDelta.Write(parsed, newFile, output, ct); return Task.CompletedTask; }, ct);
                return 0;
            }
            if (files.Length != 3) throw new ArgumentException("diff takes OLD, NEW and DELTA");
            var delta = new Destination(files[2], result.GetValue(replace));
            var name = result.GetValue(algorithm)!;
            var algorithms = Algorithms(result.GetValue(level), result.GetValue(workers));
            var runs = result.GetValue(warmRuns);
            if (runs < 1) throw new ArgumentException("--warm-runs must be at least 1");
            Func<Destination, bool, Task> build;
            if (string.Equals(name, DeltaAlgorithms.Auto, StringComparison.OrdinalIgnoreCase))
                build = (to, quiet) => AutoAsync(algorithms, result.GetValue(kind), TimeSpan.FromSeconds(result.GetValue(budget)), files, to, quiet, ct);
            else
            {
                var chosen = algorithms.Find(name)
                    ?? throw new ArgumentException($"unknown algorithm '{name}'; known: {string.Join(", ", algorithms.AcceptedNames.Order(StringComparer.Ordinal))}");
                build = async (to, _) =>
                {
                    var oldInput = await InputAsync(files[0], ct);
                    var newInput = await InputAsync(files[1], ct);
                    await to.WriteAsync((output, token) => chosen.EncodeAsync(oldInput, newInput, output, token), ct);
                };
            }
            await WarmBuilds.RunAsync(runs, delta, build);
            return 0;
        });
        return command;
    }

    public static Command Apply()
    {
        var paths = new Argument<string[]>("paths") { Description = "OLD DELTA OUT", Arity = new ArgumentArity(3, 3) };
        var replace = ReplaceExisting();
        var command = new Command("apply", "Apply DELTA to OLD, writing OUT (ours with a header, raw Octodiff, or raw zstd --patch-from)") { replace, paths };
        command.SetAction(async (result, ct) =>
        {
            var files = result.GetValue(paths)!;
            var destination = new Destination(files[2], result.GetValue(replace));
            // Read synchronously: the decoders read it inline, and each asynchronous refill would hop to the thread pool.
            await using var delta = new FileStream(files[1], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            var (header, _) = await DeltaHeader.ReadAsync(delta, ct);
            delta.Position = 0;
            var magic = new byte[9];
            await delta.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, ct);
            delta.Position = 0;

            if (header is null && magic.AsSpan().SequenceEqual("OCTODELTA"u8))
            {
                await destination.WriteAsync((output, token) => OctodiffDelta.ApplyAsync(files[0], delta, output, ct: token), ct);
                return 0;
            }
            // Ours names its algorithm, base and target; a bare zstd frame is `zstd --patch-from` output.
            var algorithm = Algorithms(3, 0).Find(header?.Algorithm ?? ZstdPatchAlgorithm.AlgorithmName)
                ?? throw new InvalidDataException($"the delta was made by '{header!.Algorithm}', which this build does not know");
            if (header is null)
            {
                var oldInput = FileDigest.Input(files[0], ct: ct);
                await destination.WriteAsync((output, token) => algorithm.ApplyAsync(oldInput, delta, output, null, token), ct);
                return 0;
            }
            // Known target: decode in place (bounded memory), verify the digest, then rename into place.
            var target = new DeltaTarget(header.TargetDigest, header.TargetSize);
            var temp = destination.TemporaryBeside();
            try
            {
                var installed = new BaseCheck(files[0], header, ct);
                (Digest Digest, long Size) written;
                try
                {
                    // Hashed while written where the algorithm can, else read back once written.
                    if (algorithm is IDigestingApply digesting)
                        written = await digesting.ApplyToFileDigestingAsync(installed.Claimed, delta, temp, target, ct);
                    else
                    {
                        await algorithm.ApplyToFileAsync(installed.Claimed, delta, temp, target, ct);
                        var read = FileDigest.Input(temp, target.Digest.Algorithm, ct);
                        written = (read.Digest, read.Size);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    installed.ExplainFailure(); // another base explains a failed apply better than the apply's own error
                    throw;
                }
                if (written.Digest != target.Digest || written.Size != target.Size)
                {
                    installed.ExplainFailure();
                    throw new CorruptDeltaException($"applying the delta gave {written.Digest} ({written.Size} bytes), not the target {target.Digest} ({target.Size} bytes)");
                }
                destination.MoveIntoPlace(temp);
            }
            catch
            {
                Durable.TryDelete(temp);
                throw;
            }
            return 0;
        });
        return command;
    }

    public static Command Signature()
    {
        var chunkSize = new Option<int>("--chunk-size") { Description = "Chunk size in bytes (128-31744)", DefaultValueFactory = _ => OctodiffSignature.DefaultChunkSize };
        var paths = new Argument<string[]>("paths") { Description = "OLD SIG", Arity = new ArgumentArity(2, 2) };
        var replace = ReplaceExisting();
        var command = new Command("signature", "Write the Octodiff signature of OLD") { chunkSize, replace, paths };
        command.SetAction(async (result, ct) =>
        {
            var files = result.GetValue(paths)!;
            var destination = new Destination(files[1], result.GetValue(replace));
            await using var old = new FileStream(files[0], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await destination.WriteAsync((output, token) => OctodiffSignature.WriteAsync(old, output, result.GetValue(chunkSize), token), ct);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The server's <c>auto</c> over all our algorithms: the same candidates, order, budget and verification, so the
    /// delta written is byte for byte the one the server would store. Prints the choice and every candidate's size.
    /// </summary>
    private static async Task AutoAsync(DeltaAlgorithms algorithms, ArtifactKind kind, TimeSpan budget, string[] files, Destination delta, bool quiet, CancellationToken ct)
    {
        var choice = algorithms.Choose([DeltaAlgorithms.Auto], kind)
            ?? throw new ArgumentException(algorithms.WhyNone([DeltaAlgorithms.Auto], kind));
        var oldInput = await InputAsync(files[0], ct);
        var newInput = await InputAsync(files[1], ct);
        var work = Path.ChangeExtension(delta.TemporaryBeside(), ".auto");
        Directory.CreateDirectory(work);
        try
        {
            var (smallest, built) = await new SmallestDelta(budget).BuildAsync(choice.Candidates, oldInput, newInput, work, ct: ct);
            // The chosen delta is already a file beside the destination (the work directory is): made durable and
            // renamed into place, not copied.
            Durable.FsyncFile(smallest.Path);
            delta.MoveIntoPlace(smallest.Path);
            if (!quiet) Console.WriteLine($"auto: {smallest.Algorithm.Name}, {smallest.Size} bytes (candidates: {string.Join(" ", built.Select(b => $"{b.Algorithm.Name}={b.Size}"))})");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static DeltaAlgorithms Algorithms(int level, int workers) => DeltaAlgorithms.Default(level, workers);

    private static async Task<DeltaInput> InputAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return new DeltaInput(path, await Digest.ComputeAsync(file, Digest.Sha256, ct), file.Length);
    }

    private static Option<bool> ReplaceExisting() =>
        new("--replace-existing") { Description = "Replace a file already at the output (default: refuse and leave it untouched)" };
}
