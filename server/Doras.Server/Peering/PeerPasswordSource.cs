using System.CommandLine;

namespace Doras.Server.Peering;

/// <summary>
/// Where <c>peer add</c> and <c>peer trust</c> take a password from, in this order: a file (<c>--password-file</c>,
/// its first line), <c>--password</c> (unsafe: other users of the machine see it in the process list), the
/// <c>DORAS_PEER_PASSWORD</c> variable.
/// </summary>
public sealed class PeerPasswordSource
{
    public const string Variable = "DORAS_PEER_PASSWORD";
    private const int MaxFileBytes = 4096;

    public Option<FileInfo?> File { get; } = new("--password-file") { Description = "A file (readable by you alone) whose first line is the password" };

    public Option<string?> Flag { get; } = new("--password")
    {
        Description = $"The password itself: unsafe, other users of the machine see it in the process list; prefer --password-file or {Variable}",
    };

    public string Read(ParseResult result)
    {
        if (result.GetValue(File) is { } file)
        {
            if (!file.Exists) throw new ArgumentException($"--password-file {file.FullName} does not exist");
            if (file.Length > MaxFileBytes) throw new ArgumentException($"--password-file {file.FullName} has over {MaxFileBytes} bytes: not a password file");
            using var reader = file.OpenText();
            return reader.ReadLine() ?? "";
        }
        if (result.GetValue(Flag) is { } given) return given;
        return Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } variable ? variable
            : throw new ArgumentException($"give the password in a file (--password-file FILE) or in {Variable} (--password works too, but other users see it in the process list)");
    }
}
