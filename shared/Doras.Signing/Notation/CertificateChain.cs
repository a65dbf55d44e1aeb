using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Doras.Signing.Notation;

/// <summary>
/// Notation's certificate chain rules (notary.x509 and notary.x509.signingAuthority): the envelope's <c>x5c</c> is the
/// whole chain in order, signing certificate first, a self-signed root last, each certificate issued and signed by
/// the next; the signing certificate is a code signing certificate (digitalSignature key usage required,
/// codeSigning when an EKU is given, no CA), every issuer a CA allowed to sign certificates. The chain is taken as
/// written, never searched, so a loop or a deep chain costs at most <see cref="MaxLength"/> signature checks.
/// </summary>
/// <remarks>
/// <para>The checks come in rising cost, so that nothing an attacker chose is computed with before it could matter:
/// <see cref="ShapeError"/> (length, loops), then the caller's trust decision (a byte comparison with the trust
/// store), then <see cref="AlgorithmError"/> (keys and link signature algorithms Notation allows, read from the DER:
/// no key is imported), then <see cref="ExtensionError"/> (RFC 5280 and Notation rules on extensions, no
/// cryptography), and only then <see cref="SignatureError"/>, the links' signatures.</para>
/// <para>The links are checked with BouncyCastle's signature verification rather than with <see cref="X509Chain"/>:
/// OpenSSL (under X509Chain on Linux) takes a signing certificate whose subject equals its issuer's for self-signed
/// and stops there, and Notation's own test chains are of that form; Notation also wants the chain exactly as
/// written, not one a chain engine finds.</para>
/// <para>Name constraints are not evaluated: a chain in which any certificate carries the nameConstraints extension
/// is refused, rather than accepted with its constraints ignored.</para>
/// </remarks>
internal static class CertificateChain
{
    public const int MaxLength = 10;

    /// <summary>The extensions a certificate may mark critical; any other critical extension refuses the chain (RFC 5280 4.2).</summary>
    private static readonly HashSet<string> KnownCritical =
    [
        Oids.BasicConstraints, Oids.KeyUsage, Oids.ExtendedKeyUsage, Oids.SubjectKeyIdentifier, Oids.AuthorityKeyIdentifier,
        Oids.SubjectAltName, Oids.NameConstraints, Oids.CertificatePolicies, Oids.PolicyConstraints,
    ];

    private static string Name(X509Certificate2 certificate) => SafeText.Of(certificate.Subject);

    /// <summary>Cheap: null when the chain has a length Notation allows and no certificate twice; otherwise why not.</summary>
    public static string? ShapeError(IReadOnlyList<X509Certificate2> chain)
    {
        if (chain.Count == 0) return "the signature carries no certificate";
        if (chain.Count > MaxLength) return $"the certificate chain is longer than {MaxLength}";
        for (var i = 0; i < chain.Count; i++)
            for (var j = i + 1; j < chain.Count; j++)
                if (chain[i].RawDataMemory.Span.SequenceEqual(chain[j].RawDataMemory.Span))
                    return $"certificate \"{Name(chain[i])}\" appears twice in the chain (a loop)";
        return null;
    }

    /// <summary>
    /// Cheap, from the DER only: null when every certificate's key is one Notation allows (RSA of 2048 to 4096 bits
    /// with a public exponent of at most 2^32, ECDSA on the named curves P-256, P-384, P-521), every link is signed
    /// with a SHA-2 algorithm of the issuer's key type, and the signing certificate's key is one Notation signs with
    /// (RSA 2048, 3072, 4096; P-256, P-384, P-521) and selects <paramref name="envelopeAlgorithm"/> (PS256 ... ES512).
    /// </summary>
    public static string? AlgorithmError(IReadOnlyList<X509Certificate2> chain, string envelopeAlgorithm)
    {
        var keys = new KeySpec[chain.Count];
        for (var i = 0; i < chain.Count; i++)
        {
            var (key, error) = Key(chain[i]);
            if (error is not null) return $"certificate \"{Name(chain[i])}\" has {error}";
            keys[i] = key;
        }
        for (var i = 0; i < chain.Count; i++)
        {
            var issuer = i + 1 < chain.Count ? keys[i + 1] : keys[i];
            if (LinkAlgorithmError(chain[i], issuer) is { } error) return $"certificate \"{Name(chain[i])}\" {error}";
        }
        var expected = keys[0] switch
        {
            { Rsa: true, Bits: 2048 } => "PS256", { Rsa: true, Bits: 3072 } => "PS384", { Rsa: true, Bits: 4096 } => "PS512",
            { Rsa: false, Bits: 256 } => "ES256", { Rsa: false, Bits: 384 } => "ES384", { Rsa: false, Bits: 521 } => "ES512",
            _ => null,
        };
        if (expected is null) return $"signing certificate \"{Name(chain[0])}\" has an RSA key of {keys[0].Bits} bits: Notation signs with 2048, 3072 or 4096";
        return expected == envelopeAlgorithm ? null
            : $"the signature algorithm {envelopeAlgorithm} does not match the signing certificate's key ({keys[0]} requires {expected})";
    }

    private readonly record struct KeySpec(bool Rsa, int Bits)
    {
        public override string ToString() => Rsa ? $"RSA {Bits}" : $"ECDSA P-{Bits}";
    }

    private static (KeySpec Key, string? Error) Key(X509Certificate2 certificate)
    {
        var key = certificate.PublicKey;
        var parameters = key.EncodedParameters?.RawData ?? [];
        var value = key.EncodedKeyValue.RawData;
        switch (key.Oid.Value)
        {
            case Oids.RsaEncryption:
            {
                if (parameters.Length != 0 && !parameters.AsSpan().SequenceEqual(AsnNull)) return (default, "an RSA key with parameters");
                var reader = new AsnReader(value, AsnEncodingRules.DER);
                var sequence = reader.ReadSequence();
                reader.ThrowIfNotEmpty();
                var modulus = sequence.ReadIntegerBytes().Span;
                var exponent = sequence.ReadIntegerBytes().Span;
                sequence.ThrowIfNotEmpty();
                if (modulus[0] >= 0x80 || exponent[0] >= 0x80) return (default, "an RSA key with a negative modulus or exponent");
                var bits = (int)new BigInteger(modulus, isUnsigned: true, isBigEndian: true).GetBitLength();
                if (bits is < 2048 or > 4096) return (default, $"an RSA key of {bits} bits (Notation allows 2048 to 4096)");
                var e = new BigInteger(exponent, isUnsigned: true, isBigEndian: true);
                if (e < 3 || e.IsEven || e > (BigInteger.One << 32)) return (default, "an RSA key whose public exponent is not an odd number from 3 to 2^32");
                return (new KeySpec(true, bits), null);
            }
            case Oids.EcPublicKey:
            {
                if (parameters.Length == 0 || parameters[0] != 0x06) return (default, "an ECDSA key with explicit curve parameters (Notation allows the named curves P-256, P-384, P-521)");
                var reader = new AsnReader(parameters, AsnEncodingRules.DER);
                var curve = reader.ReadObjectIdentifier();
                reader.ThrowIfNotEmpty();
                var bits = curve switch { Oids.P256 => 256, Oids.P384 => 384, Oids.P521 => 521, _ => 0 };
                if (bits == 0) return (default, $"an ECDSA key on curve {SafeText.Of(curve)} (Notation allows P-256, P-384, P-521)");
                var coordinate = (bits + 7) / 8;
                if (value.Length != 1 + 2 * coordinate || value[0] != 0x04) return (default, "an ECDSA key that is not an uncompressed point of its curve");
                return (new KeySpec(false, bits), null);
            }
            default:
                return (default, $"a key of algorithm {SafeText.Of(key.Oid.FriendlyName ?? key.Oid.Value)} (Notation allows RSA and ECDSA)");
        }
    }

    private static readonly byte[] AsnNull = [0x05, 0x00];

    /// <summary>Null when <paramref name="certificate"/> is signed with SHA-256, -384 or -512 and the algorithm of <paramref name="issuer"/>'s key type.</summary>
    private static string? LinkAlgorithmError(X509Certificate2 certificate, KeySpec issuer)
    {
        var reader = new AsnReader(certificate.RawData, AsnEncodingRules.DER).ReadSequence();
        reader.ReadEncodedValue();
        var algorithm = reader.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        var parameters = algorithm.HasData ? algorithm.ReadEncodedValue() : default;
        algorithm.ThrowIfNotEmpty();
        bool? rsa = oid switch
        {
            Oids.Sha256WithRsa or Oids.Sha384WithRsa or Oids.Sha512WithRsa => parameters.IsEmpty || parameters.Span.SequenceEqual(AsnNull) ? true : null,
            Oids.EcdsaWithSha256 or Oids.EcdsaWithSha384 or Oids.EcdsaWithSha512 => parameters.IsEmpty ? false : null,
            Oids.RsaPss => PssWithSha2(parameters) ? true : null,
            _ => null,
        };
        if (rsa is null) return $"is signed with algorithm {SafeText.Of(oid)} (Notation allows RSA PKCS #1 v1.5, RSASSA-PSS and ECDSA with SHA-256, SHA-384 or SHA-512)";
        if (rsa != issuer.Rsa) return $"is signed with an {(rsa.Value ? "RSA" : "ECDSA")} algorithm by an {issuer} key";
        return null;
    }

    /// <summary>RSASSA-PSS parameters naming SHA-2 for both the hash and MGF1 (their defaults are SHA-1).</summary>
    private static bool PssWithSha2(ReadOnlyMemory<byte> parameters)
    {
        if (parameters.IsEmpty) return false;
        var sequence = new AsnReader(parameters, AsnEncodingRules.DER).ReadSequence();
        var hash = new Asn1Tag(TagClass.ContextSpecific, 0, true);
        var mask = new Asn1Tag(TagClass.ContextSpecific, 1, true);
        if (!sequence.HasData || !sequence.PeekTag().HasSameClassAndValue(hash)) return false;
        var hashAlgorithm = sequence.ReadSequence(hash).ReadSequence().ReadObjectIdentifier();
        if (!sequence.HasData || !sequence.PeekTag().HasSameClassAndValue(mask)) return false;
        var mgf = sequence.ReadSequence(mask).ReadSequence();
        if (mgf.ReadObjectIdentifier() != Oids.Mgf1) return false;
        var mgfHash = mgf.ReadSequence().ReadObjectIdentifier();
        return hashAlgorithm is Oids.Sha256 or Oids.Sha384 or Oids.Sha512 && mgfHash == hashAlgorithm;
    }

    /// <summary>
    /// No cryptography: null when the extensions follow RFC 5280 and Notation: no unknown critical extension, no
    /// nameConstraints (not evaluated, so refused), a signing certificate that is no CA, has a keyUsage with
    /// digitalSignature and none of the usages Notation forbids, and codeSigning in any EKU; every issuer a CA
    /// with keyCertSign, a path length that allows the chain below it, and codeSigning or anyExtendedKeyUsage in
    /// any EKU.
    /// </summary>
    public static string? ExtensionError(IReadOnlyList<X509Certificate2> chain)
    {
        foreach (var certificate in chain)
            foreach (var extension in certificate.Extensions)
            {
                if (extension.Critical && !KnownCritical.Contains(extension.Oid?.Value ?? ""))
                    return $"certificate \"{Name(certificate)}\" has an unknown critical extension {SafeText.Of(extension.Oid?.Value)}";
                if (extension.Oid?.Value == Oids.NameConstraints)
                    return $"certificate \"{Name(certificate)}\" has name constraints, which a device does not evaluate";
            }
        var leaf = chain[0];
        if (leaf.Extensions[Oids.BasicConstraints] is X509BasicConstraintsExtension { CertificateAuthority: true })
            return $"signing certificate \"{Name(leaf)}\" is a CA certificate";
        if (leaf.Extensions[Oids.KeyUsage] is not X509KeyUsageExtension usage)
            return $"signing certificate \"{Name(leaf)}\" has no key usage (Notation requires digitalSignature)";
        if (!usage.KeyUsages.HasFlag(X509KeyUsageFlags.DigitalSignature))
            return $"signing certificate \"{Name(leaf)}\" is not allowed to sign (no digitalSignature key usage)";
        const X509KeyUsageFlags forbidden = X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DataEncipherment | X509KeyUsageFlags.KeyAgreement
            | X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.EncipherOnly | X509KeyUsageFlags.DecipherOnly;
        if ((usage.KeyUsages & forbidden) != 0)
            return $"signing certificate \"{Name(leaf)}\" has key usages Notation forbids for signing ({usage.KeyUsages & forbidden})";
        if (leaf.Extensions[Oids.ExtendedKeyUsage] is X509EnhancedKeyUsageExtension eku
            && !eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == Oids.CodeSigning))
            return $"signing certificate \"{Name(leaf)}\" is not a code signing certificate";
        for (var i = 0; i + 1 < chain.Count; i++)
        {
            var (child, parent) = (chain[i], chain[i + 1]);
            if (parent.Extensions[Oids.BasicConstraints] is not X509BasicConstraintsExtension { CertificateAuthority: true } constraints)
                return $"certificate \"{Name(parent)}\" issues \"{Name(child)}\" but is not a CA certificate";
            if (constraints.HasPathLengthConstraint && constraints.PathLengthConstraint < i)
                return $"certificate \"{Name(parent)}\" may not issue a chain this long (path length {constraints.PathLengthConstraint})";
            if (parent.Extensions[Oids.KeyUsage] is not X509KeyUsageExtension parentUsage || !parentUsage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign))
                return $"certificate \"{Name(parent)}\" is not allowed to sign certificates (no keyCertSign key usage)";
            if (parent.Extensions[Oids.ExtendedKeyUsage] is X509EnhancedKeyUsageExtension parentEku
                && !parentEku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value is Oids.CodeSigning or Oids.AnyExtendedKeyUsage))
                return $"certificate \"{Name(parent)}\" has an extended key usage that allows neither code signing nor any usage";
            if (!child.IssuerName.RawData.AsSpan().SequenceEqual(parent.SubjectName.RawData))
                return $"certificate \"{Name(child)}\" is not issued by \"{Name(parent)}\"";
        }
        var root = chain[^1];
        if (!root.IssuerName.RawData.AsSpan().SequenceEqual(root.SubjectName.RawData))
            return $"the chain does not end at a self-signed root (\"{Name(root)}\" is not self-signed)";
        return null;
    }

    /// <summary>The cryptography, last: null when each certificate is signed by the next and the root by itself.</summary>
    public static string? SignatureError(IReadOnlyList<X509Certificate2> chain, CancellationToken cancellationToken)
    {
        for (var i = 0; i + 1 < chain.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!SignedBy(chain[i], chain[i + 1]))
                return $"certificate \"{Name(chain[i])}\" is not issued by \"{Name(chain[i + 1])}\"";
        }
        cancellationToken.ThrowIfCancellationRequested();
        var root = chain[^1];
        return SignedBy(root, root) ? null : $"the chain does not end at a self-signed root (\"{Name(root)}\" is not self-signed)";
    }

    /// <summary>Null when every certificate was valid at <paramref name="at"/>; otherwise which was not.</summary>
    public static string? ValidityError(IReadOnlyList<X509Certificate2> chain, DateTimeOffset at, string when)
    {
        foreach (var certificate in chain)
        {
            if (at.UtcDateTime > certificate.NotAfter.ToUniversalTime())
                return $"certificate \"{Name(certificate)}\" expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}, before {when} {at.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}";
            if (at.UtcDateTime < certificate.NotBefore.ToUniversalTime())
                return $"certificate \"{Name(certificate)}\" is valid only from {certificate.NotBefore.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}, after {when} {at.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}";
        }
        return null;
    }

    /// <summary>Whether <paramref name="parent"/>'s key signed <paramref name="child"/>: its signature algorithm as it names it (RSA, RSA-PSS, ECDSA).</summary>
    public static bool SignedBy(X509Certificate2 child, X509Certificate2 parent)
    {
        try
        {
            var bcChild = new Org.BouncyCastle.X509.X509Certificate(child.RawData);
            var bcParent = new Org.BouncyCastle.X509.X509Certificate(parent.RawData);
            return bcChild.IsSignatureValid(bcParent.GetPublicKey());
        }
        catch (Exception e) when (e is Org.BouncyCastle.Security.GeneralSecurityException or Org.BouncyCastle.Security.Certificates.CertificateException
            or ArgumentException or InvalidOperationException or IOException or Org.BouncyCastle.Crypto.CryptoException or Org.BouncyCastle.Security.SecurityUtilityException)
        {
            return false;
        }
    }
}
