using System.Text;
using Doras.Oci.Model;

namespace Doras.Tests.Oci;

public class OciJsonTests
{
    [Test]
    public void Manifests_write_plus_signs_and_quotes_as_themselves_and_escape_only_what_JSON_requires()
    {
        var manifest = new ImageManifest
        {
            ArtifactType = "application/vnd.example+json",
            Config = Descriptor.EmptyJson,
            Layers = [],
            Annotations = new Dictionary<string, string> { ["org.example.note"] = "the registry's \"v2\" <build> & co\n" },
        };
        var text = Encoding.UTF8.GetString(OciJson.Serialize(manifest));
        Assert.That(text, Does.Contain("\"artifactType\":\"application/vnd.example+json\""));
        Assert.That(text, Does.Contain("\"org.example.note\":\"the registry's \\\"v2\\\" <build> & co\\n\""));
        Assert.That(text, Does.Not.Contain("\\u002B").And.Not.Contain("\\u0027"));
        Assert.That(OciJson.Deserialize<ImageManifest>(Encoding.UTF8.GetBytes(text), "manifest").Annotations!["org.example.note"], Is.EqualTo("the registry's \"v2\" <build> & co\n"));
    }
}
