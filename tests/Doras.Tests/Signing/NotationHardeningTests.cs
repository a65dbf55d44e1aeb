using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Doras.Oci.Model;
using Doras.Signing.Cosign;
using Doras.Signing.Notation;

namespace Doras.Tests.Signing;

/// <summary>
/// A hostile review's findings on Notation verification: expensive cryptography only after the cheap trust and
/// algorithm checks, RFC 5280 rules, decoding errors as findings, printable details, cancellation, times with an offset.
/// </summary>
public class NotationHardeningTests
{
    private static readonly Descriptor Target = new()
    {
        MediaType = "application/vnd.oci.image.manifest.v1+json",
        Digest = Digest.Parse("sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e"), Size = 528,
    };

    private const string Jws = "application/jose+json";

    private static (NotationSigning Signing, NotationVerifier Verifier, TrustPolicyStatement Statement) Trusted(string identity = NotationSigning.LeafSubject)
    {
        var signing = new NotationSigning();
        var dir = Path.Combine(Path.GetTempPath(), "doras-notation-" + Guid.NewGuid().ToString("N"));
        var (policyFile, store) = signing.TrustFiles(dir, identity);
        var verifier = NotationVerifier.Load(policyFile, store);
        return (signing, verifier, verifier.StatementFor("any/repo")!);
    }

    /// <summary>An RSA public key as written, never generated: any modulus and exponent.</summary>
    private static PublicKey RsaKey(int modulusBits, byte[]? exponent = null)
    {
        var modulus = RandomNumberGenerator.GetBytes(modulusBits / 8);
        modulus[0] |= 0x80;
        modulus[^1] |= 1;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteIntegerUnsigned(modulus);
            writer.WriteIntegerUnsigned(exponent ?? [1, 0, 1]);
        }
        return new PublicKey(new Oid("1.2.840.113549.1.1.1"), new AsnEncodedData([0x05, 0x00]), new AsnEncodedData(writer.Encode()));
    }

    /// <summary>A DSA public key as written: Notation has no DSA.</summary>
    private static PublicKey DsaKey()
    {
        var parameters = new AsnWriter(AsnEncodingRules.DER);
        using (parameters.PushSequence())
            foreach (var length in new[] { 256, 32, 256 })
            {
                var value = RandomNumberGenerator.GetBytes(length);
                value[0] |= 0x40;
                parameters.WriteIntegerUnsigned(value);
            }
        var key = new AsnWriter(AsnEncodingRules.DER);
        key.WriteIntegerUnsigned(RandomNumberGenerator.GetBytes(256));
        return new PublicKey(new Oid("1.2.840.10040.4.1"), new AsnEncodedData(parameters.Encode()), new AsnEncodedData(key.Encode()));
    }

    [Test]
    public void A_chain_without_a_trusted_certificate_is_untrusted_before_any_key_or_link_is_looked_at()
    {
        var (signing, verifier, statement) = Trusted();
        var other = new NotationSigning("CN=Other Root,O=Doras,ST=WA,C=US");
        // A 16384-bit modulus with a 16384-bit exponent: verifying with it costs seconds; it is never used.
        var exponent = RandomNumberGenerator.GetBytes(2048);
        exponent[0] |= 0x80;
        exponent[^1] |= 1;
        var huge = other.Issue("CN=Huge,O=Hostile", RsaKey(16384, exponent), NotationSigning.CaExtensions());
        var finding = verifier.Check(signing.Jws(Target, chain: [signing.Leaf, huge, other.Root]), Jws, Target, statement);
        Assert.That(finding, Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted, "the signature's certificate chain does not contain any trusted certificate")));
        // Under the trusted root, the same key is refused by its size, before any link is verified with it.
        var trustedHuge = signing.Issue("CN=Huge,O=Hostile", RsaKey(16384, exponent), NotationSigning.CaExtensions());
        Assert.That(verifier.Check(signing.Jws(Target, chain: [signing.Leaf, trustedHuge, signing.Root]), Jws, Target, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Malformed, "certificate \"CN=Huge, O=Hostile\" has an RSA key of 16384 bits (Notation allows 2048 to 4096)")));
    }

    [Test]
    public void Keys_and_algorithms_outside_Notations_list_are_malformed()
    {
        var (signing, verifier, statement) = Trusted();
        NotationFinding Check(X509Certificate2 leaf, ECDsa? key = null, string alg = "ES256", X509Certificate2? intermediate = null) =>
            verifier.Check(signing.Jws(Target, chain: intermediate is null ? [leaf, signing.Root] : [leaf, intermediate, signing.Root], key: key, alg: alg), Jws, Target, statement);
        var leafExtensions = NotationSigning.LeafExtensions();

        Assert.That(Check(signing.Issue(NotationSigning.LeafSubject, RsaKey(1024), leafExtensions)), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed,
            "certificate \"CN=Doras Test Publisher, O=Doras, L=Seattle, S=WA, C=US\" has an RSA key of 1024 bits (Notation allows 2048 to 4096)")));
        Assert.That(Check(signing.Issue(NotationSigning.LeafSubject, RsaKey(2048, [1, 0, 0, 0, 0, 1]), leafExtensions)), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed,
            "certificate \"CN=Doras Test Publisher, O=Doras, L=Seattle, S=WA, C=US\" has an RSA key whose public exponent is not an odd number from 3 to 2^32")));
        Assert.That(Check(signing.Issue(NotationSigning.LeafSubject, DsaKey(), leafExtensions)), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed,
            "certificate \"CN=Doras Test Publisher, O=Doras, L=Seattle, S=WA, C=US\" has a key of algorithm DSA (Notation allows RSA and ECDSA)")));
        // An RSA 3072 signing key selects PS384: a JWS naming ES256 does not match it.
        Assert.That(Check(signing.Issue(NotationSigning.LeafSubject, RsaKey(3072), leafExtensions)), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed,
            "the signature algorithm ES256 does not match the signing certificate's key (RSA 3072 requires PS384)")));

        // P-256 written with explicit curve parameters: the signature itself is valid, the key's form is not allowed.
        using var explicitKey = ECDsa.Create(signing.LeafKey.ExportExplicitParameters(true));
        var explicitLeaf = signing.Issue(NotationSigning.LeafSubject, new PublicKey(explicitKey), leafExtensions);
        Assert.That(explicitLeaf.PublicKey.EncodedParameters!.RawData[0], Is.EqualTo(0x30), "explicit parameters are a SEQUENCE");
        Assert.That(Check(explicitLeaf, explicitKey), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed,
            "certificate \"CN=Doras Test Publisher, O=Doras, L=Seattle, S=WA, C=US\" has an ECDSA key with explicit curve parameters (Notation allows the named curves P-256, P-384, P-521)")));

        // A link signed with ECDSA over SHA-1, validly.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var sha1Request = new CertificateRequest(NotationSigning.LeafSubject, key, HashAlgorithmName.SHA256);
        foreach (var extension in leafExtensions) sha1Request.CertificateExtensions.Add(extension);
        var sha1Leaf = sha1Request.Create(signing.Root.SubjectName, new EcdsaSha1(signing.RootKey), DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1), [9]);
        Assert.That(Check(sha1Leaf, key), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed,
            "certificate \"CN=Doras Test Publisher, O=Doras, L=Seattle, S=WA, C=US\" is signed with algorithm 1.2.840.10045.4.1 (Notation allows RSA PKCS #1 v1.5, RSASSA-PSS and ECDSA with SHA-256, SHA-384 or SHA-512)")));

        // ES384 on a P-256 key verifies as ECDSA, yet Notation binds the algorithm to the curve.
        Assert.That(Check(signing.Leaf, alg: "ES384"), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed,
            "the signature algorithm ES384 does not match the signing certificate's key (ECDSA P-256 requires ES256)")));
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var p384Leaf = signing.Issue(NotationSigning.LeafSubject, new PublicKey(p384), leafExtensions);
        Assert.That(Check(p384Leaf, p384, "ES384"), Is.EqualTo(new NotationFinding(SignatureCheck.Verified, "")));
        Assert.That(Check(p384Leaf, p384, "ES256").Check, Is.EqualTo(SignatureCheck.Malformed));
    }

    /// <summary>ECDSA with SHA-1 (1.2.840.10045.4.1), which .NET's own generator no longer writes.</summary>
    private sealed class EcdsaSha1(ECDsa key) : X509SignatureGenerator
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence()) writer.WriteObjectIdentifier("1.2.840.10045.4.1");
            return writer.Encode();
        }

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => key.SignData(data, HashAlgorithmName.SHA1, DSASignatureFormat.Rfc3279DerSequence);
        protected override PublicKey BuildPublicKey() => new(key);
    }

    [Test]
    public void Chains_that_break_RFC_5280_or_Notations_extension_rules_are_untrusted()
    {
        var (signing, verifier, statement) = Trusted();
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        NotationFinding Check(IEnumerable<X509Extension> leafExtensions, IEnumerable<X509Extension>? caExtensions = null)
        {
            if (caExtensions is null)
                return verifier.Check(signing.Jws(Target, chain: [signing.Issue(NotationSigning.LeafSubject, new PublicKey(signing.LeafKey), leafExtensions), signing.Root]), Jws, Target, statement);
            var ca = signing.Issue("CN=Intermediate,O=Doras", new PublicKey(caKey), caExtensions);
            var leaf = signing.Issue(NotationSigning.LeafSubject, new PublicKey(signing.LeafKey), leafExtensions, ca, caKey);
            return verifier.Check(signing.Jws(Target, chain: [leaf, ca, signing.Root]), Jws, Target, statement);
        }
        var leafExtensions = NotationSigning.LeafExtensions();
        Assert.That(Check(leafExtensions, NotationSigning.CaExtensions()), Is.EqualTo(new NotationFinding(SignatureCheck.Verified, "")), "the well-formed chain");

        Assert.That(Check([.. leafExtensions, new X509Extension("1.3.6.1.4.1.99999.1", [0x05, 0x00], critical: true)]), Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted,
            "certificate \"CN=Doras Test Publisher, O=Doras, L=Seattle, S=WA, C=US\" has an unknown critical extension 1.3.6.1.4.1.99999.1")));
        Assert.That(Check([.. leafExtensions, new X509Extension("1.3.6.1.4.1.99999.1", [0x05, 0x00], critical: false)]).Check, Is.EqualTo(SignatureCheck.Verified),
            "an unknown extension not marked critical is ignored");
        Assert.That(Check([new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false)]), Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted,
            "signing certificate \"CN=Doras Test Publisher, O=Doras, L=Seattle, S=WA, C=US\" has no key usage (Notation requires digitalSignature)")));

        // nameConstraints (permitted: O=Doras): not evaluated on a device, so refused.
        var names = new AsnWriter(AsnEncodingRules.DER);
        using (names.PushSequence())
        using (names.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
        using (names.PushSequence())
        using (names.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 4)))
            names.WriteEncodedValue(new X500DistinguishedName("O=Doras").RawData);
        Assert.That(Check(leafExtensions, [.. NotationSigning.CaExtensions(), new X509Extension("2.5.29.30", names.Encode(), true)]), Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted,
            "certificate \"CN=Intermediate, O=Doras\" has name constraints, which a device does not evaluate")));

        // An intermediate whose EKU allows server authentication only may not issue code signing certificates.
        Assert.That(Check(leafExtensions, [.. NotationSigning.CaExtensions(), new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)]),
            Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted, "certificate \"CN=Intermediate, O=Doras\" has an extended key usage that allows neither code signing nor any usage")));
        Assert.That(Check(leafExtensions, [.. NotationSigning.CaExtensions(), new X509EnhancedKeyUsageExtension([new Oid("2.5.29.37.0")], false)]).Check, Is.EqualTo(SignatureCheck.Verified));
        Assert.That(Check(leafExtensions, [.. NotationSigning.CaExtensions(), new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false)]).Check, Is.EqualTo(SignatureCheck.Verified));
    }

    [Test]
    public void A_certificate_with_a_malformed_extension_is_a_malformed_finding_not_an_exception()
    {
        var (signing, verifier, statement) = Trusted();
        // basicConstraints whose value is a truncated SEQUENCE: .NET decodes it only when asked, and throws then.
        var leaf = signing.Issue(NotationSigning.LeafSubject, new PublicKey(signing.LeafKey), [.. NotationSigning.LeafExtensions(), new X509Extension("2.5.29.19", [0x30, 0x03, 0x01, 0x01], true)]);
        NotationFinding? finding = null;
        Assert.That(() => finding = verifier.Check(signing.Jws(Target, chain: [leaf, signing.Root]), Jws, Target, statement), Throws.Nothing);
        Assert.That(finding!.Check, Is.EqualTo(SignatureCheck.Malformed));
        Assert.That(finding.Detail, Does.StartWith("the signature or a certificate cannot be decoded"));
    }

    [Test]
    public void A_trust_store_certificate_with_a_malformed_extension_is_a_clear_configuration_error()
    {
        var signing = new NotationSigning();
        using var dir = new TempDirectory();
        var broken = signing.Issue("CN=Broken CA,O=Doras,ST=WA,C=US", new PublicKey(signing.LeafKey), [new X509Extension("2.5.29.19", [0x30, 0x03, 0x01, 0x01], true)]);
        dir.Write("x509/ca/broken/ca.crt", broken.RawData);
        Assert.That(() => new TrustStore(dir.Path).Certificates(new TrustStoreName("ca", "broken")), Throws.TypeOf<TrustPolicyException>()
            .With.Message.Contains("cannot be decoded"));
    }

    private static bool Printable(string text) => !text.Any(c => c < 0x20 || c is >= '\x7F' and <= '\x9F');

    [Test]
    public void Text_from_the_envelope_is_printable_and_bounded_in_findings()
    {
        var (signing, verifier, statement) = Trusted();
        var plugin = "com.example.plugin\u001b[2J\u001b]0;owned\u0007\r\nverified: OK\u009b31m" + new string('x', 5000);
        var finding = verifier.Check(signing.Jws(Target, plugin: plugin), Jws, Target, statement);
        Assert.That(finding.Check, Is.EqualTo(SignatureCheck.Untrusted));
        Assert.That(Printable(finding.Detail), Is.True, finding.Detail);
        Assert.That(finding.Detail, Does.StartWith("the signature requires verification plugin \"com.example.plugin"));
        Assert.That(finding.Detail.Length, Is.LessThan(300), "the plugin name is capped at 200 characters");

        // A signing certificate whose subject carries escapes, under the trusted root, that is no trusted identity.
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName("Doras\u001b[31m Test\r\n Publisher\u0085" + new string('y', 300));
        var request = new CertificateRequest(subject.Build(), signing.LeafKey, HashAlgorithmName.SHA256);
        foreach (var extension in NotationSigning.LeafExtensions()) request.CertificateExtensions.Add(extension);
        var leaf = request.Create(signing.Root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1), [7]);
        finding = verifier.Check(signing.Jws(Target, chain: [leaf, signing.Root]), Jws, Target, statement);
        Assert.That(finding.Check, Is.EqualTo(SignatureCheck.Untrusted));
        Assert.That(Printable(finding.Detail), Is.True, finding.Detail);
        Assert.That(finding.Detail, Does.StartWith("signing certificate \"CN=\"Doras Test Publisheryyy"));
        Assert.That(finding.Detail.Length, Is.LessThan(330));
    }

    [Test]
    public void Check_stops_when_cancelled()
    {
        var (signing, verifier, statement) = Trusted();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.That(() => verifier.Check(signing.Jws(Target), Jws, Target, statement, cancelled.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(verifier.Check(signing.Jws(Target), Jws, Target, statement, CancellationToken.None).Check, Is.EqualTo(SignatureCheck.Verified));
    }

    [Test]
    public void JWS_times_need_an_explicit_offset()
    {
        var (signing, verifier, statement) = Trusted();
        // Without an offset the time was read as the device's local time.
        Assert.That(verifier.Check(signing.Jws(Target, expiry: "2020-01-01T00:00:00"), Jws, Target, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Malformed, "\"io.cncf.notary.expiry\" is not an RFC 3339 time with an offset")));
        Assert.That(verifier.Check(signing.Jws(Target, signingTime: "2024-01-01T00:00:00.123"), Jws, Target, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Malformed, "\"io.cncf.notary.signingTime\" is not an RFC 3339 time with an offset")));
        Assert.That(verifier.Check(signing.Jws(Target, expiry: "2020-01-01T02:00:00+02:00"), Jws, Target, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Expired, "digital signature has expired on 2020-01-01T00:00:00Z")));
        Assert.That(verifier.Check(signing.Jws(Target, expiry: "2999-01-01T00:00:00.5Z", signingTime: "2024-01-01T00:00:00-07:00"), Jws, Target, statement).Check,
            Is.EqualTo(SignatureCheck.Verified));
    }

    [Test]
    public void Unchecked_tells_the_revocation_a_device_does_not_check()
    {
        var (_, verifier, _) = Trusted();
        Assert.That(verifier.Unchecked, Is.EqualTo(new[] { "trust policy statement \"doras\": revocation is not checked on the device (no OCSP or CRL access)" }));
    }
}
