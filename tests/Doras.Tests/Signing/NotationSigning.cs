using System.Buffers.Text;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Security.Cryptography.Cose;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Doras.Oci.Model;

namespace Doras.Tests.Signing;

/// <summary>
/// Notation signatures made in the tests, written per the Notary Project envelope specification: a CA and a code signing
/// leaf made with .NET's CertificateRequest, a JWS (JSON serialization) or COSE_Sign1 envelope of
/// <c>{"targetArtifact": descriptor}</c>, and a trust store directory and policy trusting the CA.
/// </summary>
internal sealed class NotationSigning
{
    public ECDsa RootKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    public ECDsa LeafKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    public X509Certificate2 Root { get; }
    public X509Certificate2 Leaf { get; }
    public const string LeafSubject = "CN=Doras Test Publisher,O=Doras,L=Seattle,ST=WA,C=US";

    public NotationSigning(string rootName = "CN=Doras Test Root,O=Doras,ST=WA,C=US", DateTimeOffset? notAfter = null)
    {
        var request = new CertificateRequest(rootName, RootKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        Root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        var leaf = new CertificateRequest(LeafSubject, LeafKey, HashAlgorithmName.SHA256);
        leaf.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leaf.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false));
        Leaf = leaf.Create(Root, DateTimeOffset.UtcNow.AddHours(-1), notAfter ?? DateTimeOffset.UtcNow.AddYears(1), [1, 2, 3]);
    }

    public static byte[] Payload(Descriptor target) =>
        Encoding.UTF8.GetBytes($$$"""{"targetArtifact":{"mediaType":"{{{target.MediaType}}}","digest":"{{{target.Digest}}}","size":{{{target.Size}}}}}""");

    /// <summary>
    /// A JWS envelope; <paramref name="extraCritical"/> adds a header marked critical, <paramref name="plugin"/> a
    /// critical verification plugin header; <paramref name="key"/> signs instead of the leaf's key, with
    /// <paramref name="alg"/> (ES256, ES384, ES512) named in the header.
    /// </summary>
    public byte[] Jws(Descriptor target, string? extraCritical = null, IEnumerable<X509Certificate2>? chain = null, string? expiry = null,
        ECDsa? key = null, string alg = "ES256", string? signingTime = null, string? plugin = null)
    {
        var crit = new List<string> { "\"io.cncf.notary.signingScheme\"" };
        if (expiry is not null) crit.Add("\"io.cncf.notary.expiry\"");
        if (extraCritical is not null) crit.Add($"\"{extraCritical}\"");
        if (plugin is not null) crit.Add("\"io.cncf.notary.verificationPlugin\"");
        signingTime ??= $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}";
        var pluginHeader = plugin is null ? "" : ",\"io.cncf.notary.verificationPlugin\":" + System.Text.Json.JsonSerializer.Serialize(plugin);
        var header = $$"""{"alg":"{{alg}}","crit":[{{string.Join(",", crit)}}],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"{{signingTime}}"{{(expiry is null ? "" : $",\"io.cncf.notary.expiry\":\"{expiry}\"")}}{{(extraCritical is null ? "" : $",\"{extraCritical}\":\"x\"")}}{{pluginHeader}}}""";
        var protectedText = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header));
        var payloadText = Base64Url.EncodeToString(Payload(target));
        var hash = alg switch { "ES384" => HashAlgorithmName.SHA384, "ES512" => HashAlgorithmName.SHA512, _ => HashAlgorithmName.SHA256 };
        var signature = (key ?? LeafKey).SignData(Encoding.ASCII.GetBytes(protectedText + "." + payloadText), hash);
        var x5c = string.Join(",", (chain ?? [Leaf, Root]).Select(c => $"\"{Convert.ToBase64String(c.RawData)}\""));
        return Encoding.UTF8.GetBytes($$$"""{"payload":"{{{payloadText}}}","protected":"{{{protectedText}}}","header":{"x5c":[{{{x5c}}}],"io.cncf.notary.signingAgent":"Doras tests"},"signature":"{{{Base64Url.EncodeToString(signature)}}}"}""");
    }

    /// <summary>
    /// A certificate for <paramref name="publicKey"/> issued by <paramref name="issuer"/> (the root when null) with
    /// <paramref name="extensions"/>, its signature made with <paramref name="hash"/> (SHA-256 when null).
    /// </summary>
    public X509Certificate2 Issue(string subject, PublicKey publicKey, IEnumerable<X509Extension> extensions,
        X509Certificate2? issuer = null, ECDsa? issuerKey = null, HashAlgorithmName? hash = null)
    {
        var request = new CertificateRequest(new X500DistinguishedName(subject), publicKey, hash ?? HashAlgorithmName.SHA256);
        foreach (var extension in extensions) request.CertificateExtensions.Add(extension);
        return request.Create((issuer ?? Root).SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey ?? RootKey),
            DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1), RandomNumberGenerator.GetBytes(8));
    }

    /// <summary>The extensions of a code signing leaf: digitalSignature, codeSigning.</summary>
    public static X509Extension[] LeafExtensions() =>
        [new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true), new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.3")], false)];

    /// <summary>The extensions of an intermediate CA: cA, keyCertSign.</summary>
    public static X509Extension[] CaExtensions() =>
        [new X509BasicConstraintsExtension(true, false, 0, true), new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true)];

    /// <summary>A COSE_Sign1 envelope, as Notation writes one.</summary>
    public byte[] Cose(Descriptor target, string? extraCritical = null)
    {
        var headers = new CoseHeaderMap
        {
            [CoseHeaderLabel.ContentType] = CoseHeaderValue.FromString("application/vnd.cncf.notary.payload.v1+json"),
            [new CoseHeaderLabel("io.cncf.notary.signingScheme")] = CoseHeaderValue.FromString("notary.x509"),
        };
        var time = new CborWriter();
        time.WriteTag(CborTag.UnixTimeSeconds);
        time.WriteInt64(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        headers[new CoseHeaderLabel("io.cncf.notary.signingTime")] = CoseHeaderValue.FromEncodedValue(time.Encode());
        var crit = new CborWriter();
        crit.WriteStartArray(extraCritical is null ? 1 : 2);
        crit.WriteTextString("io.cncf.notary.signingScheme");
        if (extraCritical is not null) crit.WriteTextString(extraCritical);
        crit.WriteEndArray();
        headers[CoseHeaderLabel.CriticalHeaders] = CoseHeaderValue.FromEncodedValue(crit.Encode());
        if (extraCritical is not null) headers[new CoseHeaderLabel(extraCritical)] = CoseHeaderValue.FromString("x");
        var chain = new CborWriter();
        chain.WriteStartArray(2);
        chain.WriteByteString(Leaf.RawData);
        chain.WriteByteString(Root.RawData);
        chain.WriteEndArray();
        var unprotected = new CoseHeaderMap { [new CoseHeaderLabel(33)] = CoseHeaderValue.FromEncodedValue(chain.Encode()) };
        var signer = new CoseSigner(LeafKey, HashAlgorithmName.SHA256, headers, unprotected);
        return CoseSign1Message.SignEmbedded(Payload(target), signer);
    }

    /// <summary>A trust store directory holding the root as <c>x509/ca/doras</c>, and a policy trusting it for every repository.</summary>
    public (string Policy, string Store) TrustFiles(string directory, string identity = LeafSubject, string level = "strict")
    {
        var store = Path.Combine(directory, "truststore");
        Directory.CreateDirectory(Path.Combine(store, "x509", "ca", "doras"));
        File.WriteAllText(Path.Combine(store, "x509", "ca", "doras", "root.pem"), Root.ExportCertificatePem());
        var policy = Path.Combine(directory, "trustpolicy.json");
        File.WriteAllText(policy, $$"""
            {"version":"1.0","trustPolicies":[{"name":"doras","registryScopes":["*"],"signatureVerification":{"level":"{{level}}"},
             "trustStores":["ca:doras"],"trustedIdentities":["{{(identity == "*" ? "*" : "x509.subject:" + identity)}}"]}]}
            """);
        return (policy, store);
    }
}
