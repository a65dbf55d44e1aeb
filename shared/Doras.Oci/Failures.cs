using System.Net;
using Doras.Oci.Remote;

namespace Doras.Oci;

/// <summary>
/// What a failure means, whatever type carries it (in the spirit of go-containerregistry's <c>transport.Error</c>):
/// the CLI maps it once to an exit code, the updater decides by it whether to fall back or discard a download,
/// the server maps it once to problem+json.
/// </summary>
public enum FailureKind
{
    /// <summary>A bug or a case nobody classified: exit 1, 500.</summary>
    Internal,
    /// <summary>The caller stopped it.</summary>
    Cancelled,
    /// <summary>A bad command line, option, reference or target given by the user.</summary>
    Usage,
    /// <summary>Another update held the lock.</summary>
    Locked,
    /// <summary>The device's disk: it would not fit, or it filled up.</summary>
    Storage,
    /// <summary>Over the data budget.</summary>
    OverBudget,
    /// <summary>Bigger than allowed.</summary>
    TooLarge,
    Unauthorized,
    NotFound,
    /// <summary>Content that can never be used: corrupt, a wrong digest, a hostile archive, an answer past its bound.</summary>
    Verification,
    /// <summary>No delta is possible between these artifacts.</summary>
    Incompatible,
    /// <summary>A deadline passed (not worth another attempt inside the same deadline).</summary>
    Timeout,
    /// <summary>The link or the other side failed (unreachable, 5xx, a cut or stalled transfer).</summary>
    Network,
    /// <summary>The other side said "not now" (429, 502, 503, 504).</summary>
    Busy,
    /// <summary>Verification is on and no trusted publisher signed the version.</summary>
    Untrusted,
    /// <summary>The version is older than one the device already accepted (a rollback nobody asked for).</summary>
    Downgrade,
}

/// <summary>A failure of this project's own that says what it means; transient by default when its kind is a link's or overload's.</summary>
public interface IFailure : ITransientFailure
{
    FailureKind Kind { get; }

    bool ITransientFailure.IsTransient => Kind is FailureKind.Network or FailureKind.Busy;
}

/// <summary>The one place framework exceptions (HttpClient's, the file system's, cancellation) are given a kind.</summary>
public static class Failures
{
    public static FailureKind KindOf(Exception e) => e switch
    {
        IFailure failure => failure.Kind,
        OperationCanceledException when Transience.IsTransient(e) => FailureKind.Network, // HttpClient's timeout, not the caller
        OperationCanceledException => FailureKind.Cancelled,
        ArgumentException or FormatException => FailureKind.Usage,
        IOException io when IsDiskFull(io) => FailureKind.Storage,
        UnauthorizedAccessException => FailureKind.Unauthorized,
        HttpRequestException { StatusCode: { } status } => KindOf(status),
        HttpRequestException => FailureKind.Network,
        InvalidDataException => FailureKind.Verification, // an answer or stream past its bound
        TimeoutException => FailureKind.Timeout,
        _ when Transience.IsTransient(e) => FailureKind.Network,
        _ => FailureKind.Internal,
    };

    /// <summary>What an HTTP error status says; anything else not 2xx is the other side's failure.</summary>
    public static FailureKind KindOf(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => FailureKind.Unauthorized,
        HttpStatusCode.NotFound => FailureKind.NotFound,
        HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout => FailureKind.Busy,
        _ => FailureKind.Network,
    };

    /// <summary>ENOSPC on Linux (the errno is the IOException's HResult) and ERROR_DISK_FULL on Windows.</summary>
    public static bool IsDiskFull(IOException e) => e.HResult is 28 or unchecked((int)0x80070070);
}
