using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Signing.Notation;

namespace Doras.Tests.Signing;

/// <summary>
/// End to end with the native `doras`: a version with a Notation JWS signature (made in the test, under a CA the
/// device's trust store holds) attached as a referrer installs with --trust-policy/--trust-store; one signed under
/// another CA is refused (both found through the referrers tag fallback) (exit 11) and the installed file stays; the options go together or not at all (exit 2).
/// </summary>
public class NotationUpdateTests
{
    private const string Repository = "fleet/app";

    [Test, CancelAfter(300_000)]
    public async Task A_version_with_a_trusted_Notation_signature_installs_and_an_untrusted_one_is_refused()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var publisher = new NotationSigning();
        var stranger = new NotationSigning("CN=Stranger Root,O=Elsewhere,ST=WA,C=US");
        var (policy, store) = publisher.TrustFiles(dir["trust"]);
        var repository = server.Store.Repository(Repository);

        async Task AttachAsync(Descriptor subject, byte[] envelope)
        {
            var layer = await repository.PushBytesAsync("application/jose+json", envelope);
            await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
            var signature = await repository.PushManifestAsync(new ImageManifest
            {
                ArtifactType = NotationVerifier.ArtifactType, Config = Descriptor.EmptyJson, Layers = [layer], Subject = subject,
            }, []);
            // The store behind the server keeps no referrers API of its own: the distribution spec's referrers tag
            // fallback (an index tagged <alg>-<hex> listing the referrers), as a client writes it for such a registry.
            await repository.PushIndexAsync(new ImageIndex { Manifests = [signature with { ArtifactType = NotationVerifier.ArtifactType }] },
                [subject.Digest.ToString().Replace(':', '-')]);
        }
        (int Code, string Output) Pull(params string[] more) =>
            ExternalTool.Run(Binaries.Doras, ["pull", $"{Repository}:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"], .. more]);

        var v1 = TestData.Binary(1 << 16, 1);
        var m1 = await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1", "stable");
        await AttachAsync(m1, publisher.Jws(m1));
        var (code, output) = Pull("--trust-policy", policy, "--trust-store", store);
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));

        var m2 = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v1, 2), "v2", "stable");
        await AttachAsync(m2, stranger.Jws(m2));
        (code, output) = Pull("--trust-policy", policy, "--trust-store", store);
        Assert.That(code, Is.EqualTo(11), output);
        Assert.That(output, Does.EndWith($"doras: {Repository}:stable ({m2.Digest}) is refused: not signed by a trusted key: 1 signature(s) found; none verifies with a trusted key (Notation: the signature's certificate chain does not contain any trusted certificate)\n"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));

        (code, output) = Pull("--trust-policy", policy);
        Assert.That(code, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain("--trust-policy needs --trust-store"));
        (code, output) = Pull("--trust-store", store);
        Assert.That(code, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain("--trust-store needs --trust-policy"));
        File.WriteAllText(dir["bad-policy.json"], """{"version":"1.0","trustPolicies":[{"name":"x","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca"],"trustedIdentities":["*"]}]}""");
        (code, output) = Pull("--trust-policy", dir["bad-policy.json"], "--trust-store", store);
        Assert.That(code, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain("is missing separator in trust store value \"ca\""));
    }
}
