using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Doras.Tests.Server;

/// <summary>
/// The Dockerfile restores from the project files alone (a cached layer): it must copy every project the server
/// references, directly or not, or the image's restore fails. Read here without Docker (no daemon on CI).
/// </summary>
public class DockerfileTests
{
    [Test]
    public void The_restore_layer_copies_exactly_the_projects_the_server_is_built_from()
    {
        var root = Binaries.RepositoryRoot;
        var dockerfile = File.ReadAllText(Path.Combine(root, "Dockerfile"));
        var copied = Regex.Matches(dockerfile, @"^COPY (\S+\.csproj) (\S+)$", RegexOptions.Multiline)
            .Select(m => (Project: m.Groups[1].Value, Into: m.Groups[2].Value)).ToList();
        Assert.That(copied.All(c => c.Into == Path.GetDirectoryName(c.Project) + "/"), Is.True, "each project file lands at its own path");

        var needed = new SortedSet<string>(StringComparer.Ordinal);
        void Add(string project)
        {
            var relative = Path.GetRelativePath(root, project).Replace('\\', '/');
            if (!needed.Add(relative)) return;
            foreach (var reference in XDocument.Load(project).Descendants("ProjectReference"))
                Add(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, (string)reference.Attribute("Include")!)));
        }
        Add(Path.Combine(root, "server/Doras.Server/Doras.Server.csproj"));
        Assert.That(copied.Select(c => c.Project).Order(StringComparer.Ordinal), Is.EqualTo(needed));
        Assert.That(dockerfile, Does.Contain("COPY Directory.Build.props Directory.Packages.props ./"));
        Assert.That(dockerfile, Does.Contain("curl -fsS http://127.0.0.1:8080/readyz"));
    }
}
