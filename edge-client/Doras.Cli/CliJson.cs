using System.Text.Json;
using System.Text.Json.Serialization;
using Doras.EdgeClient.Updates;

namespace Doras.Cli;

/// <summary>What `--json` prints: one object per result or failure (JSON Lines in watch mode).</summary>
public sealed record JsonResult(
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("installed")] string Installed,
    [property: JsonPropertyName("manifest")] string Manifest,
    [property: JsonPropertyName("bytesDownloaded")] long BytesDownloaded,
    [property: JsonPropertyName("fullDownloadSize")] long FullDownloadSize,
    [property: JsonPropertyName("contentSize")] long ContentSize,
    [property: JsonPropertyName("fallbackReason")] string? FallbackReason,
    [property: JsonPropertyName("check"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Check = null,
    [property: JsonPropertyName("hook"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Hook = null)
{
    public static JsonResult From(UpdateResult r, int? check = null, string? hook = null) => new(
        r.Mode.ToString().ToLowerInvariant(), r.InstalledPath, r.ManifestDigest, r.BytesDownloaded, r.FullDownloadSize, r.ContentSize, r.FallbackReason, check, hook);
}

public sealed record JsonError(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("exitCode")] int ExitCode,
    [property: JsonPropertyName("check"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Check = null);

/// <summary><c>doras catalog --json</c>: the repositories, as the registry's <c>/v2/_catalog</c> names them.</summary>
public sealed record JsonCatalog(
    [property: JsonPropertyName("registry")] string Registry,
    [property: JsonPropertyName("repositories")] IReadOnlyList<string> Repositories);

/// <summary><c>doras delete --json</c>: what was deleted, by digest.</summary>
public sealed record JsonDeleted(
    [property: JsonPropertyName("deleted")] string Deleted,
    [property: JsonPropertyName("kind")] string Kind);

/// <summary><c>doras copy --all-tags --json</c>: per tag, the digest copied, or that the target had it already.</summary>
public sealed record JsonCopiedTag(
    [property: JsonPropertyName("tag")] string Tag,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("action")] string Action);

[JsonSerializable(typeof(JsonResult))]
[JsonSerializable(typeof(JsonError))]
[JsonSerializable(typeof(JsonCatalog))]
[JsonSerializable(typeof(JsonDeleted))]
[JsonSerializable(typeof(JsonCopiedTag))]
internal sealed partial class CliJson : JsonSerializerContext
{
    /// <summary>'+' and quotes written as themselves, as other tools print them (<see cref="Doras.Oci.Model.OciJson.Plain"/>).</summary>
    private static JsonSerializerOptions? _plain;

    private static JsonSerializerOptions PlainOptions => _plain ??= Doras.Oci.Model.OciJson.Plain(Default!);

    private static string Of<T>(T value) => JsonSerializer.Serialize(value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)PlainOptions.GetTypeInfo(typeof(T)));

    public static string Of(JsonCatalog value) => Of<JsonCatalog>(value);
    public static string Of(JsonDeleted value) => Of<JsonDeleted>(value);
    public static string Of(JsonCopiedTag value) => Of<JsonCopiedTag>(value);
    public static string Of(JsonResult value) => Of<JsonResult>(value);
    public static string Of(JsonError value) => Of<JsonError>(value);
}
