using Doras.Oci.Remote;
using Doras.Oci.Remote.Auth;

namespace Doras.Tests.Registry;

/// <summary>
/// A device that names versions without the registry host (<c>team/app:stable</c>) through a registry-mode server:
/// the server answers 401 with the registry's Bearer challenge, and `doras pull -u -p` fetches a token and comes back.
/// </summary>
public class BareReferenceCredentialsTests
{
    [Test, CancelAfter(180_000)]
    public async Task Pull_with_u_and_p_follows_the_registrys_challenge_passed_on_by_the_server(CancellationToken ct)
    {
        using var dir = new TempDirectory();
        await using var tokens = await TokenServer.StartAsync(dir.Path);
        await using var registry = await RegistryProcess.StartWithTokenAuthAsync(tokens.Realm, tokens.CertificatePath);
        var (user, password) = tokens.Account;
        var credentials = new StaticCredentialProvider(new Dictionary<string, Credential> { [registry.Host] = new(user, password) });
        using var publisher = new RegistryClient(registry.Host, new RegistryClientOptions { PlainHttp = true, Credentials = credentials });
        var repository = publisher.Repository("team/app");
        var v1 = TestData.Binary(300_000, 5);
        await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1", "stable");
        await using var server = await RunningServer.StartAsync("--registry", registry.Host, "--Registry:PlainHttp", "true",
            "--Registry:Credentials:0:Host", registry.Host, "--Registry:Credentials:0:Username", user, "--Registry:Credentials:0:Password", password);
        string[] pull = ["pull", "team/app:stable", "--allow-http", "--server", server.Url.ToString(), "-o", dir["device"]];

        // Without credentials: the server's 401, one line, exit 7.
        var (code, output) = await Task.Run(() => ExternalTool.Run(Binaries.Doras, pull), ct);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Unauthorized), output);

        (code, output) = await Task.Run(() => ExternalTool.Run(Binaries.Doras, [.. pull, "-u", user, "-p", password]), ct);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("full download: "));
        await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Edit(v1, 6), "v2", "stable");
        (code, output) = await Task.Run(() => ExternalTool.Run(Binaries.Doras, [.. pull, "-u", user, "-p", password]), ct);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.StartWith("delta update: "));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(TestData.Edit(v1, 6)));
        Assert.That(tokens.TokensIssued, Is.GreaterThan(0));
    }
}
