using Doras.Oci.IO;

namespace Doras.DeltaTool;

/// <summary>
/// Where a command writes its result. What already stands there is the user's: unless the user passed
/// <c>--replace-existing</c> it is refused before any work starts (a build can take minutes) and again by the final
/// rename, which then refuses by itself (<see cref="Durable.MoveDurably"/>), so a file that appears meanwhile is left
/// untouched too. A directory is never replaced. The result is written to a temporary file beside the destination
/// and renamed into place once complete.
/// </summary>
internal sealed class Destination
{
    private readonly string _shown;
    private readonly string _path;
    private readonly bool _replace;

    public Destination(string path, bool replace)
    {
        _shown = path;
        _path = Path.GetFullPath(path);
        _replace = replace;
        if (Path.EndsInDirectorySeparator(path) || Directory.Exists(_path)) throw new IOException($"{path} is a directory; name a file to write");
        if (!replace && Path.Exists(_path)) throw Exists();
    }

    /// <summary>A fresh name in the destination's directory (so the rename stays on one filesystem), hidden by its dot.</summary>
    public string TemporaryBeside() => Path.Combine(Path.GetDirectoryName(_path)!, $".{Path.GetFileName(_path)}.{Guid.NewGuid():N}.tmp");

    public async Task WriteAsync(Func<Stream, CancellationToken, Task> write, CancellationToken ct)
    {
        try { await Durable.WriteAtomicAsync(_path, write, _replace, ct).ConfigureAwait(false); }
        catch (DestinationExistsException) { throw Exists(); }
    }

    /// <summary>Renames a finished, flushed temporary file into place, durably.</summary>
    public void MoveIntoPlace(string temporary)
    {
        try { Durable.MoveDurably(temporary, _path, _replace); }
        catch (DestinationExistsException) { throw Exists(); }
    }

    private IOException Exists() => new($"{_shown} exists; pass --replace-existing to replace it");
}
