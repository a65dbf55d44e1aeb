using System.Net;
using System.Net.Http.Headers;
using Doras.Api;
using Doras.Delta.Artifacts;
using Doras.Delta.Octodiff;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Doras.Server.Deltas;

/// <summary>A raw Octodiff delta ready to stream (a temporary file, deleted when the stream closes), or a problem.</summary>
public abstract record SignatureOutcome
{
    public sealed record Delta(Stream Content, string ToImage) : SignatureOutcome;
    public sealed record Problem(DeltaOutcome.Problem Details) : SignatureOutcome;
}

/// <summary>
/// Deltas for devices whose base the server does not know (never recorded, or changed locally): the device
/// sends the Octodiff signature of what it has, the server answers with the delta from it to the target. Made
/// per request and not stored: no two devices' files are alike.
/// </summary>
public sealed class SignatureDeltaService(ArtifactStores stores, IOptions<DeltaOptions> options, ILogger<SignatureDeltaService> logger)
{
    public async Task<SignatureOutcome> BuildAsync(string? toDigest, string? toTag, Stream signatureBody, AuthenticationHeaderValue? authorization, CancellationToken ct)
    {
        if ((toDigest is null) == (toTag is null))
            return Fail(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, "Invalid delta request", $"give exactly one of '{DeltaApi.ToDigest}' and '{DeltaApi.ToTag}'");
        Reference to;
        try { to = Reference.Parse((toDigest ?? toTag)!); }
        catch (FormatException e) { return Fail(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, "Invalid delta request", e.Message); }
        if (stores.CheckRegistry(to) is { } wrongRegistry) return Fail(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, "Invalid delta request", wrongRegistry);

        Descriptor? descriptor;
        try { descriptor = await stores.ForClient(authorization).Repository(to.Repository).TryResolveAsync(to.Identifier, ct).ConfigureAwait(false); }
        catch (HttpRequestException e) when (e.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            return Fail(StatusCodes.Status401Unauthorized, ProblemTypes.Unauthorized, "Unauthorized", $"the registry refused to show {to.Name} to this client: {e.Message}");
        }
        if (descriptor is null) return Fail(StatusCodes.Status404NotFound, ProblemTypes.NotFound, "Not found", $"the to image {to} does not exist");

        var repository = stores.Server.Repository(to.Repository);
        var target = ArtifactLayer.From(await repository.FetchManifestAsync(descriptor, ct).ConfigureAwait(false), $"to image {to}");
        if (target.Kind != ArtifactKind.File)
            return Fail(StatusCodes.Status406NotAcceptable, ProblemTypes.NotAcceptable, "Not acceptable", "signature deltas are made for file artifacts only");

        OctodiffSignature signature;
        try { signature = OctodiffSignature.Read(await ReadLimitedAsync(signatureBody, options.Value.MaxSignatureBytes, ct).ConfigureAwait(false)); }
        catch (InvalidDataException e) { return Fail(StatusCodes.Status400BadRequest, ProblemTypes.InvalidRequest, "Invalid signature", e.Message); }

        var root = string.IsNullOrEmpty(options.Value.WorkDirectory) ? Path.GetTempPath() : options.Value.WorkDirectory;
        var id = Guid.NewGuid().ToString("N");
        var newPath = Path.Combine(root, $"doras-signature-{id}.new");
        var deltaPath = Path.Combine(root, $"doras-signature-{id}.delta");
        try
        {
            await target.DownloadContentAsync(repository, newPath, ct).ConfigureAwait(false);
            await using (var newFile = File.OpenRead(newPath))
            await using (var delta = File.Create(deltaPath))
                await Task.Run(() => OctodiffDelta.Write(signature, newFile, delta), ct).ConfigureAwait(false);
            var size = new FileInfo(deltaPath).Length;
            var toImage = $"{stores.Name(to.Repository)}@{descriptor.Digest}";
            logger.LogInformation("Signature delta to {ToImage}: {DeltaBytes} bytes from a {BaseBytes}-byte base ({Chunks} chunks)", toImage, size, signature.FileSize, signature.Chunks.Count);
            if (size > options.Value.AutoMaxRatio * target.Layer.Size)
                return Fail(StatusCodes.Status406NotAcceptable, ProblemTypes.DeltaNotWorthwhile, "Delta not worthwhile",
                    $"the delta from the signed file ({size} bytes) is over {options.Value.AutoMaxRatio:P0} of the full download ({target.Layer.Size} bytes); download {toImage} instead");
            // Unlinked when the response stream closes.
            var content = new FileStream(deltaPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.DeleteOnClose);
            deltaPath = null!;
            return new SignatureOutcome.Delta(content, toImage);
        }
        finally
        {
            File.Delete(newPath);
            if (deltaPath is not null) File.Delete(deltaPath);
        }
    }

    private static async Task<MemoryStream> ReadLimitedAsync(Stream body, long limit, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        int n;
        while ((n = await body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > limit) throw new InvalidDataException($"the signature is larger than the limit of {limit} bytes");
            buffer.Write(chunk, 0, n);
        }
        buffer.Position = 0;
        return buffer;
    }

    private static SignatureOutcome Fail(int status, string type, string title, string detail) =>
        new SignatureOutcome.Problem(new DeltaOutcome.Problem(status, type, title, detail));
}
