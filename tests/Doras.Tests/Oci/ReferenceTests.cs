using Doras.Oci.Model;

namespace Doras.Tests.Oci;

public class ReferenceTests
{
    private const string Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [TestCase("registry.example.org/foo:bar", "registry.example.org", "foo", "bar", false)]
    [TestCase("localhost:5000/a/b/c:v1.2.3", "localhost:5000", "a/b/c", "v1.2.3", false)]
    [TestCase("127.0.0.1:5000/app", "127.0.0.1:5000", "app", null, false)]
    [TestCase("localhost/app:latest", "localhost", "app", "latest", false)]
    [TestCase("demo/app:stable", null, "demo/app", "stable", false)]
    [TestCase("app:v2", null, "app", "v2", false)]
    [TestCase("my-org/my_app.x:_delta-0", null, "my-org/my_app.x", "_delta-0", false)]
    [TestCase("registry.example.org/foo@sha256:" + Hex, "registry.example.org", "foo", null, true)]
    [TestCase("registry.example.org:443/foo:bar@sha256:" + Hex, "registry.example.org:443", "foo", "bar", true)]
    public void Parses_valid_references(string text, string? registry, string repository, string? tag, bool hasDigest)
    {
        var reference = Reference.Parse(text);
        Assert.Multiple(() =>
        {
            Assert.That(reference.Registry, Is.EqualTo(registry));
            Assert.That(reference.Repository, Is.EqualTo(repository));
            Assert.That(reference.Tag, Is.EqualTo(tag));
            Assert.That(reference.Digest?.ToString(), Is.EqualTo(hasDigest ? "sha256:" + Hex : null));
            Assert.That(reference.ToString(), Is.EqualTo(text));
        });
    }

    [TestCase("", "it is empty")]
    [TestCase("Foo/bar:v1", "repository 'Foo/bar' must be lowercase")]
    [TestCase("foo//bar", "repository 'foo//bar' must be lowercase")]
    [TestCase("foo/bar:", "tag '' must be 1 to 128")]
    [TestCase("foo/bar:-bad", "tag '-bad' must be 1 to 128")]
    [TestCase("foo/bar@sha256:abc", "sha256 needs 64 hex characters")]
    [TestCase("foo bar:v1", "must not contain white space")]
    [TestCase("bad_host.example:99999999/foo", "is not a valid registry host[:port]")]
    [TestCase("registry.example.org/../etc:v1", "must be lowercase")]
    public void Rejects_malformed_references_with_a_clear_error(string text, string expected)
    {
        var error = Assert.Throws<FormatException>(() => Reference.Parse(text))!;
        Assert.That(error.Message, Does.Contain(expected));
    }

    [Test]
    public void A_name_with_a_trailing_line_break_is_not_valid()
    {
        // Checked without Parse's white-space rule too (paths of the /v2/ API): `$` would match before a final "\n".
        Assert.That(Reference.IsValidRepository("fleet/app"), Is.True);
        Assert.That(Reference.IsValidRepository("fleet/app\n"), Is.False);
        Assert.That(Reference.ValidateTag("v1"), Is.EqualTo("v1"));
        Assert.Throws<FormatException>(() => Reference.ValidateTag("v1\n"));
    }

    [Test]
    public void Rejects_a_tag_longer_than_128_characters()
    {
        Assert.That(Reference.Parse("foo:" + new string('a', 128)).Tag, Has.Length.EqualTo(128));
        Assert.Throws<FormatException>(() => Reference.Parse("foo:" + new string('a', 129)));
    }

    [Test]
    public void Identifier_prefers_the_digest()
    {
        var reference = Reference.Parse($"foo:bar@sha256:{Hex}");
        Assert.That(reference.Identifier, Is.EqualTo("sha256:" + Hex));
        Assert.That(reference.WithTag("v2").ToString(), Is.EqualTo("foo:v2"));
    }
}
