using Doras.Delta.Artifacts;
using Doras.Delta.Vocabulary;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.Model;

namespace Doras.Cli.Commands;

/// <summary>
/// <c>doras push REF --platform linux/amd64=./build-x64 --platform linux/arm64=./build-arm64</c>: each build is
/// published as its own artifact manifest (untagged), then one image index lists them by platform and carries the
/// tags, so a mixed fleet follows one tag and each device installs (and gets deltas between) its own platform's builds.
/// </summary>
internal static class PlatformBuilds
{
    public sealed record Build(Platform Platform, string Path);

    public static IReadOnlyList<Build> Parse(IEnumerable<string> values)
    {
        var builds = new List<Build>();
        foreach (var value in values)
        {
            var equals = value.IndexOf('=');
            if (equals <= 0 || equals == value.Length - 1)
                throw new ArgumentException($"--platform '{value}' is not os/arch[/variant]=PATH, e.g. linux/arm64=./build-arm64");
            var platform = Platforms.Parse(value[..equals]);
            var path = value[(equals + 1)..];
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new ArgumentException($"--platform {Platforms.Format(platform)}: '{path}' is neither a file nor a directory");
            if (builds.Any(b => b.Platform == platform))
                throw new ArgumentException($"--platform {Platforms.Format(platform)} is given twice");
            builds.Add(new Build(platform, path));
        }
        return builds;
    }

    /// <summary>Publishes every build, then the index over them with the tags; returns the index's descriptor.</summary>
    public static async Task<Descriptor> PublishAsync(IOciRepository repository, IReadOnlyList<Build> builds, IReadOnlyList<string> tags,
        Func<string, PublishOptions> options, CancellationToken ct)
    {
        var entries = new List<Descriptor>();
        foreach (var build in builds)
        {
            // The platform in the build's own manifest: a signature of it then says which platform it is for.
            var buildOptions = options(build.Path) with { Annotations = new Dictionary<string, string> { [DorasAnnotations.Platform] = Platforms.Format(build.Platform) } };
            var published = await ArtifactPublisher.PublishAsync(repository, build.Path, [], buildOptions, ct);
            Console.Error.WriteLine($"  {Platforms.Format(build.Platform)}: {published.Manifest.Digest} ({published.Layer.Kind.ToString().ToLowerInvariant()} '{published.Layer.Name}', {Format.Bytes(published.Layer.Layer.Size)} to download)");
            entries.Add(published.Manifest with { Platform = build.Platform, ArtifactType = DorasMediaTypes.Artifact, Annotations = null });
        }
        var index = new ImageIndex { ArtifactType = DorasMediaTypes.Artifact, Manifests = entries };
        return await repository.PushIndexAsync(index, tags, ct);
    }
}
