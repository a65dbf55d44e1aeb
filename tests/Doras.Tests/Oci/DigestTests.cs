using System.Security.Cryptography;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Oci;

public class DigestTests
{
    private const string EmptySha256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Test]
    public void Computes_sha256_and_sha512_like_the_standard_tools()
    {
        Assert.That(Digest.Compute([]).ToString(), Is.EqualTo(EmptySha256));
        var abc = "abc"u8.ToArray();
        Assert.That(Digest.Compute(abc, Digest.Sha512).ToString(),
            Is.EqualTo("sha512:" + Convert.ToHexStringLower(SHA512.HashData(abc))));
    }

    [Test]
    public void Parses_and_prints_round_trip()
    {
        var digest = Digest.Parse(EmptySha256);
        Assert.That(digest.Algorithm, Is.EqualTo("sha256"));
        Assert.That(digest.ToString(), Is.EqualTo(EmptySha256));
        Assert.That(Digest.Parse(digest.ToString()), Is.EqualTo(digest));
    }

    [TestCase("", "empty")]
    [TestCase("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "expected 'algorithm:hex'")]
    [TestCase("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm 'md5'")]
    [TestCase("sha256:abc", "sha256 needs 64 hex characters, got 3")]
    [TestCase("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "lowercase hexadecimal")]
    [TestCase("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha512 needs 128 hex characters")]
    public void Rejects_malformed_digests_with_a_clear_error(string text, string expected)
    {
        var error = Assert.Throws<FormatException>(() => Digest.Parse(text))!;
        Assert.That(error.Message, Does.Contain(expected));
    }

    [Test]
    public async Task Verifying_stream_passes_correct_content()
    {
        var content = TestData.Random(100_000, 1);
        await using var stream = new VerifyingReadStream(new MemoryStream(content), Digest.Compute(content), content.Length);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.That(copy.ToArray(), Is.EqualTo(content));
    }

    [Test]
    public async Task Verifying_stream_rejects_a_changed_byte()
    {
        var content = TestData.Random(10_000, 2);
        var digest = Digest.Compute(content);
        content[5000] ^= 1;
        var stream = new VerifyingReadStream(new MemoryStream(content), digest, content.Length);
        var error = (await Assert.ThrowsAsync<DigestMismatchException>(() => stream.CopyToAsync(Stream.Null)))!;
        Assert.That(error.Message, Does.StartWith($"content digest mismatch: expected {digest}, got sha256:"));
    }

    [Test]
    public async Task Verifying_stream_rejects_short_and_long_content()
    {
        var content = TestData.Random(1000, 3);
        var digest = Digest.Compute(content);
        var shortStream = new VerifyingReadStream(new MemoryStream(content[..999]), digest, 1000);
        Assert.That((await Assert.ThrowsAsync<DigestMismatchException>(() => shortStream.CopyToAsync(Stream.Null)))!.Message,
            Is.EqualTo($"content of {digest} ended after 999 of 1000 bytes"));
        var longStream = new VerifyingReadStream(new MemoryStream([.. content, 0]), digest, 1000);
        Assert.That((await Assert.ThrowsAsync<DigestMismatchException>(() => longStream.CopyToAsync(Stream.Null)))!.Message,
            Is.EqualTo($"content of {digest} is longer than its announced size of 1000 bytes"));
    }

    [Test]
    public async Task A_zero_length_read_is_not_mistaken_for_the_end()
    {
        var content = TestData.Random(100, 5);
        await using var stream = new VerifyingReadStream(new MemoryStream(content), Digest.Compute(content), content.Length);
        Assert.That(await stream.ReadAsync(Memory<byte>.Empty), Is.Zero);
        Assert.That(stream.Read(Span<byte>.Empty), Is.Zero);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.That(copy.ToArray(), Is.EqualTo(content));
    }

    [Test]
    public async Task Verifying_sha512_content()
    {
        var content = TestData.Random(4096, 4);
        var digest = Digest.Compute(content, Digest.Sha512);
        await using var stream = new VerifyingReadStream(new MemoryStream(content), digest, content.Length);
        await stream.CopyToAsync(Stream.Null);
        Assert.That(digest.Hex, Has.Length.EqualTo(128));
    }
}
