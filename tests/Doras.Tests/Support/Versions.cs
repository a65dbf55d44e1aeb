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

    /// <summary>
    /// Waits until the system clock is in a later whole second than when called: a version's creation time has whole
    /// seconds, so one published after this counts as newer (at most 1 s, half of it on average; a fixed sleep took 1.1 s).
    /// </summary>
    public static Task NextSecondAsync()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return Eventually.UntilAsync(() => DateTimeOffset.UtcNow.ToUnixTimeSeconds() > now, TimeSpan.FromSeconds(2), "the next second", TimeSpan.FromMilliseconds(20));
    }

    public static string Ref(string repository, Descriptor manifest) => $"{repository}@{manifest.Digest}";
}
