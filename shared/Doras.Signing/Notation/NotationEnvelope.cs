using System.Buffers.Text;
using System.Formats.Cbor;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Cose;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Doras.Signing.Notation;

/// <summary>
/// A Notation signature envelope, read: JWS (JSON serialization, <c>application/jose+json</c>) or COSE_Sign1
/// (<c>application/cose</c>), with the signed attributes the specification defines. Reading checks the envelope's
/// own rules (content type, signing scheme and its time, critical headers all known, a certificate chain); it does not
/// decide whether the signature verifies: <see cref="Verify"/> does, with the signing certificate's key.
/// </summary>
internal sealed class NotationEnvelope
{
    public const string JwsMediaType = "application/jose+json";
    public const string CoseMediaType = "application/cose";
    public const string PayloadContentType = "application/vnd.cncf.notary.payload.v1+json";
    public const string SchemeX509 = "notary.x509";
    public const string SchemeSigningAuthority = "notary.x509.signingAuthority";

    private const string SigningScheme = "io.cncf.notary.signingScheme";
    private const string SigningTime = "io.cncf.notary.signingTime";
    private const string AuthenticSigningTime = "io.cncf.notary.authenticSigningTime";
    private const string Expiry = "io.cncf.notary.expiry";
    private const string VerificationPlugin = "io.cncf.notary.verificationPlugin";
    private const string VerificationPluginMinVersion = "io.cncf.notary.verificationPluginMinVersion";

    /// <summary>The headers a critical list may name: any other is refused, as the specification requires.</summary>
    private static readonly HashSet<string> KnownCritical = [SigningScheme, AuthenticSigningTime, Expiry, VerificationPlugin, VerificationPluginMinVersion];

    public required byte[] Payload { get; init; }
    public required string Scheme { get; init; }
    /// <summary>The signature algorithm as JWS names it (PS256 ... ES512), for COSE too.</summary>
    public required string Algorithm { get; init; }
    public DateTimeOffset? SigningTimeValue { get; init; }
    public DateTimeOffset? AuthenticSigningTimeValue { get; init; }
    public DateTimeOffset? ExpiryValue { get; init; }
    public string? Plugin { get; init; }
    public required IReadOnlyList<X509Certificate2> Chain { get; init; }
    private Func<X509Certificate2, bool> Verifier { get; init; } = _ => false;

    /// <summary>Whether the signature verifies with the signing certificate's key.</summary>
    public bool Verify() => Verifier(Chain[0]);

    /// <summary>Reads an envelope of a media type; <see cref="FormatException"/> naming what is wrong.</summary>
    public static NotationEnvelope Read(byte[] bytes, string mediaType) => mediaType switch
    {
        JwsMediaType => ReadJws(bytes),
        CoseMediaType => ReadCose(bytes),
        _ => throw new FormatException($"signature envelope format with media type \"{SafeText.Of(mediaType)}\" is not supported"),
    };

    private static FormatException Bad(string message) => new(message);

    // ---- JWS ----

    private static NotationEnvelope ReadJws(byte[] bytes)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw Bad($"not a JWS envelope: {e.Message}"); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad("not a JWS envelope: not a JSON object");
            var payloadText = Text(root, "payload") ?? throw Bad("JWS envelope has no payload");
            var protectedText = Text(root, "protected") ?? throw Bad("JWS envelope has no protected header");
            var signatureText = Text(root, "signature") ?? throw Bad("JWS envelope has no signature");
            if (!root.TryGetProperty("header", out var header) || header.ValueKind != JsonValueKind.Object) throw Bad("JWS envelope has no unprotected header");
            var payload = FromBase64Url(payloadText, "payload");
            var signature = FromBase64Url(signatureText, "signature");
            var protectedBytes = FromBase64Url(protectedText, "protected header");
            JsonDocument protectedDocument;
            try { protectedDocument = JsonDocument.Parse(protectedBytes, new JsonDocumentOptions { MaxDepth = 4 }); }
            catch (JsonException e) { throw Bad($"JWS protected header is not JSON: {e.Message}"); }
            using (protectedDocument)
            {
                var p = protectedDocument.RootElement;
                if (p.ValueKind != JsonValueKind.Object) throw Bad("JWS protected header is not a JSON object");
                var alg = Text(p, "alg") ?? throw Bad("JWS protected header has no alg");
                var (hash, rsa) = alg switch
                {
                    "PS256" => (HashAlgorithmName.SHA256, true), "PS384" => (HashAlgorithmName.SHA384, true), "PS512" => (HashAlgorithmName.SHA512, true),
                    "ES256" => (HashAlgorithmName.SHA256, false), "ES384" => (HashAlgorithmName.SHA384, false), "ES512" => (HashAlgorithmName.SHA512, false),
                    _ => throw Bad($"JWS signature algorithm \"{SafeText.Of(alg)}\" is not supported"),
                };
                if (Text(p, "cty") != PayloadContentType) throw Bad($"JWS content type is not \"{PayloadContentType}\"");
                var crit = new List<string>();
                if (p.TryGetProperty("crit", out var critElement))
                {
                    if (critElement.ValueKind != JsonValueKind.Array || critElement.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.String))
                        throw Bad("JWS crit is not an array of header names");
                    crit.AddRange(critElement.EnumerateArray().Select(c => c.GetString()!));
                }
                var names = p.EnumerateObject().Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
                CheckCritical(crit, names.Contains);
                var scheme = Text(p, SigningScheme);
                var envelope = new NotationEnvelope
                {
                    Payload = payload,
                    Scheme = scheme ?? "",
                    Algorithm = alg,
                    SigningTimeValue = JwsTime(p, SigningTime),
                    AuthenticSigningTimeValue = JwsTime(p, AuthenticSigningTime),
                    ExpiryValue = JwsTime(p, Expiry),
                    Plugin = Text(p, VerificationPlugin),
                    Chain = JwsChain(header),
                    Verifier = leaf => VerifyJws(leaf, Encoding.ASCII.GetBytes(protectedText + "." + payloadText), signature, hash, rsa),
                };
                envelope.CheckSignedAttributes(crit);
                return envelope;
            }
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString() : throw Bad($"\"{SafeText.Of(name)}\" is not a string") : null;

    /// <summary>RFC 7515's base64url: no padding, no whitespace (which .NET's decoder would forgive).</summary>
    private static byte[] FromBase64Url(string text, string what)
    {
        if (text.AsSpan().ContainsAnyExcept(Base64UrlAlphabet)) throw Bad($"JWS {what} is not base64url");
        try { return Base64Url.DecodeFromChars(text); }
        catch (FormatException) { throw Bad($"JWS {what} is not base64url"); }
    }

    private static readonly System.Buffers.SearchValues<char> Base64UrlAlphabet =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    /// <summary>
    /// An RFC 3339 date-time: an explicit offset (<c>Z</c> or <c>±hh:mm</c>) is required. A time without one is
    /// refused rather than read as the device's local time.
    /// </summary>
    private static DateTimeOffset? JwsTime(JsonElement header, string name)
    {
        if (Text(header, name) is not { } text) return null;
        if (DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'"], CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var utc))
            return utc;
        if (DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:sszzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
            return time;
        throw Bad($"\"{name}\" is not an RFC 3339 time with an offset");
    }

    private static List<X509Certificate2> JwsChain(JsonElement header)
    {
        if (!header.TryGetProperty("x5c", out var x5c) || x5c.ValueKind != JsonValueKind.Array || x5c.GetArrayLength() == 0)
            throw Bad("JWS unprotected header has no x5c certificate chain");
        if (x5c.GetArrayLength() > CertificateChain.MaxLength) throw Bad($"the certificate chain is longer than {CertificateChain.MaxLength}");
        var chain = new List<X509Certificate2>();
        foreach (var item in x5c.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw Bad("x5c holds a non-string");
            byte[] der;
            try { der = Convert.FromBase64String(item.GetString()!); }
            catch (FormatException) { throw Bad("x5c holds a certificate that is not base64"); }
            chain.Add(LoadCertificate(der));
        }
        return chain;
    }

    private static X509Certificate2 LoadCertificate(byte[] der)
    {
        try { return X509CertificateLoader.LoadCertificate(der); }
        catch (CryptographicException) { throw Bad("the certificate chain holds bytes that are no X.509 certificate"); }
    }

    private static bool VerifyJws(X509Certificate2 leaf, byte[] input, byte[] signature, HashAlgorithmName hash, bool rsa)
    {
        try
        {
            if (rsa)
            {
                using var key = leaf.GetRSAPublicKey();
                return key is not null && key.KeySize >= 2048 && key.VerifyData(input, signature, hash, RSASignaturePadding.Pss);
            }
            using var ec = leaf.GetECDsaPublicKey();
            return ec is not null && ec.VerifyData(input, signature, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        catch (CryptographicException) { return false; }
    }

    // ---- COSE ----

    private static readonly CoseHeaderLabel X5Chain = new(33);

    private static NotationEnvelope ReadCose(byte[] bytes)
    {
        CoseSign1Message message;
        try { message = CoseMessage.DecodeSign1(bytes); }
        catch (CryptographicException e) { throw Bad($"not a COSE_Sign1 envelope: {e.Message}"); }
        catch (CborContentException e) { throw Bad($"not a COSE_Sign1 envelope: {e.Message}"); }
        catch (InvalidOperationException e) { throw Bad($"not a COSE_Sign1 envelope: {e.Message}"); }
        if (message.Content is not { } content) throw Bad("COSE envelope has a detached payload");
        var headers = message.ProtectedHeaders;
        try
        {
            if (!headers.TryGetValue(CoseHeaderLabel.Algorithm, out var alg)) throw Bad("COSE protected header has no algorithm");
            var algorithm = alg.GetValueAsInt32();
            if (algorithm is not (-37 or -38 or -39 or -7 or -35 or -36)) throw Bad($"COSE signature algorithm {algorithm} is not supported");
            if (!headers.TryGetValue(CoseHeaderLabel.ContentType, out var cty) || Cbor(cty).PeekState() != CborReaderState.TextString || cty.GetValueAsString() != PayloadContentType)
                throw Bad($"COSE content type is not \"{PayloadContentType}\"");
            var crit = new List<string>();
            if (headers.TryGetValue(CoseHeaderLabel.CriticalHeaders, out var critValue))
            {
                var reader = Cbor(critValue);
                var count = reader.ReadStartArray() ?? throw Bad("COSE crit is of indefinite length");
                if (count is 0 or > 16) throw Bad("COSE crit is empty or too long");
                for (var i = 0; i < count; i++)
                    crit.Add(reader.PeekState() switch
                    {
                        CborReaderState.TextString => reader.ReadTextString(),
                        CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger => reader.ReadInt64().ToString(CultureInfo.InvariantCulture),
                        _ => throw Bad("COSE crit holds a label that is neither text nor integer"),
                    });
            }
            CheckCritical(crit, name => headers.ContainsKey(new CoseHeaderLabel(name)));
            var envelope = new NotationEnvelope
            {
                Payload = content.ToArray(),
                Scheme = CoseText(headers, SigningScheme) ?? "",
                Algorithm = algorithm switch { -37 => "PS256", -38 => "PS384", -39 => "PS512", -7 => "ES256", -35 => "ES384", _ => "ES512" },
                SigningTimeValue = CoseTime(headers, SigningTime),
                AuthenticSigningTimeValue = CoseTime(headers, AuthenticSigningTime),
                ExpiryValue = CoseTime(headers, Expiry),
                Plugin = CoseText(headers, VerificationPlugin),
                Chain = CoseChain(message),
                Verifier = leaf => VerifyCose(leaf, message, algorithm),
            };
            envelope.CheckSignedAttributes(crit);
            return envelope;
        }
        catch (CborContentException e) { throw Bad($"COSE header is not valid CBOR: {e.Message}"); }
        catch (InvalidOperationException e) { throw Bad($"COSE header has a value of the wrong type: {e.Message}"); }
    }

    private static CborReader Cbor(CoseHeaderValue value) => new(value.EncodedValue, CborConformanceMode.Lax);

    private static string? CoseText(CoseHeaderMap headers, string name) =>
        headers.TryGetValue(new CoseHeaderLabel(name), out var value) ? value.GetValueAsString() : null;

    private static DateTimeOffset? CoseTime(CoseHeaderMap headers, string name)
    {
        if (!headers.TryGetValue(new CoseHeaderLabel(name), out var value)) return null;
        var reader = Cbor(value);
        if (reader.ReadTag() != CborTag.UnixTimeSeconds) throw Bad($"\"{name}\" is not a tagged time");
        var seconds = reader.PeekState() == CborReaderState.UnsignedInteger || reader.PeekState() == CborReaderState.NegativeInteger ? reader.ReadInt64() : throw Bad($"\"{name}\" is not whole seconds");
        if (seconds is < -62135596800 or > 253402300799) throw Bad($"\"{name}\" is out of range");
        return DateTimeOffset.FromUnixTimeSeconds(seconds);
    }

    private static List<X509Certificate2> CoseChain(CoseSign1Message message)
    {
        if (!message.UnprotectedHeaders.TryGetValue(X5Chain, out var value)) throw Bad("COSE unprotected header has no x5chain certificate chain");
        var reader = Cbor(value);
        var chain = new List<X509Certificate2>();
        if (reader.PeekState() == CborReaderState.ByteString) chain.Add(LoadCertificate(reader.ReadByteString()));
        else
        {
            var count = reader.ReadStartArray() ?? throw Bad("COSE x5chain is of indefinite length");
            if (count == 0) throw Bad("COSE x5chain is empty");
            if (count > CertificateChain.MaxLength) throw Bad($"the certificate chain is longer than {CertificateChain.MaxLength}");
            for (var i = 0; i < count; i++) chain.Add(LoadCertificate(reader.ReadByteString()));
        }
        return chain;
    }

    private static bool VerifyCose(X509Certificate2 leaf, CoseSign1Message message, int algorithm)
    {
        try
        {
            if (algorithm is -37 or -38 or -39)
            {
                using var key = leaf.GetRSAPublicKey();
                return key is not null && key.KeySize >= 2048 && message.VerifyEmbedded(key);
            }
            using var ec = leaf.GetECDsaPublicKey();
            return ec is not null && message.VerifyEmbedded(ec);
        }
        catch (CryptographicException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    // ---- both ----

    private static void CheckCritical(List<string> crit, Func<string, bool> present)
    {
        foreach (var name in crit)
        {
            if (!KnownCritical.Contains(name)) throw Bad($"unknown critical header \"{SafeText.Of(name)}\"");
            if (!present(name)) throw Bad($"critical header \"{SafeText.Of(name)}\" is missing");
        }
    }

    /// <summary>The signed attributes' rules: a known scheme, its time, and the headers that must be critical marked so.</summary>
    private void CheckSignedAttributes(List<string> crit)
    {
        if (Scheme is not (SchemeX509 or SchemeSigningAuthority)) throw Bad($"signing scheme \"{SafeText.Of(Scheme)}\" is not supported");
        if (!crit.Contains(SigningScheme)) throw Bad($"\"{SigningScheme}\" is not marked critical");
        if (ExpiryValue is not null && !crit.Contains(Expiry)) throw Bad($"\"{Expiry}\" is not marked critical");
        if (Scheme == SchemeX509 && SigningTimeValue is null) throw Bad($"signing scheme {SchemeX509} requires \"{SigningTime}\"");
        if (Scheme == SchemeSigningAuthority && (AuthenticSigningTimeValue is null || !crit.Contains(AuthenticSigningTime)))
            throw Bad($"signing scheme {SchemeSigningAuthority} requires a critical \"{AuthenticSigningTime}\"");
        if (Plugin is not null && !crit.Contains(VerificationPlugin)) throw Bad($"\"{VerificationPlugin}\" is not marked critical");
    }
}
