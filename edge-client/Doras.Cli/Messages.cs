using System.Security.Authentication;

namespace Doras.Cli;

/// <summary>The line a person reads for a failure: the error's own message, and what to do where that is clear.</summary>
internal static class Messages
{
    public static string For(Exception e) => IsTlsFailure(e)
        ? $"{e.Message} (if the registry or server speaks plain HTTP, pass --plain-http for the registry, or an http:// --server URL with --allow-http)"
        : e.Message;

    private static bool IsTlsFailure(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } || e.InnerException is AuthenticationException;
}
