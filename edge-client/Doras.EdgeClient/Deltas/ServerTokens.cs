using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Doras.Oci.Remote.Auth;

namespace Doras.EdgeClient.Deltas;

/// <summary>
/// Where the Authorization for the Doras server comes from (the Go client's token provider). It is asked before
/// every request, and asked again with <c>renew</c> after the server answered 401, so a token that expired is
/// replaced and the request sent once more.
/// </summary>
public interface IServerTokenProvider
{
    /// <param name="renew">The server refused the last one: do not hand out a cached token.</param>
    /// <returns>Null: send the request without authorization.</returns>
    ValueTask<AuthenticationHeaderValue?> GetAuthorizationAsync(bool renew, CancellationToken ct);
}

/// <summary>The text a token file or command gives: a bare token is sent as <c>Bearer</c>; <c>Bearer x</c> or <c>Basic x</c> as written.</summary>
internal static class TokenText
{
    /// <summary>Tokens are small; a file or command that gives more is not a token.</summary>
    public const int MaxBytes = 64 << 10;

    public static AuthenticationHeaderValue? ToAuthorization(string text, string source)
    {
        var token = text.Trim();
        if (token.Length == 0) return null;
        if (token.Any(c => c is '\r' or '\n' or '\0')) throw new UnauthorizedAccessException($"{source} gave more than one line; a token is one line");
        var space = token.IndexOf(' ');
        if (space > 0 && token[..space] is var scheme && (scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) || scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)))
            return new AuthenticationHeaderValue(scheme, token[(space + 1)..].Trim());
        if (space >= 0) throw new UnauthorizedAccessException($"{source} gave text with spaces that is neither a token nor 'Bearer TOKEN'/'Basic CREDENTIALS'");
        return new AuthenticationHeaderValue("Bearer", token);
    }
}

/// <summary>A token kept in a file that something else renews (an agent, a mounted secret): read again for every request.</summary>
public sealed class FileTokenProvider(string path) : IServerTokenProvider
{
    public async ValueTask<AuthenticationHeaderValue?> GetAuthorizationAsync(bool renew, CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, FileOptions.Asynchronous);
            if (file.Length > TokenText.MaxBytes) throw new UnauthorizedAccessException($"the token file {path} is over {TokenText.MaxBytes} bytes; a token is one line");
            bytes = new byte[file.Length];
            await file.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
        }
        catch (IOException e) { throw new UnauthorizedAccessException($"cannot read the token file {path}: {e.Message}", e); }
        return TokenText.ToAuthorization(Encoding.UTF8.GetString(bytes), $"the token file {path}");
    }
}

/// <summary>
/// A token printed by a command (<c>/bin/sh -c COMMAND</c>), e.g. one that asks an identity service. Its answer is
/// kept until the server refuses it, then the command runs again. The command gets 30 s and 64 KiB of output.
/// </summary>
public sealed class CommandTokenProvider(string command) : IServerTokenProvider
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AuthenticationHeaderValue? _cached;
    private bool _have;

    public async ValueTask<AuthenticationHeaderValue?> GetAuthorizationAsync(bool renew, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_have && !renew) return _cached;
            _cached = TokenText.ToAuthorization(await RunAsync(ct).ConfigureAwait(false), $"the token command '{command}'");
            _have = true;
            return _cached;
        }
        finally { _gate.Release(); }
    }

    private async Task<string> RunAsync(CancellationToken ct)
    {
        using var process = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", command]) { RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new UnauthorizedAccessException($"the token command '{command}' did not start");
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(Limit);
        try
        {
            // Too much output is no token: the command is stopped at once rather than left blocked on a full pipe.
            var output = ReadHeadAsync(process.StandardOutput.BaseStream, TokenText.MaxBytes, () => Kill(process), limit.Token);
            // Diagnostics are drained to the end (a chatty command must not block), and only their start is kept.
            var error = ReadHeadAsync(process.StandardError.BaseStream, MaxErrorBytes, onOverflow: null, limit.Token);
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            var (token, tooLong) = await output.ConfigureAwait(false);
            var (diagnostics, _) = await error.ConfigureAwait(false);
            if (tooLong) throw new UnauthorizedAccessException($"the token command '{command}' printed over {TokenText.MaxBytes} bytes; a token is one line");
            if (process.ExitCode != 0)
                throw new UnauthorizedAccessException($"the token command '{command}' exited {process.ExitCode}: {diagnostics.Trim()}");
            return token;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new UnauthorizedAccessException($"the token command '{command}' did not finish within {Limit.TotalSeconds:0} s");
        }
        finally
        {
            Kill(process);
        }
    }

    /// <summary>What an error message quotes of the command's standard error.</summary>
    private const int MaxErrorBytes = 4096;

    private static void Kill(Process process)
    {
        try { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // it exited meanwhile
    }

    /// <summary>Reads a stream to its end keeping its first <paramref name="keep"/> bytes; says whether there was more.</summary>
    private static async Task<(string Text, bool Truncated)> ReadHeadAsync(Stream stream, int keep, Action? onOverflow, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        var truncated = false;
        int read;
        while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            var room = keep - (int)buffer.Length;
            if (read > room && !truncated)
            {
                truncated = true;
                onOverflow?.Invoke();
            }
            buffer.Write(chunk, 0, Math.Clamp(room, 0, read));
        }
        return (Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length), truncated);
    }
}

/// <summary>
/// Puts the provider's Authorization on every request that has none of its own (registry mode sets the registry's),
/// and after a 401 asks for a renewed one and sends the request once more, when its body can be sent again.
/// </summary>
internal sealed class ServerTokenHandler(IServerTokenProvider tokens) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (request.Headers.Authorization is not null) return await base.SendAsync(request, ct).ConfigureAwait(false);
        request.Headers.Authorization = await tokens.GetAuthorizationAsync(renew: false, ct).ConfigureAwait(false);
        var origin = request.RequestUri!;
        var response = await base.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized || !RegistryAuthHandler.IsReplayable(request)) return response;
        // A redirect rewrites the request's URL in place: a 401 from wherever it led is not the server's, and a
        // renewed token must never be sent there.
        if (Uri.Compare(origin, request.RequestUri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0) return response;
        var renewed = await tokens.GetAuthorizationAsync(renew: true, ct).ConfigureAwait(false);
        if (renewed is null) return response;
        response.Dispose();
        request.Headers.Authorization = renewed;
        return await base.SendAsync(request, ct).ConfigureAwait(false);
    }
}
