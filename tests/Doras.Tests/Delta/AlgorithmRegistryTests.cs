using System.Text.Json;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Deflate;
using Doras.Delta.Lzma;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Model;
using Doras.Server.Deltas;
using Microsoft.Extensions.DependencyInjection;

namespace Doras.Tests.Delta;

/// <summary>
/// One registry (<see cref="DeltaAlgorithms"/>): what it derives for our algorithms, stated literally, and that a toy
/// algorithm defined only in this project (<see cref="XorAlgorithm"/>) takes one registration line to be everywhere.
/// </summary>
public class AlgorithmRegistryTests
{
    private static readonly DeltaAlgorithms Ours = DeltaAlgorithms.Default();
    private static readonly DeltaAlgorithms WithToy = DeltaAlgorithms.Default().With(new XorAlgorithm()); // the registration line

    private static IEnumerable<string> Candidates(DeltaAlgorithms algorithms, ArtifactKind kind, params string[] accepted) =>
        algorithms.Choose(accepted, kind)!.Candidates.Select(a => a.Name);

    [Test]
    public void Our_algorithms_names_device_list_auto_order_and_help()
    {
        Assume.That(LzmaLibrary.IsAvailable && ZlibLibrary.IsAvailable, "a device without liblzma or zlib lists fewer");
        Assert.That(Ours.Names, Is.EqualTo(new[] { "bsdiff", "bsdiff-exe", "bsdiff-lzma", "deflate", "octodiff", "tardiff", "zstd" }));
        string[] deviceList = ["auto", "zstd", "bsdiff", "bsdiff-exe", "bsdiff-lzma", "octodiff", "tardiff", "deflate"];
        Assert.That(Ours.DeviceDefaults, Is.EqualTo(deviceList));
        Assert.That(DeltaRequest.DefaultAlgorithms, Is.EqualTo(deviceList));
        Assert.That(new UpdateOptions { Reference = "r", Output = "o" }.AcceptedAlgorithms, Is.EqualTo(deviceList));
        Assert.That(Candidates(Ours, ArtifactKind.File, "auto"), Is.EqualTo(new[] { "deflate", "bsdiff-exe", "bsdiff-lzma", "bsdiff", "zstd", "octodiff" }));
        Assert.That(Candidates(Ours, ArtifactKind.Directory, "auto"), Is.EqualTo(new[] { "tardiff", "bsdiff-exe", "bsdiff-lzma", "bsdiff", "zstd", "octodiff" }));
        Assert.That(Ours.Listing, Is.EqualTo("zstd, bsdiff, bsdiff-exe (x86-64 and ARM64 ELF files), bsdiff-lzma, octodiff, tardiff (tar archives), deflate (gzip files, zip archives)"));
    }

    [Test]
    public void A_name_registered_twice_or_one_clients_could_not_list_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Ours.With(new XorAlgorithm(), new XorAlgorithm()));
        foreach (var name in new[] { "auto", "a,b", "a+b", "Xor", "" })
            Assert.Throws<ArgumentException>(() => Ours.With(new Named(name)), name);
    }

    private sealed class Named(string name) : IDeltaAlgorithm
    {
        public string Name => name;
        public string MediaType => "application/vnd.example.named";
        public Task EncodeAsync(DeltaInput oldVersion, DeltaInput newVersion, Stream delta, CancellationToken ct = default) => throw new NotSupportedException();
        public Task ApplyAsync(DeltaInput oldVersion, Stream delta, Stream output, DeltaTarget? expected, CancellationToken ct = default) => throw new NotSupportedException();
    }

    [Test]
    public void A_toy_algorithm_is_in_the_names_the_device_list_autos_candidates_and_the_help()
    {
        Assert.That(WithToy.Names, Does.Contain("xor"));
        Assert.That(WithToy.AcceptedNames, Does.Contain("xor"));
        Assert.That(WithToy.Find("XOR"), Is.InstanceOf<XorAlgorithm>());
        Assert.That(WithToy.FindByMediaType("application/vnd.example.delta.xor"), Is.InstanceOf<XorAlgorithm>());
        Assert.That(WithToy.DeviceDefaults[^1], Is.EqualTo("xor"), "registered last, preferred last");
        Assert.That(Candidates(WithToy, ArtifactKind.File, "auto").Last(), Is.EqualTo("xor"), "built among the last, as a plain algorithm");
        Assert.That(Candidates(WithToy, ArtifactKind.Directory, "auto"), Does.Contain("xor"), "it applies to any kind");
        Assert.That(Candidates(WithToy, ArtifactKind.File, "xor", "auto"), Is.EqualTo(new[] { "xor" }));
        Assert.That(WithToy.Choose(["xor", "zstd"], ArtifactKind.File)!.Name, Is.EqualTo("xor"));
        Assert.That(WithToy.Choose(["auto"], ArtifactKind.File)!.Name, Is.EqualTo("auto:bsdiff+bsdiff-exe+bsdiff-lzma+deflate+octodiff+tardiff+xor+zstd"));
        Assert.That(WithToy.Listing, Does.EndWith(", xor (a test's toy)"));
        Assert.That(WithToy.WhyNone(["nope"], ArtifactKind.File), Does.Contain("xor"));
    }

    [Test]
    public void A_toy_algorithm_is_estimated_at_its_own_speed_and_left_out_as_its_profile_says()
    {
        var xor = WithToy.Find("xor")!;
        var lzma = WithToy.Find("bsdiff-lzma")!;
        var estimates = new BuildEstimates();
        Assert.That(estimates.Estimate([xor], 10_000_000).TotalSeconds, Is.EqualTo(1 + 10).Within(0.01), "1 MB/s as it says, plus the fixed overhead");
        estimates.Record("bsdiff-lzma", 100 << 20, TimeSpan.FromSeconds(10));
        Assert.That(estimates.Estimate([lzma, xor], 100 << 20, newBytes: 50 << 20).TotalSeconds, Is.EqualTo(1 + 10).Within(0.01), "left out after bsdiff-lzma");

        var built = new BuiltDelta(lzma, "", Digest.Compute([]), 100, TimeSpan.Zero);
        Assert.That(OutclassedCandidates.By(xor, [built], 2 << 20), Is.SameAs(built), "it gives way to a stronger delta past 1 MiB");
        Assert.That(OutclassedCandidates.By(xor, [built], 512 << 10), Is.Null, "not below");
    }

    [Test]
    public async Task A_toy_algorithm_round_trips_by_itself_and_through_auto()
    {
        using var dir = new TempDirectory();
        var old = TestData.Binary(300_000, 5);
        var @new = TestData.Edit(old, 6);
        var (oldInput, newInput) = (new DeltaInput(dir.Write("old", old), Digest.Compute(old), old.Length), new DeltaInput(dir.Write("new", @new), Digest.Compute(@new), @new.Length));
        var xor = new XorAlgorithm();
        var delta = new MemoryStream();
        await xor.EncodeAsync(oldInput, newInput, delta);
        delta.Position = 0;
        var output = new MemoryStream();
        await xor.ApplyAsync(oldInput, delta, output, new DeltaTarget(newInput.Digest, newInput.Size));
        Assert.That(output.ToArray(), Is.EqualTo(@new));

        Directory.CreateDirectory(dir["work"]);
        var (_, builtByAuto) = await new SmallestDelta(SmallestDelta.DefaultBudget).BuildAsync(
            WithToy.Choose(["auto"], ArtifactKind.File)!.Candidates, oldInput, newInput, dir["work"]);
        Assert.That(builtByAuto.Select(b => b.Algorithm.Name), Does.Contain("xor"), "under 1 MiB every candidate is built");
    }

    /// <summary>On the server: one line in its services, and the delta API builds, stores and serves it; the device applies it.</summary>
    [Test]
    public async Task A_toy_algorithm_registered_in_the_servers_services_round_trips_through_the_delta_API()
    {
        await using var server = await RunningServer.StartAsync(builder => builder.Services.AddSingleton<IDeltaAlgorithm, XorAlgorithm>());
        Assert.That(server.Service<DeltaAlgorithms>().Names, Does.Contain("xor"));
        using (var document = JsonDocument.Parse(await server.Http.GetStringAsync("/openapi/v1.json")))
        {
            var parameters = document.RootElement.GetProperty("paths").GetProperty("/api/v1/delta").GetProperty("get").GetProperty("parameters");
            Assert.That(parameters.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "accepted_algorithm").GetProperty("description").GetString(),
                Does.Contain("xor (a test's toy)"));
        }

        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(200_000, 7);
        var v2 = TestData.Edit(v1, 8);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v1, "v1", "stable");
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v2, "v2");
        var (json, _) = await DeltaRequests.ReadyAsync(server.Http, DeltaRequests.Query("fleet/app", from, "v2", "xor"));
        Assert.That(DeltaRequests.Parse(json).Algorithm, Is.EqualTo("xor"));

        using var device = new TempDirectory();
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url), algorithms: WithToy);
        var options = new UpdateOptions { Reference = "fleet/app:stable", Output = device["app"], AcceptedAlgorithms = ["xor"] };
        Assert.That((await updater.UpdateAsync(options)).Mode, Is.EqualTo(UpdateMode.Full));
        await Versions.PublishFileAsync(repository, server.Scratch, "app.bin", v2, "stable");
        var result = await updater.UpdateAsync(options);
        Assert.That(result.Mode, Is.EqualTo(UpdateMode.Delta), result.FallbackReason);
        Assert.That(File.ReadAllBytes(result.InstalledPath), Is.EqualTo(v2));
    }
}

/// <summary>
/// auto's leave-out rules hold only against the deltas they were measured against (issue 23): zstd gives way to an
/// executable-aware bsdiff-exe delta, never to a bsdiff-lzma one (on a 9 MB JavaScript bundle a bsdiff-lzma delta under
/// a quarter of the file was still 1.49x zstd's); Octodiff to either (it never came out smaller than bsdiff-lzma).
/// </summary>
public class LeaveOutRuleTests
{
    [Test]
    public void A_bsdiff_lzma_delta_does_not_leave_out_zstd_but_a_bsdiff_exe_one_does()
    {
        var algorithms = DeltaAlgorithms.Default();
        var lzma = new BuiltDelta(algorithms.Find("bsdiff-lzma")!, "", Digest.Compute([]), 100_000, TimeSpan.Zero);
        var exe = new BuiltDelta(algorithms.Find("bsdiff-exe")!, "", Digest.Compute([]), 100_000, TimeSpan.Zero);
        Assert.That(OutclassedCandidates.By(algorithms.Find("zstd")!, [lzma], 9 << 20), Is.Null);
        Assert.That(OutclassedCandidates.By(algorithms.Find("zstd")!, [exe], 9 << 20), Is.SameAs(exe));
        Assert.That(OutclassedCandidates.By(algorithms.Find("bsdiff")!, [lzma], 9 << 20), Is.SameAs(lzma), "plain bsdiff still gives way to bsdiff-lzma");
    }

    [TestCase(100_000)]
    [TestCase(8 << 20)] // versions that share little: still left out (1.02-1.05x bsdiff-lzma's bytes there)
    public void A_bsdiff_lzma_or_bsdiff_exe_delta_leaves_out_octodiff_whatever_its_size(long size)
    {
        var algorithms = DeltaAlgorithms.Default();
        var lzma = new BuiltDelta(algorithms.Find("bsdiff-lzma")!, "", Digest.Compute([]), size, TimeSpan.Zero);
        var exe = new BuiltDelta(algorithms.Find("bsdiff-exe")!, "", Digest.Compute([]), size, TimeSpan.Zero);
        Assert.That(OutclassedCandidates.By(algorithms.Find("octodiff")!, [lzma], 9 << 20), Is.SameAs(lzma));
        Assert.That(OutclassedCandidates.By(algorithms.Find("octodiff")!, [exe], 9 << 20), Is.SameAs(exe));
        Assert.That(OutclassedCandidates.By(algorithms.Find("octodiff")!, [lzma], 512 << 10), Is.Null, "under 1 MiB every candidate is built");
    }

    [Test]
    public void Zstd_at_level_19_is_probed_at_level_9_and_left_there_by_a_delta_at_most_0_45_of_the_probes()
    {
        var algorithms = DeltaAlgorithms.Default();
        var zstd = algorithms.Find("zstd")!;
        Assert.That(((ZstdPatchAlgorithm)zstd.Profile.Probe!).Level, Is.EqualTo(9));
        Assert.That(zstd.Profile.Probe.Name, Is.EqualTo("zstd"), "the same format: whoever applies one applies the other");
        Assert.That(zstd.Profile.Probe.Profile.Probe, Is.Null, "a probe has no probe");
        Assert.That(new ZstdPatchAlgorithm(9).Profile.Probe, Is.Null, "nothing cheaper to probe with at level 9");
        var probe = new BuiltDelta(zstd.Profile.Probe, "", Digest.Compute([]), 100_000, TimeSpan.Zero);
        BuiltDelta Lzma(long size) => new(algorithms.Find("bsdiff-lzma")!, "", Digest.Compute([]), size, TimeSpan.Zero);
        Assert.That(ProbedCandidates.By(zstd, probe, [Lzma(45_000)]), Is.Not.Null);
        Assert.That(ProbedCandidates.By(zstd, probe, [Lzma(45_001)]), Is.Null);
        Assert.That(ProbedCandidates.Probes(zstd, [Lzma(1)], 1 << 20), Is.True);
        Assert.That(ProbedCandidates.Probes(zstd, [Lzma(1)], (1 << 20) - 1), Is.False, "under 1 MiB level 19 is cheap: built as it is");
        Assert.That(ProbedCandidates.Probes(zstd, [], 9 << 20), Is.False, "nothing to compare with: built as it is");
        Assert.That(ProbedCandidates.Probes(algorithms.Find("octodiff")!, [Lzma(1)], 9 << 20), Is.False);
    }
}
