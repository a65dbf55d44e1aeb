using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Model;
using Doras.Oci.Remote;
using Doras.Signing.Cosign;
using Doras.Signing.Keys;
using Doras.Tests.ClientApi;

namespace Doras.Tests.Signing;

/// <summary>Signatures and referrers made as publishers make them: cosign's tag form, and manifests with a subject.</summary>
public static class CarryArtifacts
{
    public static SigningKey NewKey() => SigningKey.FromPem(ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportPkcs8PrivateKeyPem());

    /// <summary>Signs <paramref name="manifest"/> in cosign's tag form (<c>sha256-&lt;hex&gt;.sig</c>).</summary>
    public static Task<Descriptor> SignAsync(IOciRepository repository, Descriptor manifest, SigningKey? key = null) =>
        CosignSigner.SignAsync(repository, manifest, "fleet/app", key ?? NewKey());

    /// <summary>Pushes an untagged manifest whose subject is <paramref name="subject"/> (as notation or oras attach do).</summary>
    public static async Task<Descriptor> AttachAsync(IOciRepository repository, Descriptor subject, string artifactType, string content)
    {
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var layer = await repository.PushBytesAsync("application/octet-stream", Encoding.UTF8.GetBytes(content));
        return await repository.PushManifestAsync(new ImageManifest
        {
            ArtifactType = artifactType, Config = Descriptor.EmptyJson, Layers = [layer],
            Subject = new Descriptor { MediaType = subject.MediaType, Digest = subject.Digest, Size = subject.Size },
            Annotations = new Dictionary<string, string> { ["org.example.content"] = content },
        }, []);
    }

    public static string SignatureTag(Descriptor manifest) => $"sha256-{manifest.Digest.Hex}.sig";

    /// <summary>The raw manifest skopeo reads at <c>docker://HOST/REPOSITORY:REFERENCE</c>.</summary>
    public static string Skopeo(string host, string repository, string reference) =>
        ExternalTool.RunOk("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{host}/{repository}:{reference}");

    public static async Task<Digest[]> ReferrersAsync(IReferrerLister repository, Descriptor subject) =>
        (await repository.ReferrersAsync(subject.Digest)).Select(d => d.Digest).ToArray();
}

/// <summary>
/// <c>doras copy</c> takes a version's signatures and referrers with it by default (cosign's tags, referrers and
/// theirs, of an index's platform manifests too), where the destination finds them (a registry's referrers index, the
/// local store by its manifests); <c>--no-referrers</c> leaves them; <c>--all-tags</c> copies no signature as a version.
/// </summary>
public class CarryCopyTests
{
    [Test]
    public async Task A_copied_version_brings_its_cosign_signature_and_referrers_and_theirs_and_no_referrers_leaves_them()
    {
        await using var first = await RegistryProcess.StartAsync();
        await using var second = await RegistryProcess.StartAsync();
        using var dir = new TempDirectory();
        using var firstClient = new RegistryClient(first.Host, new RegistryClientOptions { PlainHttp = true });
        using var secondClient = new RegistryClient(second.Host, new RegistryClientOptions { PlainHttp = true });
        var source = firstClient.Repository("fleet/app");
        var v1 = await Versions.PublishFileAsync(source, dir, "app.bin", TestData.Binary(50_000, 1), "v1");
        await CarryArtifacts.SignAsync(source, v1);
        var sbom = await CarryArtifacts.AttachAsync(source, v1, "application/vnd.example.sbom", "sbom of v1");
        var sbomSignature = await CarryArtifacts.AttachAsync(source, sbom, "application/vnd.cncf.notary.signature", "notation signature of the sbom");
        var sigTag = CarryArtifacts.SignatureTag(v1);

        var output = CliRun.Ok("copy", $"{first.Host}/fleet/app:v1", $"{second.Host}/mirror/app:v1", "--plain-http");
        Assert.That(output, Does.Contain("with 3 signature(s) and referrer(s)"));
        // skopeo, an independent client, reads the same signature manifest at cosign's tag in both registries.
        Assert.That(CarryArtifacts.Skopeo(second.Host, "mirror/app", sigTag), Is.EqualTo(CarryArtifacts.Skopeo(first.Host, "fleet/app", sigTag)));
        var mirror = secondClient.Repository("mirror/app");
        Assert.That(await CarryArtifacts.ReferrersAsync(mirror, v1), Is.EqualTo(new[] { sbom.Digest }));
        Assert.That(await CarryArtifacts.ReferrersAsync(mirror, sbom), Is.EqualTo(new[] { sbomSignature.Digest }));
        Assert.That((await mirror.ReferrersAsync(v1.Digest)).Single().ArtifactType, Is.EqualTo("application/vnd.example.sbom"));

        // Again: everything is there, nothing changes.
        output = CliRun.Ok("copy", $"{first.Host}/fleet/app:v1", $"{second.Host}/mirror/app:v1", "--plain-http");
        Assert.That(output, Does.Contain("with 3 signature(s) and referrer(s)"));
        Assert.That(await CarryArtifacts.ReferrersAsync(mirror, v1), Is.EqualTo(new[] { sbom.Digest }));

        // Into the local store, which lists referrers by reading its manifests.
        CliRun.Ok("copy", $"{first.Host}/fleet/app:v1", "local/app:v1", "--store", dir["store"], "--plain-http");
        var local = new OciLayoutStore(dir["store"]).Open("local/app");
        Assert.That((await local.ResolveAsync(sigTag)).Digest, Is.EqualTo((await source.ResolveAsync(sigTag)).Digest));
        Assert.That(await CarryArtifacts.ReferrersAsync(local, v1), Is.EqualTo(new[] { sbom.Digest }));
        Assert.That(await CarryArtifacts.ReferrersAsync(local, sbom), Is.EqualTo(new[] { sbomSignature.Digest }));

        // --no-referrers: the version alone.
        output = CliRun.Ok("copy", $"{first.Host}/fleet/app:v1", $"{second.Host}/bare/app:v1", "--plain-http", "--no-referrers");
        Assert.That(output, Does.Not.Contain("referrer"));
        var bare = secondClient.Repository("bare/app");
        Assert.That((await bare.ResolveAsync("v1")).Digest, Is.EqualTo(v1.Digest));
        Assert.That(await bare.TryResolveAsync(sigTag), Is.Null);
        Assert.That(await CarryArtifacts.ReferrersAsync(bare, v1), Is.Empty);
        Assert.That(CliRun.Ok("copy", "--help"), Does.Contain("--no-referrers"));
    }

    private static Dictionary<string, string> Copied(string output) => output
        .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Where(l => l.StartsWith('{'))
        .Select(l => JsonDocument.Parse(l).RootElement)
        .ToDictionary(e => e.GetProperty("tag").GetString()!, e => e.GetProperty("action").GetString()!);

    [Test]
    public async Task All_tags_copies_versions_only_and_their_signatures_with_them_including_an_index_platform_signature_and_one_added_later()
    {
        await using var first = await RegistryProcess.StartAsync();
        await using var second = await RegistryProcess.StartAsync();
        using var dir = new TempDirectory();
        var store = dir["store"];
        CliRun.Ok("push", dir.Write("1/app.bin", TestData.Binary(40_000, 1)), "fleet/app:1", "--store", store);
        CliRun.Ok("push", "fleet/app:multi", "--platform", $"linux/amd64={dir.Write("x/app.bin", TestData.Binary(30_000, 3))}",
            "--platform", $"linux/arm64={dir.Write("a/app.bin", TestData.Binary(30_000, 4))}", "--store", store);
        var local = new OciLayoutStore(store).Open("fleet/app");
        var v1 = await local.ResolveAsync("1");
        var multi = await local.ResolveAsync("multi");
        var arm = (await local.FetchBytesAsync(multi)).Let(b => OciJson.Deserialize<ImageIndex>(b, "index")).Manifests.Single(m => m.Platform!.Architecture == "arm64");
        await CarryArtifacts.SignAsync(local, v1);
        await CarryArtifacts.SignAsync(local, multi);
        await CarryArtifacts.SignAsync(local, arm);
        var sbom = await CarryArtifacts.AttachAsync(local, v1, "application/vnd.example.sbom", "sbom of 1");
        var armSbom = await CarryArtifacts.AttachAsync(local, arm, "application/vnd.example.sbom", "sbom of multi's arm64 build");

        // Store -> registry: two versions, not the signature tags.
        var copied = Copied(CliRun.Ok("copy", "--all-tags", "fleet/app", $"{first.Host}/fleet/app", "--store", store, "--plain-http", "--json"));
        Assert.That(copied.Keys, Is.EquivalentTo(new[] { "1", "multi" }));
        using var firstClient = new RegistryClient(first.Host, new RegistryClientOptions { PlainHttp = true });
        var firstRepo = firstClient.Repository("fleet/app");
        foreach (var signed in new[] { v1, multi, arm })
            Assert.That((await firstRepo.ResolveAsync(CarryArtifacts.SignatureTag(signed))).Digest,
                Is.EqualTo((await local.ResolveAsync(CarryArtifacts.SignatureTag(signed))).Digest));
        Assert.That(await CarryArtifacts.ReferrersAsync(firstRepo, v1), Is.EqualTo(new[] { sbom.Digest }));
        Assert.That(await CarryArtifacts.ReferrersAsync(firstRepo, arm), Is.EqualTo(new[] { armSbom.Digest }));

        // Registry -> registry: the source now also has referrers indexes at sha256-<hex>; still two versions.
        copied = Copied(CliRun.Ok("copy", "--all-tags", $"{first.Host}/fleet/app", $"{second.Host}/mirror/app", "--plain-http", "--json"));
        Assert.That(copied, Is.EquivalentTo(new Dictionary<string, string> { ["1"] = "copied", ["multi"] = "copied" }));
        using var secondClient = new RegistryClient(second.Host, new RegistryClientOptions { PlainHttp = true });
        var mirror = secondClient.Repository("mirror/app");
        var armSig = CarryArtifacts.SignatureTag(arm);
        Assert.That(CarryArtifacts.Skopeo(second.Host, "mirror/app", armSig), Is.EqualTo(CarryArtifacts.Skopeo(first.Host, "fleet/app", armSig)));
        Assert.That(await CarryArtifacts.ReferrersAsync(mirror, v1), Is.EqualTo(new[] { sbom.Digest }));
        Assert.That(await CarryArtifacts.ReferrersAsync(mirror, arm), Is.EqualTo(new[] { armSbom.Digest }));

        // A second signature of a version the mirror has: the version is skipped, the signature arrives.
        await CarryArtifacts.SignAsync(firstRepo, v1);
        copied = Copied(CliRun.Ok("copy", "--all-tags", $"{first.Host}/fleet/app", $"{second.Host}/mirror/app", "--plain-http", "--json"));
        Assert.That(copied, Is.EquivalentTo(new Dictionary<string, string> { ["1"] = "exists", ["multi"] = "exists" }));
        var sig = CarryArtifacts.SignatureTag(v1);
        Assert.That((await mirror.FetchManifestAsync(await mirror.ResolveAsync(sig))).Layers, Has.Count.EqualTo(2));
        Assert.That((await mirror.ResolveAsync(sig)).Digest, Is.EqualTo((await firstRepo.ResolveAsync(sig)).Digest));

        // --no-referrers: versions only, and no signature tag either.
        copied = Copied(CliRun.Ok("copy", "--all-tags", $"{first.Host}/fleet/app", $"{second.Host}/bare/app", "--plain-http", "--json", "--no-referrers"));
        Assert.That(copied.Keys, Is.EquivalentTo(new[] { "1", "multi" }));
        var tags = new List<string>();
        await foreach (var tag in secondClient.Repository("bare/app").ListTagsAsync()) tags.Add(tag);
        Assert.That(tags, Is.EquivalentTo(new[] { "1", "multi" }));
    }
}

internal static class CarryLet
{
    public static TResult Let<T, TResult>(this T value, Func<T, TResult> f) => f(value);
}
