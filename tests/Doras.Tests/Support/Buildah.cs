namespace Doras.Tests.Support;

/// <summary>
/// Real container images built by buildah (Debian's package; `--storage-driver vfs` works as root without a daemon),
/// each test in its own storage root, pushed to an OCI layout directory or a registry.
/// </summary>
public sealed class Buildah(TempDirectory dir)
{
    private readonly string _root = dir["buildah-root"];
    private readonly string _runRoot = dir["buildah-runroot"];

    private string Run(params string[] args) =>
        ExternalTool.RunOk("buildah", ["--storage-driver", "vfs", "--root", _root, "--runroot", _runRoot, .. args]).Trim();

    /// <summary>
    /// Builds an image from scratch with one layer per directory (each copied to /NAME and committed), and returns
    /// its name in buildah's storage.
    /// </summary>
    public string Build(string name, params string[] layerDirectories) => BuildOn("scratch", name, layerDirectories);

    /// <summary>As <see cref="Build"/>, on top of <paramref name="baseImage"/> (whose layers the new image shares byte for byte).</summary>
    public string BuildOn(string baseImage, string name, params string[] layerDirectories) => BuildFor(null, baseImage, name, layerDirectories);

    /// <summary>As <see cref="BuildOn"/>, with the config saying <paramref name="architecture"/> (linux; null: this machine's).</summary>
    public string BuildFor(string? architecture, string baseImage, string name, params string[] layerDirectories)
    {
        var previous = baseImage;
        for (var i = 0; i < layerDirectories.Length; i++)
        {
            // The name is the line that is not a warning (buildah may warn about the base's platform).
            var container = Run(["from", "--quiet", .. architecture is null ? [] : new[] { "--arch", architecture }, previous])
                .Split('\n').Select(l => l.Trim()).First(l => l.Length > 0 && !l.StartsWith("time=", StringComparison.Ordinal));
            if (architecture is not null) Run("config", "--os", "linux", "--arch", architecture, container);
            Run("copy", container, layerDirectories[i], "/" + Path.GetFileName(layerDirectories[i]));
            previous = i == layerDirectories.Length - 1 ? name : $"{name}-layer{i}";
            Run("commit", "--quiet", "--rm", container, previous);
        }
        return name;
    }

    /// <summary>Pushes built images as one multi-platform index (each image's config names its platform).</summary>
    public void PushIndex(string listName, IEnumerable<string> images, string destination)
    {
        Run("manifest", "create", listName);
        foreach (var image in images) Run("manifest", "add", listName, image);
        Run("manifest", "push", "--quiet", "--all", "--tls-verify=false", "--format", "oci", listName, destination);
        Run("manifest", "rm", listName);
    }

    /// <summary>
    /// Pushes a built image (docker:// or oci:DIR:TAG destination); <paramref name="format"/> oci or v2s2 (Docker),
    /// compression gzip, zstd or none (uncompressed layers).
    /// </summary>
    public void Push(string image, string destination, string format = "oci", string compression = "gzip") =>
        Run(["push", "--quiet", "--tls-verify=false", "--format", format, .. compression == "none" ? ["--disable-compression"] : new[] { "--compression-format", compression }, image, destination]);
}
