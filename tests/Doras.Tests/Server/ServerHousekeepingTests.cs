using Doras.Delta.Algorithms;
using Doras.Server.Deltas;
using Doras.Server.Hosting;

namespace Doras.Tests.Server;

/// <summary>What the server does besides answering requests: cleaning up after a killed predecessor, help, estimates.</summary>
public class ServerHousekeepingTests
{
    private static readonly DeltaAlgorithms Algorithms = DeltaAlgorithms.Default();

    private static IReadOnlyList<IDeltaAlgorithm> Named(params string[] names) => [.. names.Select(name => Algorithms.Find(name)!)];

    [Test]
    public async Task Build_directories_of_a_killed_server_are_removed_at_start_and_nothing_else()
    {
        using var dir = new TempDirectory();
        var work = dir["work"];
        var abandoned = Directory.CreateDirectory(Path.Combine(work, "doras-build-0123abandoned")).FullName;
        File.WriteAllBytes(Path.Combine(abandoned, "old"), new byte[1000]);
        File.WriteAllBytes(Path.Combine(abandoned, ".lock"), []);
        var unfinished = Directory.CreateDirectory(Path.Combine(work, "doras-build-nolock")).FullName; // killed between mkdir and lock
        Directory.SetLastWriteTimeUtc(unfinished, DateTime.UtcNow.AddMinutes(-5));
        var beingMade = Directory.CreateDirectory(Path.Combine(work, "doras-build-justnow")).FullName; // another instance, between mkdir and lock
        var live = Directory.CreateDirectory(Path.Combine(work, "doras-build-live")).FullName;
        using var held = new FileStream(Path.Combine(live, ".lock"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        var users = Directory.CreateDirectory(Path.Combine(work, "my-build-notes")).FullName;
        File.WriteAllText(Path.Combine(users, "keep.txt"), "mine");

        await using var server = await RunningServer.StartAsync("--Delta:WorkDirectory", work);

        Assert.That(Directory.Exists(abandoned), Is.False);
        Assert.That(Directory.Exists(unfinished), Is.False);
        Assert.That(Directory.Exists(live), Is.True, "a directory whose lock is held belongs to a live server");
        Assert.That(Directory.Exists(beingMade), Is.True, "a directory made a moment ago may be getting its lock");
        Assert.That(File.ReadAllText(Path.Combine(users, "keep.txt")), Is.EqualTo("mine"));
    }

    [Test]
    public async Task A_build_leaves_no_scratch_directory_behind()
    {
        using var dir = new TempDirectory();
        var work = Directory.CreateDirectory(dir["work"]).FullName;
        await using var server = await RunningServer.StartAsync("--Delta:WorkDirectory", work);
        var repository = server.Store.Repository("fleet/app");
        var v1 = TestData.Binary(100_000, 1);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "app", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "app", TestData.Edit(v1, 2), "v2");
        var query = $"{Doras.Api.DeltaApi.Path}?from_digest={Uri.EscapeDataString(Versions.Ref("fleet/app", from))}&to_tag=fleet/app:v2&accepted_algorithm=zstd";
        await DeltaRequests.ReadyAsync(server.Http, query);
        Assert.That(Directory.EnumerateFileSystemEntries(work), Is.Empty);
    }

    [TestCase("--help", "Usage: doras-server")]
    [TestCase("--version", "doras-server ")]
    public void Help_and_version_are_answered_without_starting_a_server(string flag, string expected)
    {
        var output = new StringWriter();
        Assert.That(ServerHelp.Answer([flag], output), Is.True);
        Assert.That(output.ToString(), Does.Contain(expected));
        Assert.That(ServerHelp.Answer(["--urls", "http://127.0.0.1:0"], new StringWriter()), Is.False);
    }

    [Test]
    public void Help_names_every_peer_command_and_the_safe_way_to_give_a_password()
    {
        var output = new StringWriter();
        ServerHelp.Answer(["--help"], output);
        Assert.That(output.ToString(), Does.Contain("peer add NAME --url URL --username U --password-file F")
            .And.Contain("peer trust USER --password-file F [--scope S]").And.Contain("peer revoke USER REPO")
            .And.Not.Contain("--password P |"));
    }

    [Test]
    public void Build_estimates_follow_the_measured_speed()
    {
        var estimates = new BuildEstimates();
        var before = estimates.Estimate(Named("bsdiff"), 100 << 20);
        estimates.Record("bsdiff", 100 << 20, TimeSpan.FromSeconds(200)); // 0.5 MB/s measured, slower than the default
        var after = estimates.Estimate(Named("bsdiff"), 100 << 20);
        Assert.That(after, Is.GreaterThan(before));
        Assert.That(after.TotalSeconds, Is.EqualTo(1 + 200).Within(0.01), "the first measurement replaces the default");
        estimates.Record("bsdiff", 100 << 20, TimeSpan.FromSeconds(100));
        // Later ones move the average 30 % of the way: 0.7 * 0.5 MiB/s + 0.3 * 1 MiB/s.
        var expected = 1 + (100 << 20) / (0.7 * ((100 << 20) / 200.0) + 0.3 * ((100 << 20) / 100.0));
        Assert.That(estimates.Estimate(Named("bsdiff"), 100 << 20).TotalSeconds, Is.EqualTo(expected).Within(0.01));
        Assert.That(estimates.Estimate(Named("octodiff", "zstd"), 0), Is.EqualTo(TimeSpan.FromSeconds(1)), "only the fixed overhead for empty inputs");
    }

    [Test]
    public void Build_estimates_leave_out_what_auto_most_likely_skips()
    {
        var estimates = new BuildEstimates();
        foreach (var algorithm in new[] { "bsdiff-lzma", "bsdiff", "zstd", "octodiff" })
            estimates.Record(algorithm, 100 << 20, TimeSpan.FromSeconds(10)); // 10 s each for 100 MiB of input
        string[] auto = ["bsdiff-lzma", "bsdiff", "zstd", "octodiff"];
        Assert.That(estimates.Estimate(Named(auto), 100 << 20, newBytes: 50 << 20).TotalSeconds, Is.EqualTo(1 + 20).Within(0.01),
            "past 1 MiB bsdiff-lzma leaves out bsdiff and octodiff; zstd gives way to bsdiff-exe alone");
        Assert.That(estimates.Estimate(Named(auto), 100 << 20, newBytes: 512 << 10).TotalSeconds, Is.EqualTo(1 + 40).Within(0.01), "every candidate under 1 MiB");
        Assert.That(estimates.Estimate(Named("zstd", "bsdiff-lzma", "bsdiff"), 100 << 20, newBytes: 50 << 20).TotalSeconds, Is.EqualTo(1 + 20).Within(0.01),
            "a candidate built before bsdiff-lzma is built");
        estimates.Record("bsdiff-exe", 100 << 20, TimeSpan.FromSeconds(10));
        Assert.That(estimates.Estimate(Named(["bsdiff-exe", .. auto]), 100 << 20, newBytes: 50 << 20).TotalSeconds, Is.EqualTo(1 + 10).Within(0.01),
            "bsdiff-exe either builds and outclasses bsdiff-lzma or refuses at once: one of the two is counted");
    }

    [TestCase("octodiff", 40e6)]
    [TestCase("zstd", 8e6)]
    [TestCase("tardiff", 4e6)]
    [TestCase("deflate", 4e6)]
    [TestCase("bsdiff", 3e6)]
    [TestCase("bsdiff-lzma", 3e6)]
    [TestCase("bsdiff-exe", 3e6)]
    public void Before_any_measurement_a_build_is_estimated_at_the_algorithms_own_speed(string algorithm, double bytesPerSecond)
    {
        var inputBytes = (long)(bytesPerSecond * 10);
        Assert.That(new BuildEstimates().Estimate(Named(algorithm), inputBytes).TotalSeconds, Is.EqualTo(1 + 10).Within(0.01));
    }
}
