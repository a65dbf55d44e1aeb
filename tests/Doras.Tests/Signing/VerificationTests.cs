using System.Text;
using System.Text.Json;
using Doras.Oci.Content;
using Doras.Oci.Memory;
using Doras.Oci.Model;
using Doras.Signing;
using Doras.Signing.Cosign;
using Doras.Signing.Keys;

namespace Doras.Tests.Signing;

/// <summary>
/// What the device's check accepts and refuses: cosign's tag form and sigstore bundles (DSSE and message signature)
/// attached as referrers, signatures of an index, and hostile signature material, each refused in bounded time with
/// its reason.
/// </summary>
public class VerificationTests
{
    private static readonly ECDsaKeys A = new(), B = new();

    private sealed class ECDsaKeys
    {
        public SigningKey Private { get; } = SigningKey.FromPem(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256).ExportPkcs8PrivateKeyPem());
        public PublisherVerification Trust => new() { Keys = [Private.PublicKey] };
    }

    private static async Task<(InMemoryOciRepository Repository, Descriptor Manifest)> VersionAsync(string content = "v1")
    {
        var repository = new InMemoryOciStore().Open("fleet/app");
        var layer = await repository.PushBytesAsync(MediaTypes.OctetStream, Encoding.UTF8.GetBytes(content));
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        var manifest = await repository.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [layer] }, ["v1"]);
        return (repository, manifest);
    }

    private static Task VerifyAsync(PublisherVerification trust, IReadOnlyOciRepository repository, Descriptor manifest, Descriptor? index = null) =>
        trust.VerifyAsync(repository, "fleet/app:v1", manifest, index);

    private static NUnit.Framework.Constraints.IResolveConstraint Refused(RefusalReason reason, string detail) =>
        Throws.TypeOf<SignatureRefusedException>().With.Property(nameof(SignatureRefusedException.Reason)).EqualTo(reason).And.Message.EndWith(detail);

    [Test]
    public async Task The_tag_form_written_by_sign_verifies_and_another_key_does_not()
    {
        var (repository, manifest) = await VersionAsync();
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.NoSignature, "no cosign signature (tag form or sigstore bundle) was found for it or its index"));
        await CosignSigner.SignAsync(repository, manifest, "fleet/app", B.Private);
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.UntrustedKey, "1 signature(s) found; none verifies with a trusted key"));
        await CosignSigner.SignAsync(repository, manifest, "fleet/app", A.Private);
        await VerifyAsync(A.Trust, repository, manifest);
        await VerifyAsync(B.Trust, repository, manifest); // both signatures are kept
    }

    [Test]
    public async Task A_signature_of_the_index_covers_the_platform_manifest_selected_from_it()
    {
        var (repository, manifest) = await VersionAsync();
        var index = await repository.PushIndexAsync(new ImageIndex { Manifests = [manifest with { Platform = new Platform { Os = "linux", Architecture = "arm64" } }] }, ["multi"]);
        await CosignSigner.SignAsync(repository, index, "fleet/app", A.Private);
        await VerifyAsync(A.Trust, repository, manifest, index);
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Throws.TypeOf<SignatureRefusedException>(), "without the index, the manifest itself is unsigned");
    }

    /// <summary>A sigstore bundle v0.3 with a DSSE envelope of an in-toto statement, attached as cosign 3 attaches it.</summary>
    private static async Task AttachBundleAsync(InMemoryOciRepository repository, Descriptor subject, byte[] bundle)
    {
        var layer = await repository.PushBytesAsync(SigstoreBundle.MediaType, bundle);
        await repository.PushManifestAsync(new ImageManifest
        {
            ArtifactType = SigstoreBundle.MediaType, Config = Descriptor.EmptyJson, Layers = [layer], Subject = subject,
        }, []);
    }

    private static byte[] DsseBundle(SigningKey key, string subjectDigest, string predicateType = SigstoreBundle.SignPredicateType)
    {
        var (algorithm, hex) = (subjectDigest.Split(':')[0], subjectDigest.Split(':')[1]);
        var statement = Encoding.UTF8.GetBytes($$$"""{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"{{{algorithm}}}":"{{{hex}}}"}}],"predicateType":"{{{predicateType}}}","predicate":{}}""");
        var sig = key.Sign(Dsse.PreAuthenticationEncoding(SigstoreBundle.InTotoPayloadType, statement));
        return Encoding.UTF8.GetBytes($$$"""{"mediaType":"{{{SigstoreBundle.MediaType}}}","verificationMaterial":{"publicKey":{"hint":""}},"dsseEnvelope":{"payload":"{{{Convert.ToBase64String(statement)}}}","payloadType":"{{{SigstoreBundle.InTotoPayloadType}}}","signatures":[{"sig":"{{{Convert.ToBase64String(sig)}}}","keyid":""}]}}""");
    }

    [Test]
    public async Task A_sigstore_bundle_with_a_dsse_statement_verifies_only_for_its_subject_and_only_as_a_signature()
    {
        var (repository, manifest) = await VersionAsync();
        await AttachBundleAsync(repository, manifest, DsseBundle(B.Private, manifest.Digest.ToString()));
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.UntrustedKey, "none verifies with a trusted key"));
        await AttachBundleAsync(repository, manifest, DsseBundle(A.Private, "sha256:" + new string('0', 64)));
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.OtherDigest, $"a trusted key signed another version, not {manifest.Digest}"));
        await AttachBundleAsync(repository, manifest, DsseBundle(A.Private, manifest.Digest.ToString(), "https://slsa.dev/provenance/v1"));
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.OtherDigest, "3 signature(s) found; a trusted key signed another version, not " + manifest.Digest),
            "an attestation by the trusted key is not a signature of the version");
        await AttachBundleAsync(repository, manifest, DsseBundle(A.Private, manifest.Digest.ToString()));
        await VerifyAsync(A.Trust, repository, manifest);
    }

    [Test]
    public async Task A_sigstore_bundle_with_a_message_signature_verifies_over_the_manifest_bytes()
    {
        var (repository, manifest) = await VersionAsync();
        var bytes = await repository.FetchBytesAsync(manifest);
        string Bundle(byte[] digest) => $$$"""{"mediaType":"{{{SigstoreBundle.MediaType}}}","verificationMaterial":{"publicKey":{"hint":""}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"{{{Convert.ToBase64String(digest)}}}"},"signature":"{{{Convert.ToBase64String(A.Private.Sign(bytes))}}}"}}""";
        await AttachBundleAsync(repository, manifest, Encoding.UTF8.GetBytes(Bundle(new byte[32])));
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.Malformed, "none can be read as a signature"), "a digest that contradicts the signed bytes");
        await AttachBundleAsync(repository, manifest, Encoding.UTF8.GetBytes(Bundle(System.Security.Cryptography.SHA256.HashData(bytes))));
        await VerifyAsync(A.Trust, repository, manifest);
    }

    // cosign's known-answer DSSE envelope and key (cmd/cosign/cli/verify/verify_blob_attestation_test.go): an in-toto
    // statement about the blob "some-payload", signed with ECDSA P-256.
    private const string CosignPublicKey = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESF79b1ToAtoakhBOHEU5UjnEiihV
        gZPFIp557+TOoDxf14FODWc+sIPETk0OgCplAk60doVXbCv33IU4rXZHrg==
        -----END PUBLIC KEY-----
        """;
    private const string CosignEnvelope = "eyJwYXlsb2FkVHlwZSI6ImFwcGxpY2F0aW9uL3ZuZC5pbi10b3RvK2pzb24iLCJwYXlsb2FkIjoiZXlKZmRIbHdaU0k2SW1oMGRIQnpPaTh2YVc0dGRHOTBieTVwYnk5VGRHRjBaVzFsYm5RdmRqQXVNU0lzSW5CeVpXUnBZMkYwWlZSNWNHVWlPaUpvZEhSd2N6b3ZMM05zYzJFdVpHVjJMM0J5YjNabGJtRnVZMlV2ZGpBdU1pSXNJbk4xWW1wbFkzUWlPbHQ3SW01aGJXVWlPaUppYkc5aUlpd2laR2xuWlhOMElqcDdJbk5vWVRJMU5pSTZJalkxT0RjNE1XTmtOR1ZrT1dKallUWXdaR0ZqWkRBNVpqZGlZamt4TkdKaU5URTFNREpsT0dJMVpEWXhPV1kxTjJZek9XRXhaRFkxTWpVNU5tTmpNalFpZlgxZExDSndjbVZrYVdOaGRHVWlPbnNpWW5WcGJHUmxjaUk2ZXlKcFpDSTZJaklpZlN3aVluVnBiR1JVZVhCbElqb2llQ0lzSW1sdWRtOWpZWFJwYjI0aU9uc2lZMjl1Wm1sblUyOTFjbU5sSWpwN2ZYMTlmUT09Iiwic2lnbmF0dXJlcyI6W3sia2V5aWQiOiIiLCJzaWciOiJNRVVDSUE4S2pacWtydDkwZnpCb2pTd3d0ajNCcWI0MUU2cnV4UWs5N1RMbnB6ZFlBaUVBek9Bak9Uenl2VEhxYnBGREFuNnpocmc2RVp2N2t4SzVmYVJvVkdZTWgyYz0ifV19";

    [Test]
    public void Cosigns_own_dsse_envelope_verifies_with_its_key_and_not_once_changed()
    {
        var key = VerificationKey.FromPem(CosignPublicKey);
        using var envelope = JsonDocument.Parse(Convert.FromBase64String(CosignEnvelope));
        var verified = Dsse.VerifiedPayload(envelope.RootElement, [key]);
        Assert.That(verified, Is.Not.Null);
        using var statement = JsonDocument.Parse(verified!.Payload);
        Assert.That(SigstoreBundle.InTotoSubjects(statement.RootElement), Is.EqualTo(new[] { "sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24" }));
        Assert.That(Digest.Compute("some-payload"u8).ToString(), Is.EqualTo("sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24"));

        var changed = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Convert.FromBase64String(CosignEnvelope))!;
        var payload = Convert.FromBase64String(changed["payload"].GetString()!);
        payload[^5] ^= 1;
        var tampered = $$$"""{"payloadType":"application/vnd.in-toto+json","payload":"{{{Convert.ToBase64String(payload)}}}","signatures":{{{changed["signatures"].GetRawText()}}}}""";
        using var tamperedDoc = JsonDocument.Parse(tampered);
        Assert.That(Dsse.VerifiedPayload(tamperedDoc.RootElement, [key]), Is.Null);
        Assert.That(Dsse.VerifiedPayload(envelope.RootElement, [A.Private.PublicKey]), Is.Null, "another key");
    }

    [Test, CancelAfter(20_000)]
    public async Task A_signature_manifest_with_10000_layers_is_refused_unread()
    {
        var (repository, manifest) = await VersionAsync();
        var payload = await repository.PushBytesAsync(SimpleSigning.MediaType, SimpleSigning.Create("fleet/app", manifest.Digest));
        var layer = payload with { Annotations = new Dictionary<string, string> { [CosignTags.SignatureAnnotation] = Convert.ToBase64String(A.Private.Sign(SimpleSigning.Create("fleet/app", manifest.Digest))) } };
        await repository.PushBytesAsync(MediaTypes.ImageConfig, "{}"u8.ToArray());
        await repository.PushManifestAsync(new ImageManifest { Config = Descriptor.FromBytes(MediaTypes.ImageConfig, "{}"u8), Layers = [.. Enumerable.Repeat(layer, 10_000)] },
            [CosignTags.SignatureTag(manifest.Digest)]);
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.Malformed, "1 signature(s) found; none can be read as a signature"));
    }

    [Test, CancelAfter(20_000)]
    public async Task Oversized_payloads_bad_base64_and_garbage_bundles_are_refused_without_reading_them()
    {
        var (repository, manifest) = await VersionAsync();
        var real = await repository.PushBytesAsync(SimpleSigning.MediaType, SimpleSigning.Create("fleet/app", manifest.Digest));
        // A layer claiming 100 MB (never fetched: the descriptor's size alone refuses it), and one whose signature is not base64.
        var huge = real with { Size = 100_000_000, Annotations = new Dictionary<string, string> { [CosignTags.SignatureAnnotation] = "MEUCIQ==" } };
        var badBase64 = real with { Annotations = new Dictionary<string, string> { [CosignTags.SignatureAnnotation] = "***not base64***" } };
        var config = await repository.PushBytesAsync(MediaTypes.ImageConfig, "{}"u8.ToArray());
        await repository.PushManifestAsync(new ImageManifest { Config = config, Layers = [huge, badBase64] }, [CosignTags.SignatureTag(manifest.Digest)]);
        await AttachBundleAsync(repository, manifest, "{\"mediaType\": [[[[[[["u8.ToArray());
        await AttachBundleAsync(repository, manifest, Encoding.UTF8.GetBytes($$$"""{"mediaType":"{{{SigstoreBundle.MediaType}}}","dsseEnvelope":{"payload":"%%%","payloadType":"x","signatures":[]}}"""));
        Assert.That(() => VerifyAsync(A.Trust, repository, manifest), Refused(RefusalReason.Malformed, "4 signature(s) found; none can be read as a signature"));
    }
}

/// <summary>Found by review: one unreadable signature does not hide the others, lists are cut at their bound, the signer says when devices would not read its signature, and refusals stay one line.</summary>
public class VerificationReviewTests
{
    private static readonly SigningKey A = SigningKey.FromPem(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256).ExportPkcs8PrivateKeyPem());

    private static async Task<(InMemoryOciRepository Repository, Descriptor Manifest)> VersionAsync()
    {
        var repository = new InMemoryOciStore().Open("fleet/app");
        var layer = await repository.PushBytesAsync(MediaTypes.OctetStream, "v1"u8.ToArray());
        await repository.PushBytesAsync(MediaTypes.Empty, "{}"u8.ToArray());
        return (repository, await repository.PushManifestAsync(new ImageManifest { Config = Descriptor.EmptyJson, Layers = [layer] }, ["v1"]));
    }

    [Test]
    public async Task A_signature_whose_payload_is_missing_does_not_hide_a_valid_bundle()
    {
        var (repository, manifest) = await VersionAsync();
        // The tag form names a payload blob the registry does not have (a dangling signature).
        var missing = Descriptor.FromBytes(SimpleSigning.MediaType, "never stored"u8) with
            { Annotations = new Dictionary<string, string> { [CosignTags.SignatureAnnotation] = Convert.ToBase64String(A.Sign("x"u8)) } };
        var config = await repository.PushBytesAsync(MediaTypes.ImageConfig, "{}"u8.ToArray());
        await repository.PushManifestAsync(new ImageManifest { Config = config, Layers = [missing] }, [CosignTags.SignatureTag(manifest.Digest)]);
        var statement = Encoding.UTF8.GetBytes($$$"""{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"{{{manifest.Digest.Hex}}}"}}],"predicateType":"{{{SigstoreBundle.SignPredicateType}}}","predicate":{}}""");
        var sig = A.Sign(Dsse.PreAuthenticationEncoding(SigstoreBundle.InTotoPayloadType, statement));
        var bundle = await repository.PushBytesAsync(SigstoreBundle.MediaType, Encoding.UTF8.GetBytes($$$"""{"mediaType":"{{{SigstoreBundle.MediaType}}}","dsseEnvelope":{"payload":"{{{Convert.ToBase64String(statement)}}}","payloadType":"{{{SigstoreBundle.InTotoPayloadType}}}","signatures":[{"sig":"{{{Convert.ToBase64String(sig)}}}"}]}}"""));
        await repository.PushManifestAsync(new ImageManifest { ArtifactType = SigstoreBundle.MediaType, Config = Descriptor.EmptyJson, Layers = [bundle], Subject = manifest }, []);
        await new PublisherVerification { Keys = [A.PublicKey] }.VerifyAsync(repository, "fleet/app:v1", manifest, null);
    }

    [Test]
    public async Task More_than_256_bundles_are_refused_and_the_list_is_cut_at_its_bound()
    {
        var (repository, manifest) = await VersionAsync();
        var junk = await repository.PushBytesAsync(SigstoreBundle.MediaType, "{}"u8.ToArray());
        for (var i = 0; i < 300; i++)
            await repository.PushManifestAsync(new ImageManifest
            {
                ArtifactType = SigstoreBundle.MediaType, Config = Descriptor.EmptyJson, Layers = [junk], Subject = manifest,
                Annotations = new Dictionary<string, string> { ["n"] = i.ToString() },
            }, []);
        Assert.That(await repository.ReferrersAsync(manifest.Digest, SigstoreBundle.MediaType, limit: 256), Has.Count.EqualTo(257));
        Assert.That(() => new PublisherVerification { Keys = [A.PublicKey] }.VerifyAsync(repository, "fleet/app:v1", manifest, null),
            Throws.TypeOf<SignatureRefusedException>().With.Property(nameof(SignatureRefusedException.Reason)).EqualTo(RefusalReason.Malformed));
    }

    [Test]
    public async Task The_signer_refuses_a_257th_signature_devices_would_not_read()
    {
        var (repository, manifest) = await VersionAsync();
        var payload = await repository.PushBytesAsync(SimpleSigning.MediaType, SimpleSigning.Create("fleet/app", manifest.Digest));
        var config = await repository.PushBytesAsync(MediaTypes.ImageConfig, "{}"u8.ToArray());
        await repository.PushManifestAsync(new ImageManifest { Config = config, Layers = [.. Enumerable.Repeat(payload, 256)] }, [CosignTags.SignatureTag(manifest.Digest)]);
        Assert.That(() => CosignSigner.SignAsync(repository, manifest, "fleet/app", A), Throws.TypeOf<InvalidDataException>()
            .With.Message.EqualTo($"fleet/app:{CosignTags.SignatureTag(manifest.Digest)} already holds 256 signatures; devices read at most 256: remove it (doras delete) and sign again"));
    }

    [Test]
    public void A_refusal_quoting_hostile_text_stays_one_line()
    {
        var refusal = new SignatureRefusedException("fleet/app:v1", "sha256:00", RefusalReason.UntrustedKey, "plugin \"evil\nFAKE LOG LINE\u001b[31m\"" + new string('x', 1000));
        Assert.That(refusal.Message, Does.Not.Contain("\n").And.Not.Contain("\u001b"));
        Assert.That(refusal.Message.Length, Is.LessThan(600));
    }
}
