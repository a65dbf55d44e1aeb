using Doras.Oci;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Signing.Cosign;
using Doras.Signing.Keys;
using Doras.Signing.Notation;

namespace Doras.Signing;

/// <summary>
/// Whom a device trusts to publish its versions, and the check it runs before installing one: a version is accepted
/// only when a valid signature by a trusted key covers its exact manifest digest (or the digest of the image index
/// that lists it, whose bytes are checked against that digest). Signatures are read from the same repository as the
/// version: cosign's tag form (<c>sha256-&lt;hex&gt;.sig</c>) and sigstore bundles attached as referrers.
/// Every read is bounded: the signature manifest and bundle counts, and each payload's size.
/// With <see cref="Notation"/>, Notation signatures (artifactType <c>application/vnd.cncf.notary.signature</c>, JWS or
/// COSE) attached as referrers count too, judged by its trust policy and trust store: any one valid signature, cosign
/// or Notation, suffices. A device always enforces integrity and authenticity: a statement of level <c>skip</c> admits
/// nothing (the version then needs a cosign signature), and <c>audit</c> is checked for who signed as strictly as
/// <c>permissive</c> (other tools may read the same policy; a device installs only what a trusted identity signed).
/// </summary>
public sealed record PublisherVerification
{
    /// <summary>cosign public keys (<c>--verify-key</c>): a signature by any one of them suffices.</summary>
    public IReadOnlyList<VerificationKey> Keys { get; init; } = [];

    /// <summary>Notation trust policy and trust store (<c>--trust-policy</c>, <c>--trust-store</c>), or null.</summary>
    public NotationVerifier? Notation { get; init; }

    /// <summary>More signature layers (or bundles) than this on one version is hostile, not a release pipeline.</summary>
    public const int MaxSignatures = 256;

    public static PublisherVerification FromKeyFiles(IEnumerable<string> paths) => new() { Keys = [.. paths.Select(VerificationKey.Load)] };

    /// <summary>cosign keys (any number, none included) and, when both files are given, a Notation trust policy and trust store.</summary>
    public static PublisherVerification FromFiles(IEnumerable<string> keyFiles, string? trustPolicyFile, string? trustStoreDirectory) => new()
    {
        Keys = [.. keyFiles.Select(VerificationKey.Load)],
        Notation = (trustPolicyFile, trustStoreDirectory) switch
        {
            (null, null) => null,
            ({ } policy, { } store) => NotationVerifier.Load(policy, store),
            _ => throw new TrustPolicyException("a Notation trust policy and a trust store go together: give both or neither"),
        },
    };

    /// <summary>
    /// Throws <see cref="SignatureRefusedException"/> unless a trusted signature covers <paramref name="manifest"/>.
    /// </summary>
    /// <param name="reference">The reference asked for, for the refusal's message.</param>
    /// <param name="index">The image index <paramref name="manifest"/> was selected from (its bytes verified against its digest), if any.</param>
    public async Task VerifyAsync(IReadOnlyOciRepository repository, string reference, Descriptor manifest, Descriptor? index, CancellationToken ct = default)
    {
        if (Keys.Count == 0 && Notation is null) throw new InvalidOperationException("no publisher keys are configured: verification would accept nothing");
        var statement = Notation?.StatementFor(RepositoryOf(reference));
        if (statement is { Skip: true } && Keys.Count == 0)
            throw new SignatureRefusedException(reference, manifest.Digest.ToString(), RefusalReason.UntrustedKey,
                $"trust policy statement \"{statement.Name}\" skips verification for {RepositoryOf(reference)}, and a device installs only verified versions");
        if (statement is { Skip: true }) statement = null; // admits nothing: the cosign keys decide
        if (Notation is not null && statement is null && Keys.Count == 0)
            throw new SignatureRefusedException(reference, manifest.Digest.ToString(), RefusalReason.UntrustedKey,
                $"no Notation trust policy statement applies to {RepositoryOf(reference)}");
        if (index is not null) await EnsureListedAsync(repository, manifest, index, ct).ConfigureAwait(false);
        var findings = new List<SignatureCheck>();
        var details = new List<NotationFinding>();
        foreach (var subject in index is null ? [manifest] : new[] { manifest, index })
        {
            var bytes = await repository.FetchBytesAsync(subject, ct: ct).ConfigureAwait(false); // verified against the digest
            await foreach (var finding in CheckAllAsync(repository, subject.Digest, bytes, ct).ConfigureAwait(false))
            {
                if (finding == SignatureCheck.Verified) return;
                findings.Add(finding);
            }
            if (statement is not null)
                await foreach (var finding in CheckNotationAsync(repository, subject, statement, ct).ConfigureAwait(false))
                {
                    if (finding.Check == SignatureCheck.Verified) return;
                    findings.Add(finding.Check);
                    details.Add(finding);
                }
        }
        throw Refusal(reference, manifest.Digest, findings, details, Notation is not null);
    }

    /// <summary>An index's signature covers only the manifests it lists: a caller's mistake must not make it cover another.</summary>
    private static async Task EnsureListedAsync(IReadOnlyOciRepository repository, Descriptor manifest, Descriptor index, CancellationToken ct)
    {
        var listed = OciJson.Deserialize<ImageIndex>(await repository.FetchBytesAsync(index, ct: ct).ConfigureAwait(false), $"index {index.Digest}");
        if (!listed.Manifests.Any(m => m.Digest == manifest.Digest))
            throw new ArgumentException($"{manifest.Digest} is not listed in the index {index.Digest}, whose signature therefore does not cover it");
    }

    /// <summary>The repository a trust policy's registryScopes name: <c>registry/repository</c>, or the bare repository a Doras server serves.</summary>
    private static string RepositoryOf(string reference)
    {
        try { return Reference.Parse(reference).Name; }
        catch (FormatException) { return reference; }
        catch (ArgumentException) { return reference; }
    }

    /// <summary>Notation signatures: referrers of artifactType application/vnd.cncf.notary.signature, one envelope layer each.</summary>
    private async IAsyncEnumerable<NotationFinding> CheckNotationAsync(IReadOnlyOciRepository repository, Descriptor subject, TrustPolicyStatement statement,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        if (repository is not IReferrerLister lister) yield break;
        var signatures = await lister.ReferrersAsync(subject.Digest, NotationVerifier.ArtifactType, ct, limit: MaxSignatures).ConfigureAwait(false);
        foreach (var referrer in signatures.Take(MaxSignatures))
            yield return await Guarded(() => CheckNotationSignatureAsync(repository, referrer, subject, statement, ct),
                new NotationFinding(SignatureCheck.Malformed, "the signature cannot be read"), ct).ConfigureAwait(false);
        if (signatures.Count > MaxSignatures) yield return new NotationFinding(SignatureCheck.Malformed, $"more than {MaxSignatures} signatures");
    }

    private async Task<NotationFinding> CheckNotationSignatureAsync(IReadOnlyOciRepository repository, Descriptor referrer, Descriptor subject,
        TrustPolicyStatement statement, CancellationToken ct)
    {
        {
            var manifest = await ReadSignatureManifestAsync(repository, referrer, MaxReferrerManifestBytes, ct).ConfigureAwait(false);
            if (manifest is null || manifest.Subject?.Digest != subject.Digest || manifest.Layers is not [var layer]
                || layer.MediaType is not ("application/jose+json" or "application/cose"))
                return new NotationFinding(SignatureCheck.Malformed, "the signature manifest does not hold one JWS or COSE envelope of this version");
            if (layer.Size > NotationVerifier.MaxEnvelopeBytes)
                return new NotationFinding(SignatureCheck.Malformed, $"the envelope is larger than {NotationVerifier.MaxEnvelopeBytes} bytes");
            var envelope = await repository.FetchBytesAsync(layer, NotationVerifier.MaxEnvelopeBytes, ct).ConfigureAwait(false);
            return Notation!.Check(envelope, layer.MediaType, subject, statement, ct);
        }
    }

    private async IAsyncEnumerable<SignatureCheck> CheckAllAsync(IReadOnlyOciRepository repository, Digest subject, byte[] subjectBytes,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        // cosign's tag form.
        if (await repository.TryResolveAsync(CosignTags.SignatureTag(subject), ct).ConfigureAwait(false) is { } signatures)
        {
            var manifest = await Guarded(() => ReadSignatureManifestAsync(repository, signatures, MaxSignatureManifestBytes, ct), null, ct).ConfigureAwait(false);
            if (manifest is null || manifest.Layers.Count > MaxSignatures) yield return SignatureCheck.Malformed;
            else
                foreach (var layer in manifest.Layers)
                    yield return await Guarded(() => CheckSimpleSigningAsync(repository, layer, subject, ct), SignatureCheck.Malformed, ct).ConfigureAwait(false);
        }
        // Sigstore bundles attached as referrers (cosign 3).
        if (repository is IReferrerLister lister)
        {
            var bundles = await lister.ReferrersAsync(subject, SigstoreBundle.MediaType, ct, limit: MaxSignatures).ConfigureAwait(false);
            foreach (var referrer in bundles.Take(MaxSignatures))
                yield return await Guarded(() => CheckBundleAsync(repository, referrer, subject, subjectBytes, ct), SignatureCheck.Malformed, ct).ConfigureAwait(false);
            if (bundles.Count > MaxSignatures) yield return SignatureCheck.Malformed;
        }
    }

    /// <summary>A signature manifest with 256 signature layers is about 100 KiB; a referrer holding one envelope or bundle, under 1 KiB.</summary>
    private const int MaxSignatureManifestBytes = 256 * 1024, MaxReferrerManifestBytes = 64 * 1024;

    /// <summary>A manifest of signatures, read under its own bound (its descriptor's size is checked before a byte is fetched); null when it is not one.</summary>
    private static async Task<ImageManifest?> ReadSignatureManifestAsync(IReadOnlyOciRepository repository, Descriptor descriptor, int maxBytes, CancellationToken ct)
    {
        var bytes = await repository.FetchBytesAsync(descriptor, maxBytes, ct).ConfigureAwait(false);
        return RepositoryExtensions.ParseManifest(bytes, descriptor);
    }

    /// <summary>
    /// One signature that cannot be read (a dangling referrer, a missing blob, a lying digest, a broken certificate) is a
    /// malformed finding, and the others are still tried; only what may pass on its own (a link, a busy registry, the
    /// caller's cancellation) and a refusal of our credentials end the check.
    /// </summary>
    private static async Task<T> Guarded<T>(Func<Task<T>> check, T malformed, CancellationToken ct)
    {
        try { return await check().ConfigureAwait(false); }
        catch (Exception e) when (!ct.IsCancellationRequested && Failures.KindOf(e) is not (FailureKind.Network or FailureKind.Busy or FailureKind.Timeout or FailureKind.Cancelled or FailureKind.Unauthorized))
        {
            return malformed;
        }
    }

    private async Task<SignatureCheck> CheckSimpleSigningAsync(IReadOnlyOciRepository repository, Descriptor layer, Digest subject, CancellationToken ct)
    {
        if (layer.MediaType != SimpleSigning.MediaType || layer.Size > SimpleSigning.MaxPayloadBytes) return SignatureCheck.Malformed;
        byte[] signature;
        try { signature = Convert.FromBase64String(layer.Annotation(CosignTags.SignatureAnnotation) ?? ""); }
        catch (FormatException) { return SignatureCheck.Malformed; }
        if (signature.Length == 0) return SignatureCheck.Malformed;
        var payload = await repository.FetchBytesAsync(layer, SimpleSigning.MaxPayloadBytes, ct).ConfigureAwait(false);
        if (!Keys.Any(k => k.Verify(payload, signature))) return SignatureCheck.Untrusted;
        // Only a verified payload is read: until then it is anybody's words.
        try { return SimpleSigning.SignedDigest(payload) == subject.ToString() ? SignatureCheck.Verified : SignatureCheck.OtherDigest; }
        catch (FormatException) { return SignatureCheck.Malformed; }
    }

    private async Task<SignatureCheck> CheckBundleAsync(IReadOnlyOciRepository repository, Descriptor referrer, Digest subject, byte[] subjectBytes, CancellationToken ct)
    {
        var manifest = await ReadSignatureManifestAsync(repository, referrer, MaxReferrerManifestBytes, ct).ConfigureAwait(false);
        if (manifest?.Subject?.Digest != subject || manifest.Layers is not [{ MediaType: SigstoreBundle.MediaType } layer] || layer.Size > SigstoreBundle.MaxBytes)
            return SignatureCheck.Malformed;
        var bundle = await repository.FetchBytesAsync(layer, SigstoreBundle.MaxBytes, ct).ConfigureAwait(false);
        return SigstoreBundle.Check(bundle, subject, subjectBytes, Keys);
    }

    /// <summary>The refusal names the strongest finding: a trusted signature of another digest says more than an unknown key.</summary>
    /// <remarks>A Notation finding adds its own words (the first of the deciding kind): which check failed and why.</remarks>
    private static SignatureRefusedException Refusal(string reference, Digest digest, List<SignatureCheck> findings, List<NotationFinding> notation, bool notationConfigured)
    {
        if (findings.Count == 0)
            return new SignatureRefusedException(reference, digest.ToString(), RefusalReason.NoSignature, notationConfigured
                ? "no cosign signature (tag form or sigstore bundle) nor Notation signature was found for it or its index"
                : "no cosign signature (tag form or sigstore bundle) was found for it or its index");
        var counted = $"{findings.Count} signature(s) found";
        string Why(SignatureCheck check) => notation.FirstOrDefault(n => n.Check == check) is { } n ? $" (Notation: {n.Detail})" : "";
        if (findings.Contains(SignatureCheck.OtherDigest))
            return new SignatureRefusedException(reference, digest.ToString(), RefusalReason.OtherDigest,
                $"{counted}; a trusted key signed another version, not {digest}{Why(SignatureCheck.OtherDigest)}");
        if (findings.Contains(SignatureCheck.Expired))
            return new SignatureRefusedException(reference, digest.ToString(), RefusalReason.Expired, $"{counted}; a trusted signature has expired{Why(SignatureCheck.Expired)}");
        if (findings.Contains(SignatureCheck.BadSignature))
            return new SignatureRefusedException(reference, digest.ToString(), RefusalReason.BadSignature, $"{counted}; a trusted key's signature does not verify{Why(SignatureCheck.BadSignature)}");
        if (findings.Contains(SignatureCheck.Untrusted))
            return new SignatureRefusedException(reference, digest.ToString(), RefusalReason.UntrustedKey, $"{counted}; none verifies with a trusted key{Why(SignatureCheck.Untrusted)}");
        return new SignatureRefusedException(reference, digest.ToString(), RefusalReason.Malformed, $"{counted}; none can be read as a signature{Why(SignatureCheck.Malformed)}");
    }
}
