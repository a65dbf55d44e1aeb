using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Doras.Tests.Support;

/// <summary>
/// Gives an image in an OCI layout (as buildah wrote it, gzip layers) layers compressed by another real encoder: each
/// layer's tar is piped through the tool (e.g. <c>zstd -3 -c</c>, <c>gzip -9 -n -c</c>), the manifest's layer
/// descriptors follow (diff_ids stay: the tars are the same) and the tag moves to the new manifest. Then skopeo
/// pushes it to a registry as it is.
/// </summary>
public static class LayoutRecompression
{
    public static void Recompress(string layout, string tag, string mediaType, string tool, params string[] args)
    {
        var indexPath = Path.Combine(layout, "index.json");
        var index = JsonNode.Parse(File.ReadAllText(indexPath))!;
        var entry = index["manifests"]!.AsArray().First(m => m!["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>() == tag)!;
        var manifest = JsonNode.Parse(File.ReadAllBytes(Blob(layout, entry["digest"]!.GetValue<string>())))!;
        foreach (var layer in manifest["layers"]!.AsArray())
        {
            var tar = Path.Combine(layout, "recompress.tar");
            using (var compressed = File.OpenRead(Blob(layout, layer!["digest"]!.GetValue<string>())))
            using (var gzip = new GZipStream(compressed, CompressionMode.Decompress))
            using (var output = File.Create(tar))
                gzip.CopyTo(output);
            var recompressed = Path.Combine(layout, "recompressed");
            var result = ExternalTool.Run("sh", "-c", $"{tool} {string.Join(' ', args)} < '{tar}' > '{recompressed}'");
            if (result.ExitCode != 0) throw new InvalidOperationException($"{tool} failed: {result.Output}");
            var bytes = File.ReadAllBytes(recompressed);
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
            File.Move(recompressed, Blob(layout, digest), overwrite: true);
            File.Delete(tar);
            layer["mediaType"] = mediaType;
            layer["digest"] = digest;
            layer["size"] = bytes.Length;
        }
        var manifestBytes = System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var manifestDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(manifestBytes));
        File.WriteAllBytes(Blob(layout, manifestDigest), manifestBytes);
        entry["digest"] = manifestDigest;
        entry["size"] = manifestBytes.Length;
        File.WriteAllText(indexPath, index.ToJsonString());
    }

    private static string Blob(string layout, string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);

    /// <summary>
    /// Replaces layer <paramref name="index"/> of the image at <paramref name="tag"/> with <paramref name="tar"/> (gzip
    /// by .NET), and the config's diff_id with the tar's digest: a consistent image with a layer no builder would write.
    /// </summary>
    public static void ReplaceLayer(string layout, string tag, int index, byte[] tar)
    {
        var indexPath = Path.Combine(layout, "index.json");
        var layoutIndex = JsonNode.Parse(File.ReadAllText(indexPath))!;
        var entry = layoutIndex["manifests"]!.AsArray().First(m => m!["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>() == tag)!;
        var manifest = JsonNode.Parse(File.ReadAllBytes(Blob(layout, entry["digest"]!.GetValue<string>())))!;
        var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(tar);
        var layer = manifest["layers"]![index]!;
        layer["digest"] = Store(layout, compressed.ToArray());
        layer["size"] = compressed.Length;
        var config = JsonNode.Parse(File.ReadAllBytes(Blob(layout, manifest["config"]!["digest"]!.GetValue<string>())))!;
        config["rootfs"]!["diff_ids"]![index] = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar));
        var configBytes = System.Text.Encoding.UTF8.GetBytes(config.ToJsonString());
        manifest["config"]!["digest"] = Store(layout, configBytes);
        manifest["config"]!["size"] = configBytes.Length;
        var manifestBytes = System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString());
        entry["digest"] = Store(layout, manifestBytes);
        entry["size"] = manifestBytes.Length;
        File.WriteAllText(indexPath, layoutIndex.ToJsonString());
    }

    private static string Store(string layout, byte[] bytes)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
        File.WriteAllBytes(Blob(layout, digest), bytes);
        return digest;
    }
}
