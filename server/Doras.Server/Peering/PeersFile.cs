using System.Text.Json;
using System.Text.Json.Nodes;

namespace Doras.Server.Peering;

/// <summary>
/// Edits the peers file (<c>Peering:File</c>): <c>{"Peering": {"Peers": [...], "TrustedPeers": [...]}}</c>. A
/// running server reloads it when it changes, so <c>peer add</c> and <c>peer trust</c> (or an edit by hand)
/// add peers and rotate credentials without a restart. Written atomically, readable by its owner only.
/// </summary>
public sealed class PeersFile(string path)
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <summary>Adds or replaces (by <paramref name="key"/>'s value) one entry of <c>Peering:<paramref name="list"/></c>.</summary>
    public void Upsert(string list, string key, JsonObject entry)
    {
        var root = File.Exists(Path) ? JsonNode.Parse(File.ReadAllText(Path)) as JsonObject ?? throw new InvalidDataException($"{Path} is not a JSON object") : new JsonObject();
        var peering = root[PeeringOptions.Section] as JsonObject ?? (JsonObject)(root[PeeringOptions.Section] = new JsonObject());
        var items = peering[list] as JsonArray ?? (JsonArray)(peering[list] = new JsonArray());
        var name = entry[key]!.GetValue<string>();
        for (var i = items.Count - 1; i >= 0; i--)
            if (items[i] is JsonObject o && o[key]?.GetValue<string>() == name) items.RemoveAt(i);
        items.Add(entry);
        Write(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private void Write(string text)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var temp = Path + $".{Guid.NewGuid():N}.tmp";
        try
        {
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // it holds passwords
            using (var file = new FileStream(temp, create))
            {
                file.Write(System.Text.Encoding.UTF8.GetBytes(text));
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, Path, overwrite: true);
        }
        finally { File.Delete(temp); }
    }
}
