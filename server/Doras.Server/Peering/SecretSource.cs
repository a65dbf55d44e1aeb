using System.CommandLine;

namespace Doras.Server.Peering;

/// <summary>
/// A secret an admin command needs (a peer password, a sublease token): from a file readable by the operator alone,
/// or from an environment variable; the flag with the secret itself works too, but other users of the machine see
/// it in the process list. One rule for every secret the commands take.
/// </summary>
public sealed class SecretSource(string what, string flag, string variable)
{
    private const int MaxFileBytes = 4096;

    /// <summary>Peer passwords (<c>peer add</c>, <c>peer trust</c>).</summary>
    public static SecretSource PeerPassword() => new("password", "--password", "DORAS_PEER_PASSWORD");

    /// <summary>Sublease tokens (<c>replica add</c>).</summary>
    public static SecretSource SubleaseToken() => new("sublease token", "--sublease", "DORAS_SUBLEASE_TOKEN");

    public string Variable => variable;

    public Option<FileInfo?> File { get; } = new(flag + "-file") { Description = $"A file (readable by you alone) whose first line is the {what}" };

    public Option<string?> Flag { get; } = new(flag)
    {
        Description = $"The {what} itself: unsafe, other users of the machine see it in the process list; prefer {flag}-file or {variable}",
    };

    /// <summary>The secret, or an error saying where to put it.</summary>
    public string Read(ParseResult result) => ReadOptional(result)
        ?? throw new ArgumentException($"give the {what} in a file ({flag}-file FILE) or in {variable} ({flag} works too, but other users see it in the process list)");

    /// <summary>The secret, or null when none is given.</summary>
    public string? ReadOptional(ParseResult result)
    {
        if (result.GetValue(File) is { } file)
        {
            if (!file.Exists) throw new ArgumentException($"{flag}-file {file.FullName} does not exist");
            if (file.Length > MaxFileBytes) throw new ArgumentException($"{flag}-file {file.FullName} has over {MaxFileBytes} bytes: not a {what} file");
            using var reader = file.OpenText();
            return reader.ReadLine() ?? "";
        }
        if (result.GetValue(Flag) is { } given) return given;
        return Environment.GetEnvironmentVariable(variable) is { Length: > 0 } fromVariable ? fromVariable : null;
    }
}
