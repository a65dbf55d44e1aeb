using Doras.Api;
using Doras.Delta.Artifacts;
using Doras.Delta.Octodiff;
using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Access;
using Doras.Server.Stores;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>A raw Octodiff delta ready to stream (a temporary file, deleted when the stream closes), or a problem.</summary>
public abstract record SignatureOutcome
{
    public sealed record Delta(Stream Content, string ToImage) : SignatureOutcome;
    public sealed record Problem(ApiProblem Details) : SignatureOutcome;

    public static implicit operator SignatureOutcome(ApiProblem problem) => new Problem(problem);
}

/// <summary>
/// Deltas for devices whose base the server does not know (never recorded, or changed locally): the device
/// sends the Octodiff signature of what it has, the server answers with the delta from it to the target. Made
/// per request and not stored: no two devices' files are alike. Each takes one of the server's build slots for
/// its build (503 when none is free) and stops when the caller goes away. In order: the caller must be able to
/// read the target, then its signature is received (at most two uploads per build slot at once, each bounded in
/// size and time, so slow or unauthorized callers hold neither memory nor a build slot), then a slot is taken.
/// </summary>
public sealed class SignatureDeltaService(ArtifactStores stores, ClientAccess access, BuildSlots slots, ScratchSpace scratch, IOptions<DeltaOptions> options, ILogger<SignatureDeltaService> logger)
    : IDisposable
{
    private readonly SemaphoreSlim _uploads = new(2 * Math.Max(1, options.Value.MaxConcurrentBuilds));
    private readonly int _uploadPlaces = 2 * Math.Max(1, options.Value.MaxConcurrentBuilds);

    /// <summary>How many signatures are being received right now.</summary>
    public int UploadsUnderWay => _uploadPlaces - _uploads.CurrentCount;

    public void Dispose() => _uploads.Dispose();

    /// <param name="declaredLength">The request's Content-Length, if it gave one: refused before reading when over the limit.</param>
    public async Task<SignatureOutcome> BuildAsync(Caller caller, string? toDigest, string? toTag, Stream signatureBody, long? declaredLength, CancellationToken ct)
    {
        if (TargetParameters.CheckExactlyOne(toDigest, toTag) is { } noTarget) return noTarget;
        var limit = options.Value.MaxSignatureBytes;
        if (declaredLength > limit) return SignatureTooLarge(limit);
        var (to, badTo) = TargetParameters.Parse(access, toDigest, toTag);
        if (badTo is not null) return badTo;

        var resolved = await access.ResolveAsync(caller, to!, "to", ct).ConfigureAwait(false);
        if (resolved.Problem is not null) return resolved.Problem;
        var descriptor = resolved.Descriptor!;

        var repository = stores.Server.Repository(to!.Repository);
        ArtifactLayer target;
        try { target = ArtifactLayer.From(await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false), $"to image {to}"); }
        catch (Exception e) when (e is IncompatibleArtifactException or InvalidDataException) { return ApiProblem.For(Failures.KindOf(e), e.Message); }
        if (target.Kind != ArtifactKind.File)
            return ApiProblem.NotAcceptable("signature deltas are made for file artifacts only");

        if (!_uploads.Wait(0))
            return ApiProblem.Busy("this server is receiving as many signatures as it takes at once; ask again later", RetryAfterSeconds);
        OctodiffSignature signature;
        try
        {
            // The upload holds a slot, so it gets a deadline of its own: a caller trickling bytes cannot keep it.
            using var upload = CancellationTokenSource.CreateLinkedTokenSource(ct);
            upload.CancelAfter(options.Value.SignatureUploadTimeout);
            MemoryStream? body;
            try { body = await ReadLimitedAsync(signatureBody, limit, upload.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return UploadTimedOut(to, $"the signature did not arrive within {options.Value.SignatureUploadTimeout.TotalSeconds:0} s (Delta:SignatureUploadTimeout)");
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status408RequestTimeout)
            {
                // Kestrel's minimum request body data rate cut the upload: an expected end for a slow caller, not a fault.
                return UploadTimedOut(to, "the signature arrived slower than this server's minimum request body data rate");
            }
            if (body is null) return SignatureTooLarge(limit);
            signature = OctodiffSignature.Read(body);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            return ApiProblem.Invalid(e.Message, "Invalid signature");
        }
        finally
        {
            _uploads.Release();
        }

        using var slot = slots.TryTake();
        if (slot is null)
            return ApiProblem.Busy($"all {options.Value.MaxConcurrentBuilds} build slots of this server are busy; ask again later", RetryAfterSeconds);

        using var work = scratch.Create();
        var (newPath, deltaPath) = (work.File("new"), work.File("delta"));
        await target.DownloadContentAsync(repository, newPath, ct).ConfigureAwait(false);
        await using (var newFile = File.OpenRead(newPath))
        await using (var delta = File.Create(deltaPath))
            await Task.Run(() => OctodiffDelta.Write(signature, newFile, delta, ct), ct).ConfigureAwait(false);
        var size = new FileInfo(deltaPath).Length;
        var toImage = $"{stores.Name(to.Repository)}@{descriptor.Digest}";
        logger.LogInformation("Signature delta to {ToImage}: {DeltaBytes} bytes from a {BaseBytes}-byte base ({Chunks} chunks)", toImage, size, signature.FileSize, signature.ChunkCount);
        if (size > options.Value.AutoMaxRatio * target.Layer.Size)
            return new ApiProblem(StatusCodes.Status406NotAcceptable, ProblemTypes.DeltaNotWorthwhile, "Delta not worthwhile",
                $"the delta from the signed file ({size} bytes) is over {options.Value.AutoMaxRatio:P0} of the full download ({target.Layer.Size} bytes); download {toImage} instead");
        // Open before the scratch directory is removed: the unlinked file stays readable until the response closes it.
        var content = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous);
        return new SignatureOutcome.Delta(content, toImage);
    }

    private const int RetryAfterSeconds = 10;

    /// <summary>A 408 for an upload that came too slowly, logged in one line (the caller's fault, so no stack trace).</summary>
    private ApiProblem UploadTimedOut(Reference to, string detail)
    {
        logger.LogWarning("Signature upload for {ToImage} ended with 408: {Reason}", to, detail);
        return ApiProblem.Timeout(detail);
    }

    private static ApiProblem SignatureTooLarge(long limit) =>
        ApiProblem.TooLarge($"the signature is larger than this server's limit of {limit} bytes (Delta:MaxSignatureBytes)");

    /// <summary>The whole body, or null when it is longer than <paramref name="limit"/>.</summary>
    private static async Task<MemoryStream?> ReadLimitedAsync(Stream body, long limit, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        int n;
        try
        {
            while ((n = await body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > limit) return null;
                buffer.Write(chunk, 0, n);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return null; // Kestrel's own cut, set just above the limit
        }
        buffer.Position = 0;
        return buffer;
    }
}
