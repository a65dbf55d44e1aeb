using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Doras.Api;
using Doras.Delta.Vocabulary;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Server;

/// <summary>The delta endpoint over real HTTP on loopback, against the real server and store.</summary>
public class DeltaApiTests
{
    private const string Repo = "fleet/fw";
    private RunningServer _server = null!;
    private Descriptor _v1 = null!, _v2 = null!;
    private byte[] _v2Content = null!;

    [SetUp]
    public async Task SetUp()
    {
        _server = await RunningServer.StartAsync();
        var repository = _server.Store.Repository(Repo);
        var v1 = TestData.Binary(1 << 20, 1);
        _v2Content = TestData.Edit(v1, 2);
        _v1 = await Versions.PublishFileAsync(repository, _server.Scratch, "fw.bin", v1, "v1");
        _v2 = await Versions.PublishFileAsync(repository, _server.Scratch, "fw.bin", _v2Content, "v2", "stable");
    }

    [TearDown]
    public async Task TearDown() => await _server.DisposeAsync();

    private static string Query(string? from, string? toDigest = null, string? toTag = null, params string[] algorithms) =>
        DeltaApi.Path + "?" + string.Join("&", new[]
        {
            from is null ? null : $"from_digest={Uri.EscapeDataString(from)}",
            toDigest is null ? null : $"to_digest={Uri.EscapeDataString(toDigest)}",
            toTag is null ? null : $"to_tag={Uri.EscapeDataString(toTag)}",
        }.Where(p => p is not null).Concat(algorithms.Select(a => $"accepted_algorithm={a}")));

    private async Task<DeltaResponse> PollUntilReadyAsync(string query) =>
        DeltaRequests.Parse((await DeltaRequests.ReadyAsync(_server.Http, query)).Json);

    private async Task<(HttpStatusCode Status, JsonElement Problem)> ProblemAsync(string query)
    {
        using var response = await _server.Http.GetAsync(query);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    [Test]
    public async Task First_request_is_accepted_with_retry_after_then_the_delta_is_ready()
    {
        var query = Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable", algorithms: "zstd");
        using (var first = await _server.Http.GetAsync(query))
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(first.Headers.RetryAfter?.Delta, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
            var pending = (await first.Content.ReadFromJsonAsync<DeltaResponse>())!;
            Assert.That(pending.Status, Is.EqualTo(DeltaStatus.Pending));
            Assert.That(pending.ToImage, Is.EqualTo(Versions.Ref(Repo, _v2)));
        }

        var ready = await PollUntilReadyAsync(query);
        Assert.That(ready.Status, Is.EqualTo(DeltaStatus.Ready));
        Assert.That(ready.ToImage, Is.EqualTo(Versions.Ref(Repo, _v2)));
        Assert.That(ready.Algorithm, Is.EqualTo("zstd"));
        Assert.That(ready.DeltaSize, Is.LessThan(ready.FullSize! / 10));

        // The delta is an OCI artifact at its deterministic tag, with the documented annotations.
        var repository = _server.Store.Repository(Repo);
        var deltaRef = Reference.Parse(ready.DeltaImage!);
        var manifest = await repository.FetchManifestAsync(await repository.ResolveAsync(deltaRef.Identifier));
        Assert.That(manifest.ArtifactType, Is.EqualTo(DorasMediaTypes.Delta));
        Assert.That(manifest.Annotation(DorasAnnotations.DeltaFrom), Is.EqualTo(Versions.Ref(Repo, _v1)));
        Assert.That(manifest.Annotation(DorasAnnotations.DeltaTo), Is.EqualTo(Versions.Ref(Repo, _v2)));
        Assert.That(manifest.Annotation(DorasAnnotations.DeltaAlgorithm), Is.EqualTo("zstd"));
        Assert.That(DateTimeOffset.Parse(manifest.Annotation(Annotations.Created)!), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
        Assert.That(manifest.Layers.Single().MediaType, Is.EqualTo("application/vnd.doras.delta.zstd-patch"));
        var tagged = await repository.ResolveAsync(new Doras.Server.Deltas.DeltaKey(Repo, _v1.Digest, _v2.Digest, "zstd").Tag);
        Assert.That($"{Repo}@{tagged.Digest}", Is.EqualTo(ready.DeltaImage));
    }

    [Test]
    public async Task Fifty_concurrent_identical_requests_start_exactly_one_computation()
    {
        var query = Query(Versions.Ref(Repo, _v1), toDigest: Versions.Ref(Repo, _v2), algorithms: "zstd");
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var response = await _server.Http.GetAsync(query);
            return response.StatusCode;
        }));
        Assert.That(answers, Is.All.EqualTo(HttpStatusCode.Accepted).Or.EqualTo(HttpStatusCode.OK));
        await PollUntilReadyAsync(query);
        Assert.That(_server.Builder.BuildsStarted, Is.EqualTo(1));
    }

    [Test]
    public async Task A_restarted_server_serves_the_stored_delta_without_recomputing()
    {
        var query = Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:v2", algorithms: "zstd");
        var first = await PollUntilReadyAsync(query);
        await using var restarted = await RunningServer.StartOnStoreAsync(_server.StorePath);
        using var response = await restarted.Http.GetAsync(query);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await response.Content.ReadFromJsonAsync<DeltaResponse>())!.DeltaImage, Is.EqualTo(first.DeltaImage));
        Assert.That(restarted.Builder.BuildsStarted, Is.Zero);
    }

    [Test]
    public async Task Same_from_and_to_is_answered_as_up_to_date()
    {
        using var response = await _server.Http.GetAsync(Query(Versions.Ref(Repo, _v2), toTag: $"{Repo}:stable", algorithms: "zstd"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var body = (await response.Content.ReadFromJsonAsync<DeltaResponse>())!;
        Assert.That(body.Status, Is.EqualTo(DeltaStatus.UpToDate));
        Assert.That(body.DeltaImage, Is.Null);
        Assert.That(_server.Builder.BuildsStarted, Is.Zero);
    }

    [Test]
    public async Task Up_to_date_needs_no_algorithm_but_a_delta_does()
    {
        using (var response = await _server.Http.GetAsync(Query(Versions.Ref(Repo, _v2), toTag: $"{Repo}:stable")))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That((await response.Content.ReadFromJsonAsync<DeltaResponse>())!.Status, Is.EqualTo(DeltaStatus.UpToDate));
        }
        var (status, problem) = await ProblemAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable"));
        Assert.That(status, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("'accepted_algorithm' is required at least once when the versions differ, e.g. accepted_algorithm=auto"));
        Assert.That(_server.Builder.BuildsStarted, Is.Zero);
    }

    [Test]
    public async Task An_algorithm_for_another_kind_of_artifact_is_406_at_once_not_a_remembered_failure()
    {
        var (status, problem) = await ProblemAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable", algorithms: "tardiff"));
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotAcceptable));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("none of the accepted algorithms (tardiff) makes deltas between file artifacts: tardiff is for directory artifacts only"));
        Assert.That(_server.Builder.BuildsStarted, Is.Zero);

        // deflate applies to files, but these are not gzip or zip: the build refuses, and that is 406 too, not a 500.
        var query = Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable", algorithms: "deflate");
        await DeltaRequests.SettledAsync(_server.Http, query, TimeSpan.FromSeconds(30));
        (status, problem) = await ProblemAsync(query);
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotAcceptable), problem.ToString());
        Assert.That(problem.GetProperty("detail").GetString(), Does.StartWith($"no deflate delta can be made from {Repo}@{_v1.Digest} to {Repo}@{_v2.Digest}: ")
            .And.Contain("not both gzip files or both zip archives"));
    }

    [Test]
    public async Task A_stored_delta_is_found_whatever_the_order_or_extent_of_the_accepted_list()
    {
        var first = await PollUntilReadyAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable", algorithms: ["auto", "zstd", "bsdiff", "bsdiff-lzma", "bsdiff-exe", "octodiff", "tardiff", "deflate"]));
        Assert.That(_server.Builder.BuildsStarted, Is.EqualTo(1));
        string[][] others = [["auto"], ["deflate", "tardiff", "octodiff", "bsdiff-lzma", "bsdiff-exe", "bsdiff", "zstd", "auto"], ["auto", first.Algorithm!, "xdelta3"], [first.Algorithm!]];
        foreach (var list in others)
        {
            using var response = await _server.Http.GetAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable", algorithms: list));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), string.Join(",", list));
            var again = (await response.Content.ReadFromJsonAsync<DeltaResponse>())!;
            Assert.That(again.DeltaImage, Is.EqualTo(first.DeltaImage), string.Join(",", list));
        }
        Assert.That(_server.Builder.BuildsStarted, Is.EqualTo(1), "no second build of the same pair");
    }

    [Test]
    public async Task Retry_after_is_the_builds_estimated_remaining_time()
    {
        // The server's clock stands still until the answer is read, so the time the request took cannot change it. No
        // precomputing: a precomputed auto delta of the same pair, started first, is what a request waits on and
        // reports (a CI run answered its estimate, 11 s).
        var clock = new FrozenClock();
        await using var server = await RunningServer.StartAsync(b => b.Services.AddSingleton<TimeProvider>(clock), "--Precompute:PreviousVersions", "0");
        var repository = server.Store.Repository("fleet/big");
        var v1 = TestData.Binary(8 << 20, 11);
        var from = await Versions.PublishFileAsync(repository, server.Scratch, "big.bin", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "big.bin", TestData.Edit(v1, 12), "v2");
        var query = Query(Versions.Ref("fleet/big", from), toTag: "fleet/big:v2", algorithms: "bsdiff");
        using var response = await server.Http.GetAsync(query);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        // Nothing measured yet: bsdiff's default speed, 3 MB/s over 16 MiB of input, plus 1 s: 6.59 s, rounded up.
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(7)));
        clock.Thaw();
        await DeltaRequests.ReadyAsync(server.Http, query);
    }

    public static IEnumerable<TestCaseData> BadRequests()
    {
        const string d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        yield return new TestCaseData(Query(null, toTag: $"{Repo}:v2", algorithms: "zstd"), "'from_digest' is required").SetName("missing from");
        yield return new TestCaseData(Query($"{Repo}:v1", toTag: $"{Repo}:v2", algorithms: "zstd"), "'from_digest' must name the image by digest").SetName("from by tag");
        yield return new TestCaseData(Query($"{Repo}@{d}", algorithms: "zstd"), "give exactly one of 'to_digest'").SetName("no target");
        yield return new TestCaseData(Query($"{Repo}@{d}", toDigest: $"{Repo}@{d}", toTag: $"{Repo}:v2", algorithms: "zstd"), "give exactly one of 'to_digest'").SetName("two targets");
        yield return new TestCaseData(Query($"{Repo}@sha256:abc", toTag: $"{Repo}:v2", algorithms: "zstd"), "sha256 needs 64 hex characters").SetName("malformed digest");
        yield return new TestCaseData(Query($"{Repo}@{d}", toTag: "Bad/Repo:v2", algorithms: "zstd"), "'to_tag': invalid reference 'Bad/Repo:v2'").SetName("malformed to");
        yield return new TestCaseData(Query($"{Repo}@{d}", toTag: "other/repo:v2", algorithms: "zstd"), "from and to must be in the same repository").SetName("different repositories");
        yield return new TestCaseData(Query($"{Repo}@{d}", toTag: $"{Repo}@{d}", algorithms: "zstd"), "'to_tag' must name the image by tag only").SetName("to_tag with digest");
        yield return new TestCaseData(Query($"registry.example.org/{Repo}@{d}", toTag: $"registry.example.org/{Repo}:v2", algorithms: "zstd"), "name images without a registry host").SetName("registry host in embedded mode");
    }

    [TestCaseSource(nameof(BadRequests))]
    public async Task Malformed_requests_get_400_problem_details(string query, string detail)
    {
        var (status, problem) = await ProblemAsync(query);
        Assert.That(status, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(problem.GetProperty("status").GetInt32(), Is.EqualTo(400));
        Assert.That(problem.GetProperty("type").GetString(), Is.EqualTo(ProblemTypes.InvalidRequest));
        Assert.That(problem.GetProperty("detail").GetString(), Does.Contain(detail));
    }

    [Test]
    public async Task Unknown_images_get_404()
    {
        const string missing = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        var (status, problem) = await ProblemAsync(Query($"{Repo}@{missing}", toTag: $"{Repo}:v2", algorithms: "zstd"));
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo($"the from image {Repo}@{missing} does not exist"));

        (status, problem) = await ProblemAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:nope", algorithms: "zstd"));
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo($"the to image {Repo}:nope does not exist"));
    }

    [Test]
    public async Task Auto_keeps_the_smallest_of_the_accepted_algorithms_and_records_the_others()
    {
        var ready = await PollUntilReadyAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable", algorithms: ["auto", "zstd", "bsdiff", "octodiff"]));
        var repository = _server.Store.Repository(Repo);
        var manifest = await repository.FetchManifestAsync(await repository.ResolveAsync(ready.DeltaImage!.Split('@')[1]));
        var sizes = manifest.Annotation(DorasAnnotations.DeltaCandidates)!.Split(' ').Select(c => c.Split('=')).ToDictionary(c => c[0], c => long.Parse(c[1]));
        Assert.That(sizes.Keys.Order(), Is.EqualTo(new[] { "bsdiff", "octodiff", "zstd" }));
        Assert.That(ready.DeltaSize, Is.EqualTo(sizes.Values.Min()));
        Assert.That(ready.Algorithm, Is.EqualTo(sizes.MinBy(s => s.Value).Key));
        Assert.That(manifest.Annotation(DorasAnnotations.DeltaAlgorithm), Is.EqualTo(ready.Algorithm));
        Assert.That(manifest.Layers.Single().MediaType, Is.EqualTo($"application/vnd.doras.delta.{(ready.Algorithm == "zstd" ? "zstd-patch" : ready.Algorithm + "+zstd")}"));

        // Only the listed ones are candidates; the choice is part of the delta's identity.
        var onlyOne = await PollUntilReadyAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:stable", algorithms: ["auto", "octodiff"]));
        Assert.That(onlyOne.Algorithm, Is.EqualTo("octodiff"));
        Assert.That(onlyOne.DeltaImage, Is.Not.EqualTo(ready.DeltaImage));
    }

    [Test]
    public async Task Auto_leaves_out_bsdiff_above_its_configured_input_limit()
    {
        await using var server = await RunningServer.StartOnStoreAsync(null, "--Delta:BsdiffMaxInputBytes", "1000");
        var repository = server.Store.Repository(Repo);
        var v1 = TestData.Binary(200_000, 5);
        var old = await Versions.PublishFileAsync(repository, server.Scratch, "fw.bin", v1, "v1");
        await Versions.PublishFileAsync(repository, server.Scratch, "fw.bin", TestData.Edit(v1, 6), "stable");
        var query = Query(Versions.Ref(Repo, old), toTag: $"{Repo}:stable", algorithms: ["auto"]);
        var ready = DeltaRequests.Parse((await DeltaRequests.ReadyAsync(server.Http, query)).Json);
        var manifest = await repository.FetchManifestAsync(await repository.ResolveAsync(ready.DeltaImage!.Split('@')[1]));
        Assert.That(manifest.Annotation(DorasAnnotations.DeltaCandidates), Does.Not.Contain("bsdiff").And.Not.Contain("tardiff").And.Contain("zstd=").And.Contain("octodiff="));
        Assert.That(ready.Algorithm, Is.AnyOf("zstd", "octodiff"));
    }

    [Test]
    public async Task Auto_answers_406_when_no_delta_is_meaningfully_smaller_than_the_full_download()
    {
        var repository = _server.Store.Repository("fleet/noise");
        var old = await Versions.PublishFileAsync(repository, _server.Scratch, "noise.bin", TestData.Random(300_000, 3), "v1");
        var @new = await Versions.PublishFileAsync(repository, _server.Scratch, "noise.bin", TestData.Random(300_000, 4), "v2");
        var query = Query(Versions.Ref("fleet/noise", old), toDigest: Versions.Ref("fleet/noise", @new), algorithms: ["auto"]);
        await DeltaRequests.SettledAsync(_server.Http, query);
        var (status, problem) = await ProblemAsync(query);
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotAcceptable));
        Assert.That(problem.GetProperty("type").GetString(), Is.EqualTo(ProblemTypes.DeltaNotWorthwhile));
        Assert.That(problem.GetProperty("detail").GetString(), Does.Match(
            @"^the smallest delta \((bsdiff|bsdiff-lzma|octodiff|zstd), \d+ bytes\) is over 98 ?% of the full download \(\d+ bytes\); download fleet/noise@sha256:[0-9a-f]{64} instead$"));
    }

    [Test]
    public async Task The_signature_endpoint_answers_a_raw_octodiff_delta_or_a_clear_problem()
    {
        using var dir = new TempDirectory();
        var mine = TestData.Edit(_v2Content, 9); // neither v1 nor v2
        var signature = new MemoryStream();
        await global::Doras.Delta.Octodiff.OctodiffSignature.WriteAsync(new MemoryStream(mine), signature);
        var path = $"{DeltaApi.SignaturePath}?{DeltaApi.ToTag}={Uri.EscapeDataString($"{Repo}:stable")}";
        using (var response = await _server.Http.PostAsync(path, new ByteArrayContent(signature.ToArray())))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo(DeltaApi.OctodiffMediaType));
            Assert.That(response.Headers.GetValues(DeltaApi.ToImageHeader).Single(), Is.EqualTo(Versions.Ref(Repo, _v2)));
            var delta = await response.Content.ReadAsByteArrayAsync();
            var output = new MemoryStream();
            await global::Doras.Delta.Octodiff.OctodiffDelta.ApplyAsync(dir.Write("mine", mine), new MemoryStream(delta), output);
            Assert.That(output.ToArray(), Is.EqualTo(_v2Content));
            Assert.That(delta.Length, Is.LessThan(_v2Content.Length / 4));
        }

        async Task<(HttpStatusCode, JsonElement)> PostProblemAsync(string url, byte[] body)
        {
            using var response = await _server.Http.PostAsync(url, new ByteArrayContent(body));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return (response.StatusCode, doc.RootElement.Clone());
        }
        var (status, problem) = await PostProblemAsync(path, "OCTODELTA"u8.ToArray());
        Assert.That(status, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("not an Octodiff signature: expected 'OCTOSIG'"));
        (status, problem) = await PostProblemAsync($"{DeltaApi.SignaturePath}?{DeltaApi.ToTag}={Repo}:nope", signature.ToArray());
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo($"the to image {Repo}:nope does not exist"));
        (status, problem) = await PostProblemAsync(DeltaApi.SignaturePath, signature.ToArray());
        Assert.That(status, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("give exactly one of 'to_digest' and 'to_tag'"));
    }

    [Test]
    public async Task Unsupported_algorithms_get_406_naming_the_supported_ones()
    {
        var (status, problem) = await ProblemAsync(Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:v2", algorithms: ["xdelta3", "courgette"]));
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotAcceptable));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("none of the accepted algorithms (xdelta3, courgette) is supported; this server supports: auto, bsdiff, bsdiff-exe, bsdiff-lzma, deflate, octodiff, tardiff, zstd"));
    }

    [Test]
    public async Task A_file_and_a_directory_are_incompatible_406()
    {
        var tree = _server.Scratch["tree"];
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "a.txt"), "hello");
        var dirVersion = (await Doras.Delta.Artifacts.ArtifactPublisher.PublishAsync(_server.Store.Repository(Repo), tree, ["dir"])).Manifest;
        var (status, problem) = await ProblemAsync(Query(Versions.Ref(Repo, _v1), toDigest: Versions.Ref(Repo, dirVersion), algorithms: "zstd"));
        Assert.That(status, Is.EqualTo(HttpStatusCode.NotAcceptable));
        Assert.That(problem.GetProperty("detail").GetString(), Is.EqualTo("cannot make a delta from a file artifact to a directory artifact"));
    }

    [Test]
    public async Task A_failed_computation_is_reported_and_remembered_not_an_endless_202()
    {
        // A version whose layer lies about its content digest: the build must fail verification.
        var repository = _server.Store.Repository(Repo);
        var broken = await Versions.PublishLyingAsync(repository, _v2, "broken");

        var query = Query(Versions.Ref(Repo, _v1), toTag: $"{Repo}:broken", algorithms: "zstd");
        var (status, _) = await DeltaRequests.SettledAsync(_server.Http, query, TimeSpan.FromSeconds(30));
        var (again, problem) = await ProblemAsync(query);
        Assert.That(status, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(again, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(problem.GetProperty("type").GetString(), Is.EqualTo(ProblemTypes.DeltaFailed));
        Assert.That(problem.GetProperty("detail").GetString(), Does.Contain("content digest mismatch"));
        Assert.That(_server.Builder.BuildsStarted, Is.EqualTo(1), "the failure is remembered, not retried on every request");
        var record = await Doras.Server.Deltas.DeltaRecords.ReadAsync(repository, new Doras.Server.Deltas.DeltaKey(Repo, _v1.Digest, broken.Digest, "zstd"), default);
        Assert.That(record, Is.TypeOf<Doras.Server.Deltas.DeltaRecord.Failed>(), "the failure is recorded in the store for other instances");
        Assert.That(((Doras.Server.Deltas.DeltaRecord.Failed)record).Reason, Does.Contain("content digest mismatch"));
    }

    [Test]
    public async Task Blobs_are_served_with_range_support_for_resuming()
    {
        var repository = _server.Store.Repository(Repo);
        var layer = (await repository.FetchManifestAsync(_v2)).Layers[0];
        var url = $"/v2/{Repo}/blobs/{layer.Digest}";
        var full = await _server.Http.GetByteArrayAsync(url);
        Assert.That(Digest.Compute(full), Is.EqualTo(layer.Digest));

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(1000, 1999);
        using var partial = await _server.Http.SendAsync(request);
        Assert.That(partial.StatusCode, Is.EqualTo(HttpStatusCode.PartialContent));
        Assert.That(partial.Content.Headers.ContentRange!.ToString(), Is.EqualTo($"bytes 1000-1999/{full.Length}"));
        Assert.That(await partial.Content.ReadAsByteArrayAsync(), Is.EqualTo(full[1000..2000]));

        using var head = await _server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, url));
        Assert.That(head.Content.Headers.ContentLength, Is.EqualTo(full.Length));
        Assert.That(head.Headers.GetValues("Docker-Content-Digest").Single(), Is.EqualTo(layer.Digest.ToString()));

        using var missing = await _server.Http.GetAsync($"/v2/{Repo}/blobs/sha256:{new string('0', 64)}");
        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(missing.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
    }

    [Test]
    public async Task Manifests_are_served_by_tag_and_digest_with_their_digest()
    {
        using var response = await _server.Http.GetAsync($"/v2/{Repo}/manifests/stable");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo(MediaTypes.ImageManifest));
        Assert.That(response.Headers.GetValues("Docker-Content-Digest").Single(), Is.EqualTo(_v2.Digest.ToString()));
        Assert.That(Digest.Compute(await response.Content.ReadAsByteArrayAsync()), Is.EqualTo(_v2.Digest));
    }
}

/// <summary>Several server instances sharing one store build each delta once and share failures.</summary>
public class MultiInstanceTests
{
    private const string Repo = "fleet/fw";

    private static string Query(Descriptor from, string toTag) =>
        $"{DeltaApi.Path}?from_digest={Uri.EscapeDataString($"{Repo}@{from.Digest}")}&to_tag={Uri.EscapeDataString($"{Repo}:{toTag}")}&accepted_algorithm=zstd";

    private static async Task<HttpStatusCode> PollAsync(HttpClient http, string query) =>
        (await DeltaRequests.SettledAsync(http, query)).Status;

    [Test]
    public async Task Two_instances_sharing_a_store_build_a_delta_once()
    {
        // The claim's settle delay is the embedded store's whole arbitration (no lease): a second, not 200 ms, so a
        // loaded CI machine that stalls one instance between its placeholder write and its re-read still sees one winner.
        string[] settings = ["--Delta:PlaceholderPollInterval", "00:00:00.200", "--Delta:ClaimSettleDelay", "00:00:01"];
        await using var a = await RunningServer.StartAsync(settings);
        await using var b = await RunningServer.StartOnStoreAsync(a.StorePath, settings);
        var repository = a.Store.Repository(Repo);
        var v1Content = TestData.Binary(2 << 20, 1);
        var v1 = await Versions.PublishFileAsync(repository, a.Scratch, "fw.bin", v1Content, "v1");
        await Versions.PublishFileAsync(repository, a.Scratch, "fw.bin", TestData.Edit(v1Content, 2), "v2");

        var query = Query(v1, "v2");
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
        {
            using var response = await (i % 2 == 0 ? a : b).Http.GetAsync(query);
            return response.StatusCode;
        }));
        Assert.That(answers, Is.All.EqualTo(HttpStatusCode.Accepted).Or.EqualTo(HttpStatusCode.OK));
        Assert.That(await PollAsync(a.Http, query), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await PollAsync(b.Http, query), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(a.Builder.BuildsStarted + b.Builder.BuildsStarted, Is.EqualTo(1));
    }

    [Test]
    public async Task A_failure_in_one_instance_is_reported_by_another_without_rebuilding()
    {
        await using var a = await RunningServer.StartAsync();
        var repository = a.Store.Repository(Repo);
        var v1Content = TestData.Binary(1 << 20, 3);
        var v1 = await Versions.PublishFileAsync(repository, a.Scratch, "fw.bin", v1Content, "v1");
        var v2 = await Versions.PublishFileAsync(repository, a.Scratch, "fw.bin", TestData.Edit(v1Content, 4), "v2");
        var manifest = await repository.FetchManifestAsync(v2);
        var layer = manifest.Layers[0];
        await repository.PushManifestAsync(manifest with
        {
            Layers = [layer with { Annotations = new Dictionary<string, string>(layer.Annotations!) { [DorasAnnotations.ContentDigest] = "sha256:" + new string('3', 64) } }],
        }, ["broken"]);

        var query = Query(v1, "broken");
        Assert.That(await PollAsync(a.Http, query), Is.EqualTo(HttpStatusCode.InternalServerError));

        await using var b = await RunningServer.StartOnStoreAsync(a.StorePath);
        using var response = await b.Http.GetAsync(query);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.That(problem.RootElement.GetProperty("type").GetString(), Is.EqualTo(ProblemTypes.DeltaFailed));
        Assert.That(problem.RootElement.GetProperty("detail").GetString(), Does.Contain("content digest mismatch"));
        Assert.That(b.Builder.BuildsStarted, Is.Zero);
    }
}
