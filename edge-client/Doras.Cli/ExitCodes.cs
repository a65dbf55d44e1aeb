using System.Net;
using Doras.Delta.Algorithms;
using Doras.Delta.Artifacts;
using Doras.EdgeClient.Deltas;
using Doras.EdgeClient.Updates;
using Doras.Oci.Content;
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
    public const int Cancelled = 130;

    public static int For(Exception e) => e switch
    {
        OperationCanceledException => Cancelled,
        ArgumentException or FormatException or ExistingContentException => Usage,
        InsufficientStorageException => Storage,
        DataBudgetExceededException => OverDataBudget,
        ArtifactTooLargeException => TooLarge,
        UnauthorizedAccessException => Unauthorized,
        HttpRequestException { StatusCode: HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden } => Unauthorized,
        DeltaServerException { Status: HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden } => Unauthorized,
        NotFoundException or HttpRequestException { StatusCode: HttpStatusCode.NotFound } or DeltaServerException { Status: HttpStatusCode.NotFound } => NotFound,
        DigestMismatchException or CorruptDeltaException or HostileArchiveException or IncompatibleArtifactException or InvalidDataException => Verification,
        HttpRequestException or DownloadInterruptedException or ResponseStalledException or TimeoutException or DeltaServerException => Network,
        _ => Failed,
    };
}
