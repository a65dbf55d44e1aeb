using System.Net;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.Delta.Zstd;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
using Doras.Oci.IO;
using Doras.Oci.Remote;

namespace Doras.Cli;

/// <summary>Distinct exit codes for distinct failures, so an update agent can react without parsing text.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Network = 3;
    public const int Verification = 4;
    public const int Storage = 5;
    public const int TooLarge = 6;
    public const int Unauthorized = 7;
    public const int NotFound = 8;
    public const int OverDataBudget = 9;
    public const int Locked = 10;
    public const int Cancelled = 130;

    /// <summary>ENOSPC on Linux (the errno is the IOException's HResult) and ERROR_DISK_FULL on Windows.</summary>
    private static bool IsDiskFull(IOException e) => e.HResult is 28 or unchecked((int)0x80070070);

    /// <summary>The one table from failure to code, first match wins (the README's exit-code table says the same).</summary>
    private static readonly (Func<Exception, bool> Matches, int Code)[] Table =
    [
        (e => e is OperationCanceledException && !Transience.IsTransient(e), Cancelled), // the caller's, not HttpClient's timeout
        (e => e is ArgumentException or FormatException or ExistingContentException or NotARegistryException, Usage),
        (e => e is LockContentionException, Locked),
        (e => e is InsufficientStorageException || (e is IOException io && IsDiskFull(io)), Storage),
        (e => e is DataBudgetExceededException, OverDataBudget),
        (e => e is ArtifactTooLargeException, TooLarge),
        (e => e is UnauthorizedAccessException
            or HttpRequestException { StatusCode: HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden }
            or DeltaServerException { Status: HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden }, Unauthorized),
        (e => e is NotFoundException or HttpRequestException { StatusCode: HttpStatusCode.NotFound } or DeltaServerException { Status: HttpStatusCode.NotFound }, NotFound),
        (e => e is DigestMismatchException or CorruptDeltaException or HostileArchiveException or IncompatibleArtifactException
            or ZstdException // a truncated stream, or one that decompresses past its bound
            or InvalidDataException, Verification),
        (e => Transience.IsTransient(e) || e is HttpRequestException or TimeoutException or DeltaServerException, Network),
    ];

    public static int For(Exception e)
    {
        foreach (var (matches, code) in Table)
            if (matches(e)) return code;
        return Failed;
    }
}
