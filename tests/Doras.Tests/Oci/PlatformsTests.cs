using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Oci;

/// <summary>Choosing an index entry for a platform, with the variants containerd assumes when none is written.</summary>
public class PlatformsTests
{
    private static Descriptor Entry(string platform, byte seed) => Descriptor.FromBytes(MediaTypes.ImageManifest, [seed]) with { Platform = Platforms.Parse(platform) };

    private static readonly ImageIndex Index = new()
    {
        Manifests = [Entry("linux/amd64", 1), Entry("linux/arm/v6", 2), Entry("linux/arm", 3), Entry("linux/arm64", 4)],
    };

    [TestCase("linux/amd64", 1)]
    [TestCase("linux/arm/v7", 3, Description = "an arm entry without a variant is v7")]
    [TestCase("linux/arm/v6", 2)]
    [TestCase("linux/arm64/v8", 4, Description = "an arm64 entry without a variant is v8")]
    [TestCase("linux/arm64", 4)]
    public void The_entry_for_a_platform_is_chosen_with_default_variants(string wanted, byte seed) =>
        Assert.That(Platforms.Select(Index, Platforms.Parse(wanted), "fleet/app:1").Digest, Is.EqualTo(Descriptor.FromBytes(MediaTypes.ImageManifest, [seed]).Digest));

    [Test]
    public void A_platform_the_index_lacks_is_refused_naming_what_it_has()
    {
        var error = Assert.Throws<NotFoundException>(() => Platforms.Select(Index, Platforms.Parse("linux/arm64/v9"), "fleet/app:1"))!;
        Assert.That(error.Message, Is.EqualTo("fleet/app:1 has no manifest for linux/arm64/v9; it has: linux/amd64, linux/arm/v6, linux/arm, linux/arm64"));
    }

    [Test]
    public void The_host_is_this_process_architecture()
    {
        var expected = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64 ? "amd64" : "arm64";
        Assert.That(Platforms.Host.Architecture, Is.EqualTo(expected));
        Assert.That(Platforms.Host.Os, Is.EqualTo("linux"));
    }
}
