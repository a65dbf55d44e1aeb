using System.Text.RegularExpressions;

namespace Doras.Tests.Server;

/// <summary>
/// The server's folders depend one way (house step): a folder that uses another is not used by it. Read from the
/// sources, by the namespaces a file imports or names, as a reviewer would grep them.
/// </summary>
public class FolderDependencyTests
{
    private static readonly string Server = Path.Combine(Binaries.RepositoryRoot, "server/Doras.Server");

    /// <summary>The folders whose files use <paramref name="folder"/>'s namespace (<c>using Doras.Server.X</c>, or <c>X.Type</c> qualified).</summary>
    private static HashSet<string> UsersOf(string folder)
    {
        var uses = new Regex($@"using Doras\.Server\.{folder}\b|(?<![\w.]){folder}\.[A-Z]\w*(?!\s*=)");
        return Directory.EnumerateDirectories(Server).Select(Path.GetFileName).OfType<string>()
            .Where(user => user != folder && user is not ("bin" or "obj"))
            .Where(user => Directory.EnumerateFiles(Path.Combine(Server, user), "*.cs", SearchOption.AllDirectories)
                .Any(file => File.ReadLines(file).Any(line => uses.IsMatch(line) && !line.Contains(".Headers.Authorization"))))
            .ToHashSet();
    }

    [TestCase("Deltas", "Observability")]
    [TestCase("Authorization", "Peering")]
    [TestCase("Authorization", "Observability")]
    [TestCase("Access", "Peering")]
    [TestCase("Access", "Stores")]
    [TestCase("Peering", "Stores")]
    public void Two_folders_do_not_use_each_other(string a, string b)
    {
        Assert.That(UsersOf(a).Contains(b) && UsersOf(b).Contains(a), Is.False,
            $"{a} and {b} use each other: {a} is used by [{string.Join(", ", UsersOf(a))}], {b} by [{string.Join(", ", UsersOf(b))}]");
    }

    [Test]
    public void No_folder_depends_on_itself_through_others()
    {
        var folders = Directory.EnumerateDirectories(Server).Select(Path.GetFileName).OfType<string>().Where(f => f is not ("bin" or "obj")).ToList();
        var uses = folders.ToDictionary(f => f, f => folders.Where(other => UsersOf(other).Contains(f)).ToHashSet());
        foreach (var start in folders)
        {
            // Every folder reachable from start; a path back to start is a cycle.
            var path = new Dictionary<string, string> { [start] = start };
            var queue = new Queue<string>([start]);
            while (queue.Count > 0)
            {
                var at = queue.Dequeue();
                foreach (var next in uses[at])
                {
                    if (next == start)
                    {
                        var cycle = new List<string> { start };
                        for (var f = at; f != start; f = path[f]) cycle.Insert(1, f);
                        Assert.Fail($"a cycle of folders: {string.Join(" -> ", cycle.Append(start))}");
                    }
                    if (path.TryAdd(next, at)) queue.Enqueue(next);
                }
            }
        }
    }
}
