using System.Text.Json;
using Doras.Oci;
using Doras.Oci.Model;

namespace Doras.Server.Precompute;

/// <summary>
/// A notification of the registry's webhook (distribution's envelope: <c>{"events":[{"action":"push","target":
/// {"mediaType","digest","repository","tag",…}},…]}</c>), reduced to what matters here: tagged manifests pushed,
/// other than the server's own deltas.
/// </summary>
public static class RegistryNotification
{
    /// <summary>The versions a notification announces; throws <see cref="JsonException"/> or <see cref="FormatException"/> for a body that is not one.</summary>
    /// <param name="maxEvents">More events than this: <see cref="TooManyEventsException"/>.</param>
    public static IReadOnlyList<PublishedVersion> Parse(ReadOnlySpan<byte> body, int maxEvents)
    {
        using var document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("events", out var events) || events.ValueKind != JsonValueKind.Array)
            throw new FormatException("not a registry notification: no 'events' array");
        if (events.GetArrayLength() > maxEvents) throw new TooManyEventsException(events.GetArrayLength(), maxEvents);

        var versions = new List<PublishedVersion>();
        foreach (var e in events.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object || Text(e, "action") != "push" || !e.TryGetProperty("target", out var target) || target.ValueKind != JsonValueKind.Object)
                continue;
            var tag = Text(target, "tag");
            var repository = Text(target, "repository");
            var mediaType = Text(target, "mediaType") ?? "";
            if (string.IsNullOrEmpty(tag) || tag.StartsWith("_delta-", StringComparison.Ordinal) || !MediaTypes.IsManifest(mediaType)) continue;
            if (repository is null || !Reference.IsValidRepository(repository))
                throw new FormatException($"a push event names the repository '{repository}', which is not a valid repository name");
            if (!Digest.TryParse(Text(target, "digest"), out var digest))
                throw new FormatException($"a push event of {repository}:{tag} has no valid digest");
            var version = new PublishedVersion(repository, digest);
            if (!versions.Contains(version)) versions.Add(version);
        }
        return versions;
    }

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

public sealed class TooManyEventsException(int count, int max) : Exception($"a notification of {count} events; at most {max} are taken at once (Precompute:MaxEventsPerNotification)"), IFailure
{
    public FailureKind Kind => FailureKind.TooLarge;
}
