using System.Security.Authentication;

namespace Doras.Cli;

/// <summary>The line a person reads for a failure: the error's own message, and what to do where that is clear.</summary>
internal static class Messages
{
    public static string For(Exception e) => IsTlsFailure(e)
        ? $"{TlsReason(e)} (if the registry or server speaks plain HTTP, pass --plain-http for the registry, or an http:// --server URL with --allow-http)"
        : e.Message;

    /// <summary>
    /// HttpClient says only "The SSL connection could not be established, see inner exception": the line names
    /// the innermost reason instead (a certificate that is not trusted, expired or for another name; no TLS at all).
    /// </summary>
    private static string TlsReason(Exception e)
    {
        var inner = e;
        while (inner.InnerException is { } next) inner = next;
        var outer = e.Message.Replace(", see inner exception", "", StringComparison.Ordinal).TrimEnd('.');
        return ReferenceEquals(inner, e) ? outer : $"{outer}: {inner.Message.TrimEnd('.')}";
    }

    private static bool IsTlsFailure(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } || e.InnerException is AuthenticationException;
}
