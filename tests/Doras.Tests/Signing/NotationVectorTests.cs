using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Memory;
using Doras.Oci.Model;
using Doras.Signing;
using Doras.Signing.Cosign;
using Doras.Signing.Notation;

namespace Doras.Tests.Signing;

/// <summary>
/// Notation verification against notation-go's public known-answer vectors (NotationVectors/README.md) and against
/// hostile envelopes and chains. The vectors' certificates are valid until 2122 and their unexpired signatures until
/// 2120, so they are checked at the real time; the expired ones expired in 2022 and 2024, and are refused at the
/// real time too. Nothing is relaxed for them.
/// </summary>
public class NotationVectorTests
{
    private static string Vectors => Path.Combine(TestContext.CurrentContext.TestDirectory, "Signing", "NotationVectors");
    private static string StoreDir => Path.Combine(Vectors, "verifier", "testdata", "truststore");
    private static byte[] Vector(string path) => File.ReadAllBytes(Path.Combine(Vectors, path));

    /// <summary>The mock envelopes' target: notation-go's internal/mock ImageDescriptor.</summary>
    private static readonly Descriptor MockTarget = new()
    {
        MediaType = "application/vnd.docker.distribution.manifest.v2+json",
        Digest = Digest.Parse("sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e"), Size = 528,
    };

    /// <summary>internal/testdata's envelopes' target: the oci-layout's manifest.</summary>
    private static readonly Descriptor LayoutTarget = new()
    {
        MediaType = "application/vnd.oci.image.manifest.v1+json",
        Digest = Digest.Parse("sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0"), Size = 481,
    };

    private const string TestRoot = "x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US";

    /// <summary>notation-go's dummyOCIPolicyDocument, with a level and optionally other stores and identities.</summary>
    private static string Policy(string level = "strict", string stores = "\"ca:valid-trust-store\",\"signingAuthority:valid-trust-store\"",
        string identities = $"\"{TestRoot}\"", string overrides = "") => $$"""
        {"version":"1.0","trustPolicies":[{"name":"test-statement-name","registryScopes":["registry.acme-rockets.io/software/net-monitor"],
         "signatureVerification":{"level":"{{level}}"{{overrides}}},"trustStores":[{{stores}}],"trustedIdentities":[{{identities}}]}]}
        """;

    private static NotationFinding Check(byte[] envelope, string policy, Descriptor? target = null, string mediaType = "application/jose+json", string? storeDir = null)
    {
        var verifier = new NotationVerifier(TrustPolicy.Parse(Encoding.UTF8.GetBytes(policy)), new TrustStore(storeDir ?? StoreDir));
        return verifier.Check(envelope, mediaType, target ?? MockTarget, verifier.StatementFor("registry.acme-rockets.io/software/net-monitor")!);
    }

    [TestCase("internal/mock/testdata/ca_valid_sig_env.json", "strict")]
    [TestCase("internal/mock/testdata/ca_valid_sig_env.json", "permissive")]
    [TestCase("internal/mock/testdata/ca_valid_sig_env.json", "audit")]
    [TestCase("internal/mock/testdata/sa_valid_sig_env.json", "strict")]
    [TestCase("internal/mock/testdata/sa_valid_sig_env.json", "permissive")]
    [TestCase("internal/mock/testdata/sa_valid_sig_env.json", "audit")]
    public void The_valid_vectors_verify(string vector, string level) =>
        Assert.That(Check(Vector(vector), Policy(level)), Is.EqualTo(new NotationFinding(SignatureCheck.Verified, "")));

    [TestCase("internal/mock/testdata/ca_invalid_sig_env.json")]
    [TestCase("internal/mock/testdata/sa_invalid_sig_env.json")]
    public void The_invalid_vectors_are_refused_at_every_level(string vector)
    {
        // Their payload ends in "=": padding, which RFC 7515's base64url has not (notation-go: "illegal base64 data at input byte 242").
        foreach (var level in new[] { "strict", "permissive", "audit" })
            Assert.That(Check(Vector(vector), Policy(level)), Is.EqualTo(new NotationFinding(SignatureCheck.Malformed, "JWS payload is not base64url")), level);
    }

    [TestCase("internal/mock/testdata/ca_expired_sig_env.json")]
    [TestCase("internal/mock/testdata/sa_expired_sig_env.json")]
    public void The_expired_vectors_are_refused_when_expiry_is_enforced(string vector)
    {
        Assert.That(Check(Vector(vector), Policy("strict")), Is.EqualTo(new NotationFinding(SignatureCheck.Expired, "digital signature has expired on 2022-07-29T23:59:00Z")));
        Assert.That(Check(Vector(vector), Policy("strict", overrides: ",\"override\":{\"expiry\":\"log\"}")).Check, Is.EqualTo(SignatureCheck.Verified), "the policy's override says log");
        // Permissive and audit log expiry, as the specification's table says; strict with an override enforces it again.
        Assert.That(Check(Vector(vector), Policy("permissive")).Check, Is.EqualTo(SignatureCheck.Verified));
        Assert.That(Check(Vector(vector), Policy("permissive", overrides: ",\"override\":{\"expiry\":\"enforce\"}")).Check, Is.EqualTo(SignatureCheck.Expired));
    }

    [TestCase("internal/mock/testdata/ca_valid_sig_env.json")]
    [TestCase("internal/mock/testdata/sa_valid_sig_env.json")]
    public void A_valid_vector_under_the_wrong_root_or_identity_is_untrusted(string vector)
    {
        var wrongRoot = Policy(stores: "\"ca:valid-trust-store-2\",\"signingAuthority:valid-trust-store-2\"");
        Assert.That(Check(Vector(vector), wrongRoot), Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted, "the signature's certificate chain does not contain any trusted certificate")));
        Assert.That(Check(Vector(vector), Policy("permissive", stores: "\"ca:valid-trust-store-2\",\"signingAuthority:valid-trust-store-2\"")).Check, Is.EqualTo(SignatureCheck.Untrusted));
        var wrongIdentity = Policy(identities: "\"x509.subject:CN=LOL,O=DummyOrg,L=Hyderabad,ST=TG,C=IN\"");
        Assert.That(Check(Vector(vector), wrongIdentity), Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted,
            "signing certificate \"CN=Notation Test Root, O=Notary, L=Seattle, S=WA, C=US\" does not match the trusted identities of trust policy statement \"test-statement-name\"")));
        Assert.That(Check(Vector(vector), Policy(identities: "\"*\"")).Check, Is.EqualTo(SignatureCheck.Verified));
        Assert.That(Check(Vector(vector), Policy(identities: "\"x509.subject:C=US,ST=WA,O=Notary\"")).Check, Is.EqualTo(SignatureCheck.Verified), "a subset of the subject's attributes matches");
        // The specification's audit level only logs authenticity; a device enforces it all the same.
        Assert.That(Check(Vector(vector), Policy("audit", stores: "\"ca:valid-trust-store-2\",\"signingAuthority:valid-trust-store-2\"")),
            Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted, "the signature's certificate chain does not contain any trusted certificate")));
    }

    [Test]
    public void A_signing_authority_signature_is_trusted_only_through_a_signingAuthority_store()
    {
        var caOnly = Policy(stores: "\"ca:valid-trust-store\"");
        Assert.That(Check(Vector("internal/mock/testdata/sa_valid_sig_env.json"), caOnly), Is.EqualTo(new NotationFinding(SignatureCheck.Untrusted,
            "trust policy statement \"test-statement-name\" has no trust store of type \"signingAuthority\" for signing scheme notary.x509.signingAuthority")));
        Assert.That(Check(Vector("internal/mock/testdata/ca_valid_sig_env.json"), Policy(stores: "\"signingAuthority:valid-trust-store\"")).Check, Is.EqualTo(SignatureCheck.Untrusted));
    }

    [Test]
    public void A_tampered_payload_or_another_target_is_refused()
    {
        var envelope = JsonNode(Vector("internal/mock/testdata/ca_valid_sig_env.json"));
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(envelope["payload"]!.GetValue<string>())).Replace("\"size\":528", "\"size\":529");
        envelope["payload"] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload));
        Assert.That(Check(Encoding.UTF8.GetBytes(envelope.ToJsonString()), Policy()),
            Is.EqualTo(new NotationFinding(SignatureCheck.BadSignature, "the signature does not verify with its signing certificate")));
        Assert.That(Check(Vector("internal/mock/testdata/ca_valid_sig_env.json"), Policy(), LayoutTarget),
            Is.EqualTo(new NotationFinding(SignatureCheck.OtherDigest, "the signature names sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e")));
        Assert.That(Check(Vector("internal/mock/testdata/ca_valid_sig_env.json"), Policy(), MockTarget with { Size = 1 }).Check, Is.EqualTo(SignatureCheck.OtherDigest));
    }

    private static System.Text.Json.Nodes.JsonObject JsonNode(byte[] json) => System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();

    /// <summary>A trust store holding a vector's own self-signed signing certificate, under x509/ca/own.</summary>
    private static string OwnStore(byte[] certificate)
    {
        var dir = Path.Combine(Path.GetTempPath(), "doras-notation-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "x509", "ca", "own"));
        File.WriteAllBytes(Path.Combine(dir, "x509", "ca", "own", "own.der"), certificate);
        return dir;
    }

    private static byte[] JwsLeaf(byte[] envelope) => Convert.FromBase64String(JsonNode(envelope)["header"]!["x5c"]![0]!.GetValue<string>());

    [Test]
    public void The_JWS_and_COSE_envelopes_of_notation_go_verify_against_the_layout_manifest()
    {
        var jws = Vector("internal/testdata/jws_signature.sig");
        var cose = Vector("internal/testdata/cose_signature.sig");
        var coseLeaf = System.Security.Cryptography.Cose.CoseMessage.DecodeSign1(cose);
        var store = OwnStore(JwsLeaf(jws));
        var policy = Policy(stores: "\"ca:own\"", identities: "\"*\"");
        Assert.That(Check(jws, policy, LayoutTarget, storeDir: store), Is.EqualTo(new NotationFinding(SignatureCheck.Verified, "")));
        Assert.That(Check(jws, policy, MockTarget, storeDir: store).Check, Is.EqualTo(SignatureCheck.OtherDigest));
        Assert.That(Check(jws, Policy(identities: "\"*\""), LayoutTarget).Check, Is.EqualTo(SignatureCheck.Untrusted), "its certificate is in no vector store");

        var coseStore = OwnStore(CoseLeaf(cose));
        Assert.That(Check(cose, policy, LayoutTarget, "application/cose", coseStore), Is.EqualTo(new NotationFinding(SignatureCheck.Verified, "")));
        Assert.That(Check(cose, policy, MockTarget, "application/cose", coseStore).Check, Is.EqualTo(SignatureCheck.OtherDigest));
        // The payload changed: the signature no longer verifies. The digest's hex sits in the payload as text.
        var tampered = (byte[])cose.Clone();
        var at = Encoding.ASCII.GetString(tampered).IndexOf("19dbd2e4", StringComparison.Ordinal);
        tampered[at] = (byte)'2';
        Assert.That(Check(tampered, policy, LayoutTarget with { Digest = Digest.Parse("sha256:29dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0") }, "application/cose", coseStore),
            Is.EqualTo(new NotationFinding(SignatureCheck.BadSignature, "the signature does not verify with its signing certificate")));
        Assert.That(Check(cose, policy, LayoutTarget, "application/jose+json", coseStore).Check, Is.EqualTo(SignatureCheck.Malformed), "COSE bytes are no JWS");
        Assert.That(Check(jws, policy, LayoutTarget, "application/cose", store).Check, Is.EqualTo(SignatureCheck.Malformed), "JWS bytes are no COSE");
    }

    private static byte[] CoseLeaf(byte[] cose)
    {
        var message = System.Security.Cryptography.Cose.CoseMessage.DecodeSign1(cose);
        var reader = new System.Formats.Cbor.CborReader(message.UnprotectedHeaders[new System.Security.Cryptography.Cose.CoseHeaderLabel(33)].EncodedValue);
        if (reader.PeekState() == System.Formats.Cbor.CborReaderState.ByteString) return reader.ReadByteString();
        reader.ReadStartArray();
        return reader.ReadByteString();
    }

    [TestCase("verifier/testdata/timestamp/sigEnv/jwsExpiredWithTimestamp.sig", "application/jose+json")]
    [TestCase("verifier/testdata/timestamp/sigEnv/coseExpiredWithTimestamp.sig", "application/cose")]
    public void A_signature_whose_certificate_has_expired_is_refused_as_expired(string vector, string mediaType)
    {
        // They carry an RFC 3161 timestamp, which the device does not evaluate: the certificate's expiry at the verification time decides.
        var envelope = Vector(vector);
        var store = OwnStore(mediaType == "application/cose" ? CoseLeaf(envelope) : JwsLeaf(envelope));
        var target = new Descriptor { MediaType = "application/vnd.docker.distribution.manifest.v2+json", Digest = Digest.Parse("sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda"), Size = 528 };
        var finding = Check(envelope, Policy(stores: "\"ca:own\"", identities: "\"*\""), target, mediaType, store);
        Assert.That(finding.Check, Is.EqualTo(SignatureCheck.Expired));
        Assert.That(finding.Detail, Does.StartWith("certificate \"CN=testTSA, O=Notary, L=Seattle, S=WA, C=US\" expired on 2024-06-18T07:30:31Z, before the verification time"));
        // Permissive logs the authentic time check: the same envelope is accepted, as the specification's table says.
        Assert.That(Check(envelope, Policy("permissive", stores: "\"ca:own\"", identities: "\"*\""), target, mediaType, store).Check, Is.EqualTo(SignatureCheck.Verified));
    }

    [Test]
    public void Unknown_critical_headers_are_refused_even_when_validly_signed()
    {
        var signing = new NotationSigning();
        var dir = Path.Combine(Path.GetTempPath(), "doras-notation-" + Guid.NewGuid().ToString("N"));
        var (policyFile, store) = signing.TrustFiles(dir);
        var verifier = NotationVerifier.Load(policyFile, store);
        var statement = verifier.StatementFor("any/repo")!;
        Assert.That(verifier.Check(signing.Jws(MockTarget), "application/jose+json", MockTarget, statement).Check, Is.EqualTo(SignatureCheck.Verified));
        Assert.That(verifier.Check(signing.Cose(MockTarget), "application/cose", MockTarget, statement).Check, Is.EqualTo(SignatureCheck.Verified));
        Assert.That(verifier.Check(signing.Jws(MockTarget, "com.example.unknown"), "application/jose+json", MockTarget, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Malformed, "unknown critical header \"com.example.unknown\"")));
        Assert.That(verifier.Check(signing.Cose(MockTarget, "com.example.unknown"), "application/cose", MockTarget, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Malformed, "unknown critical header \"com.example.unknown\"")));
        Assert.That(verifier.Check(signing.Jws(MockTarget, expiry: "2020-01-01T00:00:00Z"), "application/jose+json", MockTarget, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Expired, "digital signature has expired on 2020-01-01T00:00:00Z")));
    }

    [Test]
    public void Trust_policies_and_stores_that_break_the_rules_are_usage_errors()
    {
        Assert.That(() => TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy(stores: "\"ca:valid-trust-store-2\",\"signingAuthority\""))),
            Throws.TypeOf<TrustPolicyException>().With.Message.EndWith("trust policy statement \"test-statement-name\" is missing separator in trust store value \"signingAuthority\". The required format is <TrustStoreType>:<TrustStoreName>"));
        Assert.That(() => TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy(identities: "\"x509.subject\""))),
            Throws.TypeOf<TrustPolicyException>().With.Message.EndWith("trust policy statement \"test-statement-name\" has trusted identity \"x509.subject\" missing separator"));
        Assert.That(() => TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy(identities: "\"x509.subject:\""))),
            Throws.TypeOf<TrustPolicyException>().With.Message.EndWith("trust policy statement \"test-statement-name\" has trusted identity \"x509.subject:\" without an identity value"));
        Assert.That(() => TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy().Replace("\"1.0\"", "\"2.0\""))),
            Throws.TypeOf<TrustPolicyException>().With.Message.Contains("version \"2.0\" is not supported"));
        Assert.That(() => TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy("bogus"))),
            Throws.TypeOf<TrustPolicyException>().With.Message.EndWith("uses invalid signatureVerification value \"bogus\""));
        Assert.That(() => TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy(overrides: ",\"override\":{\"integrity\":\"log\"}"))),
            Throws.TypeOf<TrustPolicyException>().With.Message.Contains("\"integrity\" validation can not be overridden"));
        Assert.That(() => TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy("skip"))),
            Throws.TypeOf<TrustPolicyException>().With.Message.Contains("is set to skip signature verification but configured with trust stores"));
        Assert.That(() => TrustPolicy.Parse("{\"version\":\"1.0\",\"trustPolicies\":[{\"name\":\"a\",\"registryScopes\":[\"*\"],\"signatureVerification\":{\"level\":\"skip\"}}]}"u8).Statements[0].Skip, Is.True);
        Assert.That(() => new NotationVerifier(TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy(stores: "\"ca:trust-store-with-leaf-certs\""))), new TrustStore(StoreDir)),
            Throws.TypeOf<TrustPolicyException>().With.Message.Contains("non-ca.crt: certificate with subject").And.Message.Contains("is not a CA certificate or self-signed signing certificate"));
        Assert.That(() => new NotationVerifier(TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy(stores: "\"ca:trust-store-with-invalid-certs\""))), new TrustStore(StoreDir)),
            Throws.TypeOf<TrustPolicyException>().With.Message.Contains("file invalid is not an X.509 certificate"));
        Assert.That(() => new NotationVerifier(TrustPolicy.Parse(Encoding.UTF8.GetBytes(Policy(stores: "\"ca:does-not-exist\""))), new TrustStore(StoreDir)),
            Throws.TypeOf<TrustPolicyException>().With.Message.StartWith("the trust store \"does-not-exist\" of type \"ca\" does not exist"));
    }

    // ---- hostile ----

    /// <summary>
    /// Runs a check that must end (no loop through a chain, no recursion per bracket): what it finds is asserted by the
    /// action; the guard only catches a check that never returns, and is far above any machine's time, so load cannot fail it.
    /// </summary>
    private static void Ends(Action action)
    {
        var check = Task.Run(action);
        if (!((IAsyncResult)check).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(60))) Assert.Fail("the check did not end");
        check.GetAwaiter().GetResult(); // the action's own assertion failure, unwrapped
    }

    [Test]
    public void Malformed_envelopes_are_refused()
    {
        var policy = Policy();
        var garbage = RandomNumberGenerator.GetBytes(4096);
        var deep = Encoding.ASCII.GetBytes(new string('[', 100_000));
        var deepCbor = Enumerable.Repeat((byte)0x81, 100_000).ToArray(); // arrays of arrays of arrays ...
        var huge = new byte[NotationVerifier.MaxEnvelopeBytes + 1];
        foreach (var (bytes, mediaType) in new[]
        {
            (garbage, "application/jose+json"), (garbage, "application/cose"), (deep, "application/jose+json"), (deepCbor, "application/cose"),
            ("{}"u8.ToArray(), "application/jose+json"), ("{\"payload\":\"!!\",\"protected\":\"e30\",\"signature\":\"\",\"header\":{}}"u8.ToArray(), "application/jose+json"),
            ("{\"payload\":\"e30\",\"protected\":\"e30\",\"signature\":\"\",\"header\":{}}"u8.ToArray(), "application/jose+json"),
            (new byte[] { 0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40 }, "application/cose"), (huge, "application/jose+json"),
            (Vector("internal/mock/testdata/ca_valid_sig_env.json"), "application/unsupported+json"),
        })
            Ends(() => Assert.That(Check(bytes, policy, mediaType: mediaType).Check, Is.EqualTo(SignatureCheck.Malformed), $"{mediaType} of {bytes.Length} bytes"));
    }

    [Test]
    public void Chains_that_loop_or_go_100_deep_are_refused()
    {
        var signing = new NotationSigning();
        var dir = Path.Combine(Path.GetTempPath(), "doras-notation-" + Guid.NewGuid().ToString("N"));
        var (policyFile, store) = signing.TrustFiles(dir);
        var verifier = NotationVerifier.Load(policyFile, store);
        var statement = verifier.StatementFor("any/repo")!;

        // Two CAs, each issued by the other: no root, and a chain written as a loop.
        using var keyA = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var keyB = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (nameA, nameB) = (new X500DistinguishedName("CN=A,O=Loop,ST=WA,C=US"), new X500DistinguishedName("CN=B,O=Loop,ST=WA,C=US"));
        X509Certificate2 Ca(X500DistinguishedName subject, ECDsa key, X500DistinguishedName issuer, ECDsa issuerKey)
        {
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            return request.Create(issuer, X509SignatureGenerator.CreateForECDsa(issuerKey), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), RandomNumberGenerator.GetBytes(8));
        }
        var a = Ca(nameA, keyA, nameB, keyB);
        var b = Ca(nameB, keyB, nameA, keyA);
        Ends(() => Assert.That(verifier.Check(signing.Jws(MockTarget, chain: [signing.Leaf, signing.Root, a, b, a, b]), "application/jose+json", MockTarget, statement).Check,
            Is.EqualTo(SignatureCheck.Untrusted)));
        Ends(() => Assert.That(verifier.Check(signing.Jws(MockTarget, chain: [signing.Leaf, a, b]), "application/jose+json", MockTarget, statement).Check,
            Is.EqualTo(SignatureCheck.Untrusted)));
        Ends(() => Assert.That(verifier.Check(signing.Jws(MockTarget, chain: [b, a]), "application/jose+json", MockTarget, statement).Check,
            Is.EqualTo(SignatureCheck.Untrusted), "a CA may not sign"));

        // 100 deep: 99 intermediates under the root, written in order.
        var chain = new List<X509Certificate2>();
        var (issuer, issuerKey) = (signing.Root, signing.RootKey);
        var keys = new List<ECDsa>();
        for (var i = 0; i < 99; i++)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            keys.Add(key);
            var request = new CertificateRequest($"CN=Intermediate {i},O=Deep,ST=WA,C=US", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            var cert = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), RandomNumberGenerator.GetBytes(8));
            chain.Insert(0, cert);
            (issuer, issuerKey) = (cert, key);
        }
        chain.Add(signing.Root);
        var deep = signing.Jws(MockTarget, chain: [signing.Leaf, .. chain]);
        Ends(() => Assert.That(verifier.Check(deep, "application/jose+json", MockTarget, statement),
            Is.EqualTo(new NotationFinding(SignatureCheck.Malformed, "the certificate chain is longer than 10"))));
        foreach (var key in keys) key.Dispose();
    }

    [Test]
    public async Task Notation_signatures_are_found_as_referrers_and_any_valid_one_suffices()
    {
        var signing = new NotationSigning();
        var other = new NotationSigning("CN=Other Root,O=Doras,ST=WA,C=US");
        var dir = Path.Combine(Path.GetTempPath(), "doras-notation-" + Guid.NewGuid().ToString("N"));
        var (policyFile, store) = signing.TrustFiles(dir);
        var trust = PublisherVerification.FromFiles([], policyFile, store);
        var repository = new InMemoryOciStore().Open("fleet/app");
        var layer = await repository.PushBytesAsync(MediaTypes.OctetStream, "v1"u8.ToArray());
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var manifest = await repository.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [layer] }, ["v1"]);

        async Task AttachAsync(byte[] envelope, string mediaType)
        {
            var envelopeLayer = await repository.PushBytesAsync(mediaType, envelope);
            await repository.PushManifestAsync(new ImageManifest
            {
                ArtifactType = NotationVerifier.ArtifactType, Config = Descriptor.EmptyJson, Layers = [envelopeLayer], Subject = manifest,
            }, []);
        }
        Task Verify() => trust.VerifyAsync(repository, "fleet/app:v1", manifest, null);

        Assert.That(Verify, Throws.TypeOf<SignatureRefusedException>().With.Property(nameof(SignatureRefusedException.Reason)).EqualTo(RefusalReason.NoSignature)
            .And.Message.EndWith("no cosign signature (tag form or sigstore bundle) nor Notation signature was found for it or its index"));
        await AttachAsync(other.Jws(manifest), "application/jose+json");
        Assert.That(Verify, Throws.TypeOf<SignatureRefusedException>().With.Property(nameof(SignatureRefusedException.Reason)).EqualTo(RefusalReason.UntrustedKey)
            .And.Message.EndWith("1 signature(s) found; none verifies with a trusted key (Notation: the signature's certificate chain does not contain any trusted certificate)"));
        await AttachAsync(signing.Jws(manifest, expiry: "2020-01-01T00:00:00Z"), "application/jose+json");
        Assert.That(Verify, Throws.TypeOf<SignatureRefusedException>().With.Property(nameof(SignatureRefusedException.Reason)).EqualTo(RefusalReason.Expired)
            .And.Message.EndWith("2 signature(s) found; a trusted signature has expired (Notation: digital signature has expired on 2020-01-01T00:00:00Z)"));
        await AttachAsync(signing.Cose(manifest), "application/cose");
        await Verify();
    }
}

/// <summary>A device enforces who signed, whatever a shared trust policy's level says.</summary>
public class NotationDeviceRuleTests
{
    [Test]
    public async Task A_skip_statement_admits_nothing_on_a_device()
    {
        var dir = new TempDirectory();
        using var _ = dir;
        dir.Write("x509/ca/unused/.keep", []);
        var policy = dir.Write("policy.json", """{"version":"1.0","trustPolicies":[{"name":"lenient","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}"""u8.ToArray());
        var trust = PublisherVerification.FromFiles([], policy, dir["x509/.."]);
        var repository = new InMemoryOciStore().Open("fleet/app");
        var layer = await repository.PushBytesAsync(MediaTypes.OctetStream, "v1"u8.ToArray());
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var manifest = await repository.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [layer] }, ["v1"]);
        Assert.That(() => trust.VerifyAsync(repository, "fleet/app:v1", manifest, null), Throws.TypeOf<SignatureRefusedException>()
            .With.Property(nameof(SignatureRefusedException.Reason)).EqualTo(RefusalReason.UntrustedKey)
            .And.Message.EndWith("trust policy statement \"lenient\" skips verification for fleet/app, and a device installs only verified versions"));
    }
}
