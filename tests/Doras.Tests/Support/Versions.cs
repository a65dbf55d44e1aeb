using Doras.Delta.Artifacts;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Tests.Support;

/// <summary>Publishes test versions the way a release engineer would, and names them for requests.</summary>
public static class Versions
{
    public static async Task<Descriptor> PublishFileAsync(IOciRepository repository, TempDirectory dir, string name, byte[] content, params string[] tags)
    {
        var path = dir.Write($"release-{Guid.NewGuid():N}/{name}", content);
        return (await ArtifactPublisher.PublishAsync(repository, path, tags)).Manifest;
    }

    public static string Ref(string repository, Descriptor manifest) => $"{repository}@{manifest.Digest}";
}
