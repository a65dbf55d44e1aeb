using Doras.Delta.Artifacts;
using Doras.Oci.IO;

namespace Doras.EdgeClient.Updates.Install;

/// <summary>The files an update uses, all in the work directory beside the output (same filesystem, so renames are atomic).</summary>
internal sealed record WorkPaths(string Work, string Output)
{
    public static WorkPaths For(string output, string? workDirectory) =>
        new(new UpdateOptions { Reference = "-", Output = output, WorkDirectory = workDirectory }.ResolvedWorkDirectory, Path.GetFullPath(output));

    public string State => Path.Combine(Work, "state.json");
    public string Journal => Path.Combine(Work, "journal.json");
    public string Lock => Path.Combine(Work, "lock");
    public string Budget => Path.Combine(Work, "budget.json");
    public string NewStaging() => Path.Combine(Work, $"staging-{Guid.NewGuid():N}");
    public string NewTree() => Path.Combine(Work, $"tree-{Guid.NewGuid():N}");

    /// <summary>Where a swap without atomic exchange moves the old tree between its two renames.</summary>
    public string Aside => Path.Combine(Work, "aside");
    public string BaseCache(string contentDigest) => Path.Combine(Work, "base-" + contentDigest.Replace(':', '-'));
    public string BaseContent(InstallState state) =>
        state.Kind == nameof(ArtifactKind.File) ? Path.Combine(Output, state.Name) : BaseCache(state.ContentDigest);
    public string Installed(InstallState state) =>
        state.Kind == nameof(ArtifactKind.File) ? Path.Combine(Output, state.Name) : Output;

    /// <summary>The kept previous version: a folder holding the file, or the tree itself; its state beside it.</summary>
    public string Previous => Path.Combine(Work, "previous");
    public string PreviousState => Path.Combine(Work, "previous.json");
    public string Kept(InstallState state) => (this with { Output = Previous }).Installed(state);

    public void DropPrevious()
    {
        Durable.TryDelete(PreviousState); // first: a kept version without its state is never used
        if (Directory.Exists(Previous)) Directory.Delete(Previous, recursive: true);
    }

    /// <summary>Cached bases other than the installed and the kept version's: no delta will apply to them again.</summary>
    public void RemoveStaleBases(InstallState current)
    {
        var keep = new HashSet<string> { BaseCache(current.ContentDigest) };
        if (InstallState.Load(PreviousState) is { } previous) keep.Add(BaseCache(previous.ContentDigest));
        foreach (var file in Directory.EnumerateFiles(Work, "base-*"))
            if (!keep.Contains(file)) Durable.TryDelete(file);
    }

    /// <summary>Finished and partial downloads (resumed only by an update still under way).</summary>
    public void RemoveDownloads()
    {
        foreach (var file in Directory.EnumerateFiles(Work, "download-*")) Durable.TryDelete(file);
    }

    /// <summary>Staging files and trees of an update that was interrupted: never installed, safe to remove.</summary>
    public void RemoveLeftovers()
    {
        foreach (var file in Directory.EnumerateFiles(Work, "staging-*")) Durable.TryDelete(file);
        // A leftover that still cannot go (a file system turned read-only) blocks nothing: every update makes its own name.
        foreach (var dir in Directory.EnumerateDirectories(Work, "tree-*"))
            try { DeleteTree(dir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Removes a tree this update made, however deep (a hostile archive's may pass PATH_MAX, which a removal by
    /// path cannot reach): a leftover it could not remove would sit in the work directory for good.
    /// </summary>
    public static void DeleteTree(string path)
    {
        if (OperatingSystem.IsLinux()) BeneathDirectory.DeleteTree(path);
        else if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }
}
