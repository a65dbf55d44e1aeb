using System.Text.Json;
using System.Text.RegularExpressions;

namespace Doras.Tests.Signing;

/// <summary>
/// Signing and verifying against a real registry: `doras push --sign-key` writes cosign's tag form there, skopeo (an
/// independent client) reads the signature manifest as cosign's, openssl verifies its signature, and a device in front
/// of a registry-mode server installs the signed versions by delta and refuses the unsigned one.
/// </summary>
public partial class SignedRegistryTests
{
    [GeneratedRegex(@"pushed \S+@(sha256:[0-9a-f]{64})")]
    private static partial Regex Pushed();

    [Test, CancelAfter(300_000)]
    public async Task Signed_versions_in_a_registry_install_by_delta_and_the_signature_is_cosigns_to_skopeo_and_openssl()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true", "--Registry:RequireClientAuth", "false");
        using var dir = new TempDirectory();
        var a = Keys.Generate(dir, "a");
        var name = $"{registry.Host}/fleet/app";
        string Push(string file, byte[] content, string tag, params string[] more)
        {
            var output = ExternalTool.RunOk(Binaries.Doras, ["push", dir.Write($"{tag}/{file}", content), $"{name}:{tag}", "--tag", "stable", "--plain-http", .. more]);
            return Pushed().Match(output).Groups[1].Value;
        }
        (int Code, string Output) Pull() => ExternalTool.Run(Binaries.Doras, "pull", $"{name}:stable", "--plain-http", "--allow-http", "--server", server.Url.ToString(),
            "--output", dir["device"], "--verify-key", a.Public);

        var v1 = TestData.Binary(1 << 20, 11);
        var d1 = Push("app.bin", v1, "v1", "--sign-key", a.Private);
        var (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v1));

        // skopeo reads the signature as cosign's: one simple-signing layer with the signature annotation.
        var raw = ExternalTool.RunOk("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{name}:sha256-{d1[7..]}.sig");
        using var manifest = JsonDocument.Parse(raw);
        var layer = manifest.RootElement.GetProperty("layers")[0];
        Assert.That(layer.GetProperty("mediaType").GetString(), Is.EqualTo("application/vnd.dev.cosign.simplesigning.v1+json"));
        // openssl checks the signature over the payload skopeo fetched, and the payload names the version.
        ExternalTool.RunOk("skopeo", "copy", "--tls-verify=false", $"docker://{name}:sha256-{d1[7..]}.sig", $"dir:{dir["sig"]}");
        var payload = dir["sig/" + layer.GetProperty("digest").GetString()![7..]];
        File.WriteAllBytes(dir["sig.der"], Convert.FromBase64String(layer.GetProperty("annotations").GetProperty("dev.cosignproject.cosign/signature").GetString()!));
        Assert.That(ExternalTool.RunOk("openssl", "dgst", "-sha256", "-verify", a.Public, "-signature", dir["sig.der"], payload), Does.Contain("Verified OK"));
        Assert.That(File.ReadAllText(payload), Does.Contain($"\"docker-manifest-digest\":\"{d1}\"").And.Contain($"\"docker-reference\":\"{name}\""));

        var v2 = TestData.Edit(v1, 12, edits: 10);
        Push("app.bin", v2, "v2", "--sign-key", a.Private);
        (code, output) = Pull();
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: "));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v2));

        var d3 = Push("app.bin", TestData.Edit(v2, 13), "v3");
        (code, output) = Pull();
        Assert.That(code, Is.EqualTo(11), output);
        Assert.That(output, Does.EndWith($"doras: {name}:stable ({d3}) is refused: no signature: no cosign signature (tag form or sigstore bundle) was found for it or its index\n"));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(v2));
    }
}
