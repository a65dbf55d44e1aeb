using Doras.Delta.Artifacts;

namespace Doras.Tests.EndToEnd;

/// <summary>Content at the output that doras did not install is the user's: refused by default, replaced only when asked.</summary>
public class ExistingContentTests
{
    private static (int Code, string Output) Run(params string[] args) => ExternalTool.Run(Binaries.Doras, args);

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

        string[] pull = ["pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", output];
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
        var (code, text) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["empty"]);
        Assert.That(code, Is.Zero, text);

        var users = dir.Write("device/tool", "#!/bin/sh\necho mine\n"u8.ToArray());
        (code, text) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["device"]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(text, Does.Contain($"doras: {users} exists and was not installed by doras").And.Contain("--replace-existing"));
        Assert.That(File.ReadAllBytes(users), Is.EqualTo("#!/bin/sh\necho mine\n"u8.ToArray()));

        var file = dir.Write("plain", "not a directory"u8.ToArray());
        (code, text) = Run("pull", "fleet/tool:stable", "--allow-http", "--server", server.Url.ToString(), "--output", file);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(File.ReadAllText(file), Is.EqualTo("not a directory"));
    }

    private static async Task<RunningServer> ServerWithSiteAsync()
    {
        var server = await RunningServer.StartAsync();
        var tree = server.Scratch["release/site"];
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "index.html"), "v1");
        await ArtifactPublisher.PublishAsync(server.Store.Repository("fleet/site"), tree, ["stable"]);
        return server;
    }

    [Test, CancelAfter(120_000)]
    public async Task Two_outputs_sharing_a_work_directory_cannot_make_a_users_directory_look_installed()
    {
        await using var server = await ServerWithSiteAsync();
        using var dir = new TempDirectory();
        var work = dir["var-lib-doras"];
        var (code, text) = Run("pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["a"], "--work-dir", work);
        Assert.That(code, Is.Zero, text);
        var thesis = dir.Write("b/thesis.txt", TestData.Binary(3000, 5));

        (code, text) = Run("pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["b"], "--work-dir", work);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(text, Does.Contain($"the work directory {work} holds the state of another output ({dir["a"]}); give each output its own --work-dir"));
        Assert.That(File.ReadAllBytes(thesis), Is.EqualTo(TestData.Binary(3000, 5)));
    }

    [Test, CancelAfter(120_000)]
    public async Task A_work_directory_that_is_a_users_folder_or_a_link_to_one_is_refused_and_nothing_in_it_is_touched()
    {
        await using var server = await ServerWithSiteAsync();
        using var dir = new TempDirectory();
        var photo = dir.Write("home/previous/photo.jpg", TestData.Binary(2000, 6));
        var journal = dir.Write("home/journal.json", "my journal"u8.ToArray());
        var before = TreeSnapshot.Take(dir["home"]);

        var (code, text) = Run("pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["app"], "--work-dir", dir["home"]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(text, Does.Contain($"the work directory {dir["home"]} is not empty and holds no doras state, so it is not doras's work directory"));

        File.CreateSymbolicLink(dir[".app.doras"], dir["home"]); // the default work directory, as a link to the user's folder
        (code, text) = Run("pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["app"]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(text, Does.Contain($"the work directory {dir[".app.doras"]} is a symlink"));

        Assert.That(TreeSnapshot.Take(dir["home"]), Is.EqualTo(before), "the user's folder is exactly as it was");
        Assert.That(File.ReadAllBytes(photo), Is.EqualTo(TestData.Binary(2000, 6)));
        Assert.That(File.ReadAllText(journal), Is.EqualTo("my journal"));
        Assert.That(Directory.Exists(dir["app"]), Is.False);
    }

    [Test, CancelAfter(120_000)]
    public async Task An_output_that_is_a_symlink_is_the_users_and_is_not_replaced_without_the_flag()
    {
        await using var server = await ServerWithSiteAsync();
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir["mnt/data"]);
        File.CreateSymbolicLink(dir["app"], dir["mnt/data"]);
        var (code, text) = Run("pull", "fleet/site:stable", "--allow-http", "--server", server.Url.ToString(), "--output", dir["app"]);
        Assert.That(code, Is.EqualTo(global::Doras.Cli.ExitCodes.Usage), text);
        Assert.That(text, Does.Contain($"{dir["app"]} exists and was not installed by doras"));
        Assert.That(new FileInfo(dir["app"]).LinkTarget, Is.EqualTo(dir["mnt/data"]), "the link is still there");
    }
}
