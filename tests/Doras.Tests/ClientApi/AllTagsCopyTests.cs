using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Layout;
using Doras.Oci.Remote;

namespace Doras.Tests.ClientApi;

/// <summary><c>doras copy --all-tags</c>: a whole repository, local store to registry and registry to registry, skipping what the target has.</summary>
public class AllTagsCopyTests
{
    private static Dictionary<string, (string Digest, string Action)> Copied(string output) => output
        .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Where(l => l.StartsWith('{'))
        .Select(l => JsonDocument.Parse(l).RootElement)
        .ToDictionary(e => e.GetProperty("tag").GetString()!, e => (e.GetProperty("digest").GetString()!, e.GetProperty("action").GetString()!));

    [Test]
    public async Task Every_tag_goes_from_the_store_to_a_registry_and_on_to_another_and_only_changes_are_copied_again()
    {
        await using var first = await RegistryProcess.StartAsync();
        await using var second = await RegistryProcess.StartAsync();
        using var dir = new TempDirectory();
        var store = dir["store"];
        var v1 = TestData.Binary(100_000, 1);
        CliRun.Ok("push", dir.Write("1/app.bin", v1), "fleet/app:1", "--tag", "stable", "--store", store);
        CliRun.Ok("push", dir.Write("2/app.bin", TestData.Edit(v1, 2)), "fleet/app:2", "--store", store);
        CliRun.Ok("push", "fleet/app:multi", "--platform", $"linux/amd64={dir.Write("x/app.bin", TestData.Binary(50_000, 3))}",
            "--platform", $"linux/arm64={dir.Write("a/app.bin", TestData.Binary(50_000, 4))}", "--store", store);
        var local = new OciLayoutStore(store).Open("fleet/app");
        string[] tags = ["1", "stable", "2", "multi"];
        var digests = new Dictionary<string, string>();
        foreach (var tag in tags) digests[tag] = (await local.ResolveAsync(tag)).Digest.ToString();
        // Tags a delta server writes beside the versions: its state, left out unless asked for.
        await local.TagAsync(await local.ResolveAsync("1"), "_delta-demo");
        await local.TagAsync(await local.ResolveAsync("2"), "_doras-usage");

        // Store -> registry.
        var copied = Copied(CliRun.Ok("copy", "--all-tags", "fleet/app", $"{first.Host}/fleet/app", "--store", store, "--plain-http", "--json"));
        Assert.That(copied.Keys, Is.EquivalentTo(tags));
        foreach (var tag in tags) Assert.That(copied[tag], Is.EqualTo((digests[tag], "copied")), tag);
        using var firstClient = new RegistryClient(first.Host, new RegistryClientOptions { PlainHttp = true });
        foreach (var tag in tags) Assert.That((await firstClient.Repository("fleet/app").ResolveAsync(tag)).Digest.ToString(), Is.EqualTo(digests[tag]), tag);

        // Again: the target has everything.
        copied = Copied(CliRun.Ok("copy", "--all-tags", "fleet/app", $"{first.Host}/fleet/app", "--store", store, "--plain-http", "--json"));
        Assert.That(copied.Values.Select(c => c.Action), Is.All.EqualTo("exists"));
        Assert.That(copied.Keys, Is.EquivalentTo(tags));

        // The server's tags only when asked for.
        copied = Copied(CliRun.Ok("copy", "--all-tags", "fleet/app", $"{first.Host}/fleet/app", "--store", store, "--plain-http", "--json", "--include-server-tags"));
        Assert.That(copied.Where(c => c.Value.Action == "copied").Select(c => c.Key), Is.EquivalentTo(new[] { "_delta-demo", "_doras-usage" }));

        // Registry -> registry, under another name; the index's platform builds come along; the server's tags do not.
        var text = CliRun.Ok("copy", "--all-tags", $"{first.Host}/fleet/app", $"{second.Host}/mirror/app", "--plain-http");
        Assert.That(text, Does.Contain("copied 4 of 4 tag(s) of " + first.Host + "/fleet/app to " + second.Host + "/mirror/app (0 already there)"));
        CliRun.Ok("download", $"{second.Host}/mirror/app:multi", "--platform", "linux/arm64", "-o", dir["dl"], "--plain-http");
        Assert.That(File.ReadAllBytes(dir["dl/app.bin"]), Is.EqualTo(TestData.Binary(50_000, 4)));

        // Move one tag at the source: only it is copied.
        CliRun.Ok("push", dir.Write("3/app.bin", TestData.Edit(v1, 5)), $"{first.Host}/fleet/app:3", "--tag", "stable", "--plain-http");
        copied = Copied(CliRun.Ok("copy", "--all-tags", $"{first.Host}/fleet/app", $"{second.Host}/mirror/app", "--plain-http", "--json"));
        Assert.That(copied.Where(c => c.Value.Action == "copied").Select(c => c.Key), Is.EquivalentTo(new[] { "3", "stable" }));
        Assert.That(copied.Where(c => c.Value.Action == "exists").Select(c => c.Key), Is.EquivalentTo(new[] { "1", "2", "multi" }));
        using var secondClient = new RegistryClient(second.Host, new RegistryClientOptions { PlainHttp = true });
        Assert.That((await secondClient.Repository("mirror/app").ResolveAsync("stable")).Digest,
            Is.EqualTo((await firstClient.Repository("fleet/app").ResolveAsync("3")).Digest));

        var (code, output) = CliRun.Run("copy", "--all-tags", "fleet/app:1", $"{first.Host}/fleet/app", "--store", store, "--plain-http");
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), output);
        Assert.That(output.Trim(), Is.EqualTo($"doras: with --all-tags, name repositories without a tag or digest: fleet/app {first.Host}/fleet/app"));
    }
}
