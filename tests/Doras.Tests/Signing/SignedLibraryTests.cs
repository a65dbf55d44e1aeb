using Doras.Oci.Content;
using System.Security.Cryptography;
using Doras.EdgeClient.Updates;
using Doras.Signing;
using Doras.Signing.Cosign;
using Doras.Signing.Keys;

namespace Doras.Tests.Signing;

/// <summary>
/// The library's verification (UpdateOptions.Verification) on the paths the CLI test does not take: a file already at
/// the output (the signature-delta path) and the recorded floor across an explicit rollback.
/// </summary>
public class SignedLibraryTests
{
    private static SigningKey NewKey() => SigningKey.FromPem(ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportPkcs8PrivateKeyPem());

    [Test, CancelAfter(120_000)]
    public async Task A_file_at_the_output_is_not_a_way_around_verification()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/app");
        var content = TestData.Binary(300_000, 1);
        await Versions.PublishFileAsync(repository, dir, "app.bin", content, "stable"); // unsigned
        var existing = TestData.Edit(content, 2);
        dir.Write("device/app.bin", existing);
        using var key = NewKey();
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions
        {
            Reference = "fleet/app:stable", Output = dir["device"], ReplaceExisting = true,
            Verification = new PublisherVerification { Keys = [key.PublicKey] },
        };
        var refused = await Assert.ThrowsAsync<SignatureRefusedException>(() => updater.UpdateAsync(options));
        Assert.That(refused!.Reason, Is.EqualTo(RefusalReason.NoSignature));
        Assert.That(File.ReadAllBytes(dir["device/app.bin"]), Is.EqualTo(existing), "the file is untouched");
        Assert.That(Directory.EnumerateFiles(options.ResolvedWorkDirectory, "download-*", SearchOption.AllDirectories), Is.Empty, "nothing was downloaded");
    }

    [Test, CancelAfter(120_000)]
    public async Task An_explicit_rollback_keeps_the_newest_accepted_version_as_the_floor()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/app");
        using var key = NewKey();
        var v1 = TestData.Binary(300_000, 3);
        var m1 = await Versions.PublishFileAsync(repository, dir, "app.bin", v1, "v1", "stable");
        await CosignSigner.SignAsync(repository, m1, "fleet/app", key);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions
        {
            Reference = "fleet/app:stable", Output = dir["device"], KeepPrevious = true,
            Verification = new PublisherVerification { Keys = [key.PublicKey] },
        };
        await updater.UpdateAsync(options);
        var v2 = TestData.Edit(v1, 4);
        var m2 = await Versions.PublishFileAsync(repository, dir, "app.bin", v2, "v2", "stable");
        await CosignSigner.SignAsync(repository, m2, "fleet/app", key);
        await updater.UpdateAsync(options);
        var floor = InstallState.Load(Path.Combine(options.ResolvedWorkDirectory, "state.json"))?.NewestAccepted;
        Assert.That(floor, Is.Not.Null);

        // Rolled back by hand to v1: the content goes back, the floor does not.
        var rolledBack = await updater.RollbackAsync(options);
        Assert.That(File.ReadAllBytes(rolledBack.InstalledPath), Is.EqualTo(v1));
        Assert.That(InstallState.Load(Path.Combine(options.ResolvedWorkDirectory, "state.json"))!.NewestAccepted, Is.EqualTo(floor));
        await repository.TagAsync(m1, "stable");
        Assert.That(() => updater.UpdateAsync(options), Throws.TypeOf<Doras.EdgeClient.Updates.Trust.DowngradeRefusedException>());
        await repository.TagAsync(m2, "stable");
        var forward = await updater.UpdateAsync(options);
        Assert.That(File.ReadAllBytes(forward.InstalledPath), Is.EqualTo(v2));
    }
}

/// <summary>Found by review: a signed version that cannot be ordered, and a build for another platform, are refused.</summary>
public class SignedFactsTests
{
    [Test, CancelAfter(120_000)]
    public async Task A_signed_version_without_a_creation_time_is_refused_unless_downgrades_are_allowed()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/app");
        using var key = SigningKey.FromPem(ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportPkcs8PrivateKeyPem());
        var published = await Versions.PublishFileAsync(repository, dir, "app.bin", TestData.Binary(100_000, 5));
        var manifest = await repository.FetchManifestAsync(published);
        var undated = await repository.PushManifestAsync(manifest with { Annotations = null }, ["stable"]);
        await CosignSigner.SignAsync(repository, undated, "fleet/app", key);
        var updater = new Updater(LoopbackDeltaClient.Create(server.Url));
        var options = new UpdateOptions { Reference = "fleet/app:stable", Output = dir["device"], Verification = new PublisherVerification { Keys = [key.PublicKey] } };
        Assert.That(() => updater.UpdateAsync(options), Throws.TypeOf<Doras.EdgeClient.Updates.Trust.DowngradeRefusedException>()
            .With.Message.Contains("it has no signed creation time (org.opencontainers.image.created, which doras push sets)"));
        Assert.That(File.Exists(dir["device/app.bin"]), Is.False);
        var installed = await updater.UpdateAsync(options with { AllowDowngrade = true });
        Assert.That(installed.ManifestDigest, Is.EqualTo(undated.Digest.ToString()));
    }
}
