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

    /// <summary>
    /// Tags, as <paramref name="tag"/>, a copy of <paramref name="version"/> whose layer lies about its content digest (a
    /// lie of its own for each tag, so each is another version): every build of a delta to it fails its verification
    /// ("content digest mismatch").
    /// </summary>
    public static async Task<Descriptor> PublishLyingAsync(IOciRepository repository, Descriptor version, string tag)
    {
        var manifest = await repository.FetchManifestAsync(version);
        var layer = manifest.Layers[0];
        var lying = manifest with
        {
            Layers = [layer with { Annotations = new Dictionary<string, string>(layer.Annotations!) { [Doras.Delta.Vocabulary.DorasAnnotations.ContentDigest] = tag == "broken" ? "sha256:" + new string('1', 64) : Digest.Compute(System.Text.Encoding.UTF8.GetBytes(tag)).ToString() } }],
        };
        return await repository.PushManifestAsync(lying, [tag]);
    }
}
