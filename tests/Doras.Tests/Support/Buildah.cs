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
    public string BuildOn(string baseImage, string name, params string[] layerDirectories)
    {
        var previous = baseImage;
        for (var i = 0; i < layerDirectories.Length; i++)
        {
            var container = Run("from", "--quiet", previous);
            Run("copy", container, layerDirectories[i], "/" + Path.GetFileName(layerDirectories[i]));
            previous = i == layerDirectories.Length - 1 ? name : $"{name}-layer{i}";
            Run("commit", "--quiet", "--rm", container, previous);
        }
        return name;
    }

    /// <summary>
    /// Pushes a built image (docker:// or oci:DIR:TAG destination); <paramref name="format"/> oci or v2s2 (Docker),
    /// compression gzip, zstd or none (uncompressed layers).
    /// </summary>
    public void Push(string image, string destination, string format = "oci", string compression = "gzip") =>
        Run(["push", "--quiet", "--tls-verify=false", "--format", format, .. compression == "none" ? ["--disable-compression"] : new[] { "--compression-format", compression }, image, destination]);
}
