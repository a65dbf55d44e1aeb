using Doras.Delta.Artifacts;

namespace Doras.Tests.EndToEnd;

/// <summary>Content at the output that doras did not install is the user's: refused by default, replaced only when asked.</summary>
public class ExistingContentTests
{
    private static (int Code, string Output) Run(params string[] args) => ExternalTool.Run("dotnet", [Binaries.Doras, .. args]);

    [Test, CancelAfter(120_000)]
    public async Task A_users_directory_is_left_untouched_without_replace_existing_and_replaced_with_it()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var tree = server.Scratch["release/site"];
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "index.html"), "v1");
        await ArtifactPublisher.PublishAsync(server.Store.Repository("fleet/site"), tree, ["stable"]);
        var output = dir["www"];
        Directory.CreateDirectory(output);
        var notes = TestData.Binary(5000, 31);
        File.WriteAllBytes(Path.Combine(output, "notes.txt"), notes);

        string[] pull = ["pull", "fleet/site:stable", "--server", server.Url.ToString(), "--output", output];
        var (code, text) = Run(pull);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(text, Does.Contain($"doras: {output} exists and was not installed by doras").And.Contain("--replace-existing"));
        Assert.That(File.ReadAllBytes(Path.Combine(output, "notes.txt")), Is.EqualTo(notes), "the user's file survives byte for byte");
        Assert.That(Directory.GetFileSystemEntries(output), Has.Length.EqualTo(1));

        (code, text) = Run([.. pull, "--replace-existing"]);
        Assert.That(code, Is.Zero, text);
        Assert.That(File.Exists(Path.Combine(output, "notes.txt")), Is.False);
        Assert.That(File.ReadAllText(Path.Combine(output, "index.html")), Is.EqualTo("v1"));

        // Installed by doras now: later updates need no flag.
        (code, text) = Run(pull);
        Assert.That(code, Is.Zero, text);
        Assert.That(text, Does.StartWith("up to date"));
    }

    [Test, CancelAfter(120_000)]
    public async Task An_empty_directory_is_used_and_a_users_file_at_the_artifacts_path_is_refused()
    {
        await using var server = await RunningServer.StartAsync();
        using var dir = new TempDirectory();
        var repository = server.Store.Repository("fleet/tool");
        await Versions.PublishFileAsync(repository, server.Scratch, "tool", TestData.Binary(100_000, 32), "stable");
        Directory.CreateDirectory(dir["empty"]);
        var (code, text) = Run("pull", "fleet/tool:stable", "--server", server.Url.ToString(), "--output", dir["empty"]);
        Assert.That(code, Is.Zero, text);

        var users = dir.Write("device/tool", "#!/bin/sh\necho mine\n"u8.ToArray());
        (code, text) = Run("pull", "fleet/tool:stable", "--server", server.Url.ToString(), "--output", dir["device"]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(text, Does.Contain($"doras: {users} exists and was not installed by doras").And.Contain("--replace-existing"));
        Assert.That(File.ReadAllBytes(users), Is.EqualTo("#!/bin/sh\necho mine\n"u8.ToArray()));

        var file = dir.Write("plain", "not a directory"u8.ToArray());
        (code, text) = Run("pull", "fleet/tool:stable", "--server", server.Url.ToString(), "--output", file);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(File.ReadAllText(file), Is.EqualTo("not a directory"));
    }
}
