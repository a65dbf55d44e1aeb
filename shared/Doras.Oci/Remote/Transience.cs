using System.Net;
using System.Net.Sockets;

namespace Doras.Oci.Remote;

/// <summary>
/// The one rule of the client for "worth another attempt": the link, or a passing fault or overload of the
/// server; never the content, the device, a refusal or a TLS mismatch. Failures that know better say so
/// themselves (<see cref="ITransientFailure"/>, in the spirit of go-containerregistry's <c>Temporary()</c>).
/// </summary>
public static class Transience
{
    /// <summary>Statuses that say "not now" rather than "no".</summary>
    public static bool IsTransient(HttpStatusCode status) => status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
        or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    public static bool IsTransient(Exception e) => e switch
    {
        ITransientFailure failure => failure.IsTransient,
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => false, // the same handshake fails again
        HttpRequestException h => h.StatusCode is not { } status || IsTransient(status),
        HttpIOException or ResponseStalledException or SocketException => true,
        IOException { InnerException: SocketException } => true, // the connection reset or aborted under a read
        TaskCanceledException t => t.InnerException is TimeoutException, // HttpClient's timeout, not the caller
        _ => false,
    };
}

/// <summary>A failure that knows whether trying again can help.</summary>
public interface ITransientFailure
{
    bool IsTransient { get; }
}
