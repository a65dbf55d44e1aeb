using System.Text;
using Doras.Oci.Model;
using Doras.Signing;
using Doras.Signing.Cosign;
using Doras.Signing.Keys;

namespace Doras.Tests.Signing;

/// <summary>
/// Keys as release engineers have them (openssl's PEM files, cosign's encrypted key files) sign what openssl verifies,
/// and verify what openssl signs; bad key files are refused with a clear error in bounded time.
/// </summary>
public class KeyTests
{
    private static readonly byte[] Payload = SimpleSigning.Create("registry.example.org/app", Digest.Compute("version"u8));

    [TestCase("EC", "ec_paramgen_curve:P-256", KeyAlgorithm.EcdsaP256, "-sha256")]
    [TestCase("EC", "ec_paramgen_curve:P-384", KeyAlgorithm.EcdsaP384, "-sha384")]
    [TestCase("RSA", "rsa_keygen_bits:2048", KeyAlgorithm.Rsa, "-sha256")]
    public void A_signature_of_an_openssl_key_verifies_with_openssl(string algorithm, string option, KeyAlgorithm expected, string digest)
    {
        using var dir = new TempDirectory();
        var (privatePath, publicPath) = Keys.Generate(dir, "k", algorithm, option);
        using var key = SigningKey.Load(privatePath);
        Assert.That(key.Algorithm, Is.EqualTo(expected));
        Assert.That(key.PublicKey.ToPem().Trim(), Is.EqualTo(File.ReadAllText(publicPath).Trim()), "the public part is openssl's public key");
        var signature = key.Sign(Payload);
        File.WriteAllBytes(dir["payload"], Payload);
        File.WriteAllBytes(dir["sig"], signature);
        Assert.That(ExternalTool.RunOk("openssl", "dgst", digest, "-verify", publicPath, "-signature", dir["sig"], dir["payload"]), Does.Contain("Verified OK"));
        Assert.That(VerificationKey.Load(publicPath).Verify(Payload, signature), Is.True);
        // One changed byte and it no longer verifies, here or in openssl.
        var changed = (byte[])Payload.Clone();
        changed[^3] ^= 1;
        File.WriteAllBytes(dir["payload"], changed);
        Assert.That(ExternalTool.Run("openssl", "dgst", digest, "-verify", publicPath, "-signature", dir["sig"], dir["payload"]).ExitCode, Is.Not.Zero);
        Assert.That(VerificationKey.Load(publicPath).Verify(changed, signature), Is.False);
    }

    [Test]
    public void Ed25519_keys_sign_prehashed_as_cosign_does_and_verify_openssl_pure_signatures()
    {
        using var dir = new TempDirectory();
        var (privatePath, publicPath) = Keys.Generate(dir, "e", "ED25519", option: null);
        using var key = SigningKey.Load(privatePath);
        Assert.That(key.Algorithm, Is.EqualTo(KeyAlgorithm.Ed25519));
        var publicKey = VerificationKey.Load(publicPath);
        Assert.That(publicKey.Verify(Payload, key.Sign(Payload)), Is.True);
        File.WriteAllBytes(dir["payload"], Payload);
        ExternalTool.RunOk("openssl", "pkeyutl", "-sign", "-rawin", "-inkey", privatePath, "-in", dir["payload"], "-out", dir["sig"]);
        Assert.That(publicKey.Verify(Payload, File.ReadAllBytes(dir["sig"])), Is.True, "openssl's pure Ed25519 signature");
        Assert.That(publicKey.Verify(Payload.AsSpan(1), File.ReadAllBytes(dir["sig"])), Is.False);
    }

    [Test]
    public void The_payload_is_byte_for_byte_cosigns()
    {
        // cosign's own expected payload (pkg/cosign's payload test): the same keys, order and "optional": null.
        var payload = SimpleSigning.Create("index.docker.io/namespace/image", Digest.Parse("sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"));
        Assert.That(Encoding.UTF8.GetString(payload), Is.EqualTo(
            """{"critical":{"identity":{"docker-reference":"index.docker.io/namespace/image"},"image":{"docker-manifest-digest":"sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"},"type":"cosign container image signature"},"optional":null}"""));
        Assert.That(SimpleSigning.SignedDigest(payload), Is.EqualTo("sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"));
    }

    // cosign's known-answer key files (pkg/cosign/keys_test.go), encrypted with the password "hello".
    private const string SigstoreKey = """
        -----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
        eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
        OCwicCI6MX0sInNhbHQiOiI3T3VGd2VsbWZZNXVId2NoaURSc210anNwZ2ZlZjFG
        Mk5lOGFDTjVLYVpZPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
        Iiwibm9uY2UiOiJQNHk4OGhCb3ZTa09MbXN0bFVBaGJwdDJ0K2xTNUxQSCJ9LCJj
        aXBoZXJ0ZXh0IjoiMnB1QzdyZldJOWh3bnJlQ2s4aUZDRlVwQlRrSzRJNlIvbFBF
        cnBDekpXUGpJWXl4eGVIL1A2VW52cFJHdVhla1NNb3JMdGhLamdoQ1JlNy82NDVH
        QWtoVm1LRC92eEF0S2EvbE1abENSQ3FlekJGUFd1dzNpeFRtZ2xhb2J1ZFVSbUVs
        bmNGOGlZbzBTMVl6Y1ZOMVFwY2J2c0dNcUlYRzVlbmdteGp5dCtBcXlyZTF0Q0Y0
        V01tU1BlaEljNlBqd2h1Q2xHaVpJUWRvTGc9PSJ9
        -----END ENCRYPTED SIGSTORE PRIVATE KEY-----
        """;

    // Labelled "RSA" in cosign's test, yet an ECDSA P-256 key: the label is the file's, the key decides.
    private const string CosignLabelledKey = """
        -----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
        eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
        OCwicCI6MX0sInNhbHQiOiJ4WWdoc09JTUxUWGNOT0RsclNIOUNKc1FlOVFnZmN1
        cmUrMXlLdHh1TlkwPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
        Iiwibm9uY2UiOiI0cS9PSlVmaXJkSUkrUjZ0ajZBMmcyQ0JqL25xdFNicCJ9LCJj
        aXBoZXJ0ZXh0IjoiKzB4Q3NzcFN0WStBczdKanJpOWtsbHBWd2JhcUI4ZWJNdWto
        eS9aVE1MSXRsL3B1YS9jWVJvbytLRGxMWWdmOW1kSjk4K1FnQW9oTktoYnJPMTcw
        MHdBY1JTMjFDOE4zQUNJRUVZaWpOMllBNnMraGJSbkhjUnd4eGhDMDFtb2FvL0dO
        Y1pmbEJheXZMV3pXblo4d2NDZ2ZpT1o1VXlRTEFJMHh0dnR6dEh3cTdDV1Vhd3V4
        RlhlNDZzck9TUE9SNHN6bytabWErUGovSFE9PSJ9
        -----END ENCRYPTED COSIGN PRIVATE KEY-----
        """;

    [Test]
    public void Cosign_encrypted_key_files_open_with_their_password_and_sign()
    {
        using var sigstore = SigningKey.FromPem(SigstoreKey, "cosign.key", () => "hello");
        Assert.That(sigstore.PublicKey.Verify(Payload, sigstore.Sign(Payload)), Is.True);
        Assert.That(sigstore.Algorithm, Is.EqualTo(KeyAlgorithm.EcdsaP256));
        using var older = SigningKey.FromPem(CosignLabelledKey, "cosign-older.key", () => "hello");
        Assert.That(older.Algorithm, Is.EqualTo(KeyAlgorithm.EcdsaP256));
        Assert.That(older.PublicKey.Verify(Payload, older.Sign(Payload)), Is.True);
        Assert.That(older.PublicKey.Verify(Payload, sigstore.Sign(Payload)), Is.False, "two different keys");
    }

    [Test]
    public void A_wrong_or_missing_password_is_said_so()
    {
        Assert.That(() => SigningKey.FromPem(SigstoreKey, "cosign.key", () => "wrong"),
            Throws.TypeOf<KeyFileException>().With.Message.EqualTo("cosign.key: wrong password (or a damaged key file)"));
        Assert.That(() => SigningKey.FromPem(SigstoreKey, "cosign.key", () => null),
            Throws.TypeOf<KeyFileException>().With.Message.EqualTo("cosign.key is encrypted: give its password in COSIGN_PASSWORD"));
    }

    [Test, CancelAfter(10_000)]
    public void A_key_file_asking_scrypt_for_gigabytes_is_refused_before_any_work()
    {
        var json = """{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}""";
        var pem = System.Security.Cryptography.PemEncoding.WriteString("ENCRYPTED SIGSTORE PRIVATE KEY", Encoding.UTF8.GetBytes(json));
        Assert.That(() => SigningKey.FromPem(pem, "hostile.key", () => "x"),
            Throws.TypeOf<KeyFileException>().With.Message.EqualTo("hostile.key: scrypt parameters N=1073741824, r=8, p=1 are outside what cosign writes (at most 128 MiB)"));
    }

    [TestCase("not a key at all", "k.pem is not a PEM key (no valid -----BEGIN …----- block)")]
    [TestCase("-----BEGIN PUBLIC KEY-----\n!!!notbase64!!!\n-----END PUBLIC KEY-----\n", "k.pem is not a PEM key (no valid -----BEGIN …----- block)")]
    [TestCase("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "k.pem is not a valid public key")]
    [TestCase("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "k.pem holds a 'CERTIFICATE', not a 'PUBLIC KEY' (give the publisher's public key)")]
    public void Malformed_public_keys_are_refused_with_what_is_wrong(string pem, string message)
    {
        Assert.That(() => VerificationKey.FromPem(pem, "k.pem"), Throws.TypeOf<KeyFileException>().With.Message.StartsWith(message));
    }

    [Test]
    public void A_public_key_given_to_sign_and_a_huge_file_are_refused()
    {
        using var dir = new TempDirectory();
        var (_, publicPath) = Keys.Generate(dir, "k");
        Assert.That(() => SigningKey.Load(publicPath), Throws.TypeOf<KeyFileException>().With.Message.EqualTo($"{publicPath} is a public key: signing needs the private key"));
        var huge = dir.Write("huge.pem", new byte[100_000]);
        Assert.That(() => VerificationKey.Load(huge), Throws.TypeOf<KeyFileException>().With.Message.EqualTo($"{huge} is 100000 bytes: no key file is over 65536"));
    }

    [Test]
    public void Refusals_have_their_own_exit_codes()
    {
        Assert.That(Cli.ExitCodes.For(new SignatureRefusedException("r", "d", RefusalReason.NoSignature, "x")), Is.EqualTo(11));
        Assert.That(Cli.ExitCodes.For(new KeyFileException("x")), Is.EqualTo(2));
    }
}
