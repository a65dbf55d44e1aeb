using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Resilience;

public class ResumableDownloadTests
{
    [Test]
    public async Task A_download_cut_off_in_one_run_resumes_with_a_range_in_the_next_and_a_corrupt_partial_is_discarded()
    {
        var blob = TestData.Random(400_000, 1);
        var descriptor = new Descriptor { MediaType = MediaTypes.OctetStream, Digest = Digest.Compute(blob), Size = blob.Length };
        var ranges = new List<string>();
        var cutFirst = true;
        await using var fake = await LoopbackApp.StartAsync("/v2/{**path}", async context =>
        {
            var range = context.Request.Headers.Range.ToString();
            lock (ranges) ranges.Add(range);
            var from = range.Length == 0 ? 0 : int.Parse(range["bytes=".Length..].TrimEnd('-'));
            if (from > 0)
            {
                context.Response.StatusCode = StatusCodes.Status206PartialContent;
                context.Response.Headers.ContentRange = $"bytes {from}-{blob.Length - 1}/{blob.Length}";
            }
            context.Response.ContentLength = blob.Length - from;
            if (cutFirst)
            {
                cutFirst = false;
                await context.Response.Body.WriteAsync(blob.AsMemory(from, 150_000));
                await context.Response.Body.FlushAsync();
                context.Abort(); // the link drops, and the process "dies" before it can resume
                return;
            }
            await context.Response.Body.WriteAsync(blob.AsMemory(from));
        });
        using var http = new HttpClient();
        var repository = new RemoteRepository(http, new Uri(fake.Urls.First()), "x/y") { MaxResumes = 0 };
        using var work = new TempDirectory();

        var first = new ResumableDownload(work.Path);
        await Assert.CatchAsync<IOException>(() => first.DownloadAsync(repository, descriptor));
        var partial = first.PathOf(descriptor) + ".partial";
        Assert.That(new FileInfo(partial).Length, Is.GreaterThan(0).And.LessThan(blob.Length));
        var kept = new FileInfo(partial).Length;

        // The next run (a new object, as after a restart) asks only for the rest.
        var second = new ResumableDownload(work.Path);
        var path = await second.DownloadAsync(repository, descriptor);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(blob));
        Assert.That(second.BytesTransferred, Is.EqualTo(blob.Length - kept));
        Assert.That(ranges.Last(), Is.EqualTo($"bytes={kept}-"));
        Assert.That(File.Exists(partial), Is.False);

        // A partial with wrong bytes: the result fails verification, the partial is thrown away, the next run succeeds.
        second.Clear();
        File.WriteAllBytes(partial, TestData.Random(100_000, 99));
        var error = (await Assert.ThrowsAsync<DigestMismatchException>(() => new ResumableDownload(work.Path).DownloadAsync(repository, descriptor)))!;
        Assert.That(error.Message, Does.EndWith("the partial download was discarded"));
        Assert.That(File.Exists(partial), Is.False);
        Assert.That(File.ReadAllBytes(await new ResumableDownload(work.Path).DownloadAsync(repository, descriptor)), Is.EqualTo(blob));
    }
}
