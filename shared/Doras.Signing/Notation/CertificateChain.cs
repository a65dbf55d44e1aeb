using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Doras.Signing.Notation;

/// <summary>
/// Notation's certificate chain rules (notary.x509 and notary.x509.signingAuthority): the envelope's <c>x5c</c> is the
/// whole chain in order, signing certificate first, a self-signed root last, each certificate issued and signed by
/// the next; the signing certificate is a code signing certificate (digitalSignature, codeSigning when an EKU is
/// given, no CA), every issuer a CA allowed to sign certificates. The chain is taken as written, never searched, so
/// a loop or a deep chain costs at most <see cref="MaxLength"/> signature checks.
/// </summary>
/// <remarks>
/// The links are checked here, with BouncyCastle's signature verification, rather than with <see cref="X509Chain"/>:
/// OpenSSL (under X509Chain on Linux) takes a signing certificate whose subject equals its issuer's for self-signed
/// and stops there, and Notation's own test chains are of that form; Notation also wants the chain exactly as
/// written, not one a chain engine finds.
/// </remarks>
internal static class CertificateChain
{
    public const int MaxLength = 10;

    /// <summary>Null when the chain is well-formed; otherwise why not.</summary>
    public static string? StructureError(IReadOnlyList<X509Certificate2> chain)
    {
        if (chain.Count == 0) return "the signature carries no certificate";
        if (chain.Count > MaxLength) return $"the certificate chain is longer than {MaxLength}";
        for (var i = 0; i < chain.Count; i++)
            for (var j = i + 1; j < chain.Count; j++)
                if (chain[i].RawDataMemory.Span.SequenceEqual(chain[j].RawDataMemory.Span))
                    return $"certificate \"{chain[i].Subject}\" appears twice in the chain (a loop)";
        var leaf = chain[0];
        if (leaf.Extensions[Oids.BasicConstraints] is X509BasicConstraintsExtension { CertificateAuthority: true })
            return $"signing certificate \"{leaf.Subject}\" is a CA certificate";
        if (leaf.Extensions[Oids.KeyUsage] is X509KeyUsageExtension usage && !usage.KeyUsages.HasFlag(X509KeyUsageFlags.DigitalSignature))
            return $"signing certificate \"{leaf.Subject}\" is not allowed to sign (no digitalSignature key usage)";
        if (leaf.Extensions[Oids.ExtendedKeyUsage] is X509EnhancedKeyUsageExtension eku
            && !eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == Oids.CodeSigning))
            return $"signing certificate \"{leaf.Subject}\" is not a code signing certificate";
        for (var i = 0; i + 1 < chain.Count; i++)
        {
            var (child, parent) = (chain[i], chain[i + 1]);
            if (parent.Extensions[Oids.BasicConstraints] is not X509BasicConstraintsExtension { CertificateAuthority: true } constraints)
                return $"certificate \"{parent.Subject}\" issues \"{child.Subject}\" but is not a CA certificate";
            if (constraints.HasPathLengthConstraint && constraints.PathLengthConstraint < i)
                return $"certificate \"{parent.Subject}\" may not issue a chain this long (path length {constraints.PathLengthConstraint})";
            if (parent.Extensions[Oids.KeyUsage] is X509KeyUsageExtension parentUsage && !parentUsage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign))
                return $"certificate \"{parent.Subject}\" is not allowed to sign certificates";
            if (!child.IssuerName.RawData.AsSpan().SequenceEqual(parent.SubjectName.RawData) || !SignedBy(child, parent))
                return $"certificate \"{child.Subject}\" is not issued by \"{parent.Subject}\"";
        }
        var root = chain[^1];
        if (!root.IssuerName.RawData.AsSpan().SequenceEqual(root.SubjectName.RawData) || !SignedBy(root, root))
            return $"the chain does not end at a self-signed root (\"{root.Subject}\" is not self-signed)";
        return null;
    }

    /// <summary>Null when every certificate was valid at <paramref name="at"/>; otherwise which was not.</summary>
    public static string? ValidityError(IReadOnlyList<X509Certificate2> chain, DateTimeOffset at, string when)
    {
        foreach (var certificate in chain)
        {
            if (at.UtcDateTime > certificate.NotAfter.ToUniversalTime())
                return $"certificate \"{certificate.Subject}\" expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}, before {when} {at.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}";
            if (at.UtcDateTime < certificate.NotBefore.ToUniversalTime())
                return $"certificate \"{certificate.Subject}\" is valid only from {certificate.NotBefore.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}, after {when} {at.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}";
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
