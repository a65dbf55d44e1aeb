using System.Text.Json;
using System.Text.Json.Serialization;
using Doras.Oci.IO;

namespace Doras.EdgeClient.Updates;

/// <summary>What is installed at a target, recorded after every successful update (written atomically).</summary>
public sealed record InstallState
{
    [JsonPropertyName("reference")] public required string Reference { get; init; }
    /// <summary>The installed artifact's manifest digest: the "from" of the next delta.</summary>
    [JsonPropertyName("manifestDigest")] public required string ManifestDigest { get; init; }
    [JsonPropertyName("kind")] public required string Kind { get; init; }
    /// <summary>File name (file artifacts) inside the output directory.</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("contentDigest")] public required string ContentDigest { get; init; }
    [JsonPropertyName("contentSize")] public required long ContentSize { get; init; }
    /// <summary>Directory artifacts: digest of the extracted tree, to notice local changes.</summary>
    [JsonPropertyName("treeDigest"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TreeDigest { get; init; }
    [JsonPropertyName("updatedAt")] public required DateTimeOffset UpdatedAt { get; init; }

    /// <summary>
    /// The signed creation time (<c>org.opencontainers.image.created</c>) of the newest version ever accepted here with
    /// verification on: an older version is a rollback nobody asked for. Kept across updates and explicit rollbacks.
    /// </summary>
    [JsonPropertyName("newestAccepted"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? NewestAccepted { get; init; }

    /// <summary>The full path of the output this state is for (absent in states written before it was recorded).</summary>
    [JsonPropertyName("output"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Output { get; init; }


    /// <summary>The recorded state, or null when there is none or it cannot be read (then the device does a full download).</summary>
    public static InstallState? Load(string path)
    {
        try { return JsonSerializer.Deserialize(File.ReadAllBytes(path), InstallStateJson.Default.InstallState); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        catch (JsonException) { return null; }
    }

    public Task SaveAsync(string path, CancellationToken ct = default) =>
        Durable.WriteAllBytesAtomicAsync(path, JsonSerializer.SerializeToUtf8Bytes(this, InstallStateJson.Default.InstallState), ct);
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(InstallState))]
internal sealed partial class InstallStateJson : JsonSerializerContext;
