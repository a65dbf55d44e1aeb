using System.Formats.Asn1;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text.Json;
using Doras.Oci.Model;
using Doras.Signing.Cosign;

namespace Doras.Signing.Notation;

/// <summary>What one Notation signature said about the version being checked, and in words why.</summary>
public sealed record NotationFinding(SignatureCheck Check, string Detail);

/// <summary>
/// Notation verification on the device: a trust policy (v1.0) and a trust store directory, as <c>notation</c> keeps
/// them, decide whether a Notation signature envelope (JWS or COSE) covers a version. The checks, in the
/// specification's order: the envelope's own rules (unknown critical headers refused), integrity (the signature
/// verifies with its signing certificate), authenticity (the chain, as written, ends at a root and holds a
/// certificate of the statement's trust stores of the scheme's type; the signing certificate's subject is a trusted
/// identity), the authentic time (the chain valid now for notary.x509, or at the authentic signing time for
/// notary.x509.signingAuthority), expiry, and finally that the payload names exactly the version's manifest
/// descriptor. A statement's level (strict, permissive, audit, skip) and overrides decide which failures refuse.
/// Revocation is not checked: a device offline has no OCSP or CRL to ask, so a policy that enforces it is not
/// weakened silently but told in <see cref="Unchecked"/>.
/// </summary>
public sealed class NotationVerifier
{
    public const string ArtifactType = "application/vnd.cncf.notary.signature";
    /// <summary>A Notation envelope larger than this is hostile: a real one, chain included, is a few KiB.</summary>
    public const int MaxEnvelopeBytes = 256 << 10;

    public TrustPolicy Policy { get; }
    public TrustStore Store { get; }
    /// <summary>Now, for expiry and certificate validity: tests fix it; a device uses its clock.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public NotationVerifier(TrustPolicy policy, TrustStore store)
    {
        Policy = policy;
        Store = store;
        // Every store a statement names must be there and readable now, not at the first update.
        foreach (var statement in policy.Statements)
            foreach (var name in statement.TrustStores)
                store.Certificates(name);
    }

    public static NotationVerifier Load(string policyFile, string storeDirectory) => new(TrustPolicy.Load(policyFile), new TrustStore(storeDirectory));

    /// <summary>What the policy asks that a device cannot check (revocation), for the caller to tell once.</summary>
    public IEnumerable<string> Unchecked =>
        Policy.Statements.Where(s => s.Revocation == Enforcement.Enforce).Select(s => $"trust policy statement \"{s.Name}\": revocation is not checked on the device (no OCSP or CRL access)");

    /// <summary>The statement for a repository, or null when none applies.</summary>
    public TrustPolicyStatement? StatementFor(string repository) => Policy.For(repository);

    /// <summary>Checks one envelope against <paramref name="target"/>, the version's manifest (or index) descriptor.</summary>
    public NotationFinding Check(byte[] envelopeBytes, string mediaType, Descriptor target, TrustPolicyStatement statement) =>
        Check(envelopeBytes, mediaType, target, statement, CancellationToken.None);

    /// <summary>
    /// Checks one envelope against <paramref name="target"/>, the version's manifest (or index) descriptor, the cheap
    /// checks first: nothing an attacker chose (keys, signatures) is computed with before the chain is known to hold
    /// a trusted certificate and to use only the algorithms Notation allows. <paramref name="cancellationToken"/> is
    /// checked between the expensive steps. A certificate or envelope that cannot be decoded (a malformed extension,
    /// bad ASN.1) is a Malformed finding, never an exception. Every detail is safe to print: text from the envelope
    /// has its control characters removed and is capped at <see cref="SafeText.MaxLength"/> characters.
    /// </summary>
    public NotationFinding Check(byte[] envelopeBytes, string mediaType, Descriptor target, TrustPolicyStatement statement, CancellationToken cancellationToken)
    {
        NotationFinding finding;
        try { finding = Checked(envelopeBytes, mediaType, target, statement, cancellationToken); }
        catch (Exception e) when (e is CryptographicException or FormatException or AsnContentException or CborContentException)
        {
            finding = new(SignatureCheck.Malformed, $"the signature or a certificate cannot be decoded: {e.Message}");
        }
        return finding with { Detail = SafeText.Clean(finding.Detail, MaxDetailLength) };
    }

    /// <summary>A finding's detail is at most this long, each envelope value in it at most <see cref="SafeText.MaxLength"/>.</summary>
    public const int MaxDetailLength = 1000;

    private NotationFinding Checked(byte[] envelopeBytes, string mediaType, Descriptor target, TrustPolicyStatement statement, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (envelopeBytes.Length > MaxEnvelopeBytes) return new(SignatureCheck.Malformed, $"the envelope is larger than {MaxEnvelopeBytes} bytes");
        NotationEnvelope envelope;
        try { envelope = NotationEnvelope.Read(envelopeBytes, mediaType); }
        catch (FormatException e) { return new(SignatureCheck.Malformed, e.Message); }
        var chain = envelope.Chain;
        if (CertificateChain.ShapeError(chain) is { } shape) return new(SignatureCheck.Untrusted, shape);
        // Trust first, by byte comparison: a chain that holds no certificate of the statement's stores is untrusted,
        // whatever its keys, before any of them is looked at.
        if (TrustAnchorError(envelope, statement) is { } untrustedChain) return new(SignatureCheck.Untrusted, untrustedChain);
        // Keys and algorithms outside Notation's list are malformed: the envelope breaks the signature specification
        // (notation-core-go reports these as a malformed signature too), and no trust policy could make it valid.
        if (CertificateChain.AlgorithmError(chain, envelope.Algorithm) is { } algorithm) return new(SignatureCheck.Malformed, algorithm);
        if (CertificateChain.ExtensionError(chain) is { } extensions) return new(SignatureCheck.Untrusted, extensions);
        if (CertificateChain.SignatureError(chain, cancellationToken) is { } broken) return new(SignatureCheck.Untrusted, broken);
        cancellationToken.ThrowIfCancellationRequested();
        // Integrity: never overridden.
        if (!envelope.Verify()) return new(SignatureCheck.BadSignature, "the signature does not verify with its signing certificate");
        if (envelope.Plugin is { } plugin) return new(SignatureCheck.Untrusted, $"the signature requires verification plugin \"{SafeText.Of(plugin)}\", which a device does not run");

        // Authenticity is enforced on a device whatever the level says (audit only logs it): installing what anybody
        // signed would be no verification at all. Expiry and the signing time keep the policy's enforcement.
        if (IdentityError(envelope, statement) is { } untrusted) return new(SignatureCheck.Untrusted, untrusted);

        var now = Clock.GetUtcNow();
        if (statement.AuthenticTimestamp == Enforcement.Enforce)
        {
            var (at, when) = envelope.Scheme == NotationEnvelope.SchemeSigningAuthority
                ? (envelope.AuthenticSigningTimeValue!.Value, "the authentic signing time")
                : (now, "the verification time");
            if (CertificateChain.ValidityError(chain, at, when) is { } invalid) return new(SignatureCheck.Expired, invalid);
        }
        if (statement.Expiry == Enforcement.Enforce && envelope.ExpiryValue is { } expiry && now > expiry)
            return new(SignatureCheck.Expired, $"digital signature has expired on {expiry.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");

        return Target(envelope.Payload, target);
    }

    /// <summary>The statement has a trust store of the scheme's type, and the chain holds one of its certificates.</summary>
    private string? TrustAnchorError(NotationEnvelope envelope, TrustPolicyStatement statement)
    {
        var type = envelope.Scheme == NotationEnvelope.SchemeSigningAuthority ? "signingAuthority" : "ca";
        var stores = statement.TrustStores.Where(s => s.Type == type).ToList();
        if (stores.Count == 0) return $"trust policy statement \"{statement.Name}\" has no trust store of type \"{type}\" for signing scheme {envelope.Scheme}";
        var trusted = stores.SelectMany(Store.Certificates).ToList();
        if (!envelope.Chain.Any(c => trusted.Any(t => t.RawDataMemory.Span.SequenceEqual(c.RawDataMemory.Span))))
            return "the signature's certificate chain does not contain any trusted certificate";
        return null;
    }

    /// <summary>The signing certificate's subject is one of the statement's trusted identities.</summary>
    private static string? IdentityError(NotationEnvelope envelope, TrustPolicyStatement statement)
    {
        if (statement.AnyIdentity) return null;
        var signer = SafeText.Of(envelope.Chain[0].Subject);
        var subject = DistinguishedName.Of(envelope.Chain[0].SubjectName);
        if (subject is null) return $"signing certificate subject \"{signer}\" repeats an attribute";
        return statement.TrustedIdentities.Any(identity => identity.Attributes.All(a => subject.TryGetValue(a.Key, out var v) && v == a.Value))
            ? null
            : $"signing certificate \"{signer}\" does not match the trusted identities of trust policy statement \"{statement.Name}\"";
    }

    /// <summary>The payload's targetArtifact must be the version's descriptor: digest, size and media type.</summary>
    private static NotationFinding Target(byte[] payload, Descriptor target)
    {
        try
        {
            using var document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 8 });
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("targetArtifact", out var artifact) || artifact.ValueKind != JsonValueKind.Object
                || !artifact.TryGetProperty("digest", out var digest) || digest.ValueKind != JsonValueKind.String
                || !artifact.TryGetProperty("size", out var size) || !size.TryGetInt64(out var sizeValue)
                || !artifact.TryGetProperty("mediaType", out var mediaType) || mediaType.ValueKind != JsonValueKind.String)
                return new(SignatureCheck.Malformed, "the payload has no targetArtifact descriptor");
            if (digest.GetString() != target.Digest.ToString())
                return new(SignatureCheck.OtherDigest, $"the signature names {SafeText.Of(digest.GetString())}");
            if (sizeValue != target.Size || mediaType.GetString() != target.MediaType)
                return new(SignatureCheck.OtherDigest, $"the signature names {SafeText.Of(digest.GetString())} as {SafeText.Of(mediaType.GetString())} of {sizeValue} bytes, not {target.MediaType} of {target.Size}");
            return new(SignatureCheck.Verified, "");
        }
        catch (JsonException) { return new(SignatureCheck.Malformed, "the payload is not JSON"); }
    }
}
