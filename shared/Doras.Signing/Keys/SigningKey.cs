using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace Doras.Signing.Keys;

/// <summary>
/// A publisher's private key: PEM PKCS#8 ("PRIVATE KEY": ECDSA P-256/P-384/P-521, RSA, Ed25519), SEC1 ("EC PRIVATE
/// KEY"), PKCS#1 ("RSA PRIVATE KEY"), or cosign's password-encrypted key file ("ENCRYPTED SIGSTORE PRIVATE KEY" or
/// "ENCRYPTED COSIGN PRIVATE KEY"). Signs as cosign does with the same key, so cosign verifies what it signs.
/// </summary>
public sealed class SigningKey : IDisposable
{
    private readonly AsymmetricAlgorithm? _dotnet;
    private readonly Ed25519PrivateKeyParameters? _ed25519;

    private SigningKey(KeyAlgorithm algorithm, AsymmetricAlgorithm? dotnet, Ed25519PrivateKeyParameters? ed25519, byte[] spki, string name)
    {
        Algorithm = algorithm;
        _dotnet = dotnet;
        _ed25519 = ed25519;
        PublicKey = VerificationKey.FromSubjectPublicKeyInfo(spki, name + " (public part)");
    }

    public KeyAlgorithm Algorithm { get; }

    public VerificationKey PublicKey { get; }

    /// <param name="password">Asked only for an encrypted key file (e.g. from COSIGN_PASSWORD).</param>
    public static SigningKey Load(string path, Func<string?>? password = null) => FromPem(KeyText.Read(path), path, password);

    public static SigningKey FromPem(string pem, string name = "the key", Func<string?>? password = null)
    {
        var (label, der) = KeyText.Pem(pem, name);
        return label switch
        {
            "PRIVATE KEY" => FromPkcs8(der, name),
            "EC PRIVATE KEY" => FromSec1(der, name),
            "RSA PRIVATE KEY" => Guarded(name, () =>
            {
                var rsa = RSA.Create();
                rsa.ImportRSAPrivateKey(der, out _);
                return Rsa(rsa, name);
            }),
            CosignKeyFile.SigstoreLabel or CosignKeyFile.CosignLabel => FromDecrypted(CosignKeyFile.Decrypt(der, name, password), name),
            "ENCRYPTED PRIVATE KEY" => throw new KeyFileException(
                $"{name} is an encrypted PKCS#8 key: decrypt it (openssl pkey -in KEY -out PLAIN) or import it into a cosign key file (cosign import-key-pair)"),
            "PUBLIC KEY" => throw new KeyFileException($"{name} is a public key: signing needs the private key"),
            _ => throw new KeyFileException($"{name} holds a '{label}', not a private key"),
        };
    }

    /// <summary>cosign's key files hold PKCS#8 (older ones, SEC1 for EC: accepted too).</summary>
    private static SigningKey FromDecrypted(byte[] der, string name)
    {
        try { return FromPkcs8(der, name); }
        catch (KeyFileException) { return FromSec1(der, name); }
    }

    private static SigningKey FromPkcs8(byte[] der, string name) => Guarded(name, () =>
    {
        switch (KeyOids.AlgorithmOf(der, privateKey: true, name))
        {
            case KeyOids.EcPublicKey:
                var ecdsa = ECDsa.Create();
                ecdsa.ImportPkcs8PrivateKey(der, out _);
                return Ecdsa(ecdsa, name);
            case KeyOids.Rsa:
                var rsa = RSA.Create();
                rsa.ImportPkcs8PrivateKey(der, out _);
                return Rsa(rsa, name);
            case KeyOids.Ed25519:
                var ed = (Ed25519PrivateKeyParameters)Org.BouncyCastle.Security.PrivateKeyFactory.CreateKey(der);
                var spki = Org.BouncyCastle.X509.SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(ed.GeneratePublicKey()).GetDerEncoded();
                return new SigningKey(KeyAlgorithm.Ed25519, null, ed, spki, name);
            case var oid:
                throw new KeyFileException($"{name}: keys of algorithm {oid} are not supported (ECDSA, RSA or Ed25519)");
        }
    });

    private static SigningKey FromSec1(byte[] der, string name) => Guarded(name, () =>
    {
        var ecdsa = ECDsa.Create();
        ecdsa.ImportECPrivateKey(der, out _);
        return Ecdsa(ecdsa, name);
    });

    private static SigningKey Ecdsa(ECDsa ecdsa, string name) => new(KeyOids.Of(ecdsa), ecdsa, null, ecdsa.ExportSubjectPublicKeyInfo(), name);

    private static SigningKey Rsa(RSA rsa, string name)
    {
        KeyOids.CheckRsa(rsa);
        return new SigningKey(KeyAlgorithm.Rsa, rsa, null, rsa.ExportSubjectPublicKeyInfo(), name);
    }

    private static SigningKey Guarded(string name, Func<SigningKey> load)
    {
        try { return load(); }
        catch (Exception e) when (e is CryptographicException or ArgumentException or InvalidCastException or Org.BouncyCastle.Asn1.Asn1Exception)
        {
            throw new KeyFileException($"{name} is not a valid private key ({e.Message})", e);
        }
    }

    /// <summary>
    /// The signature of <paramref name="message"/> as cosign makes it with this key: ECDSA in ASN.1 DER with the
    /// curve's hash, RSA PKCS#1 v1.5 with SHA-256, Ed25519 prehashed (Ed25519ph, cosign's default for key files).
    /// </summary>
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        switch (_dotnet)
        {
            case ECDsa ecdsa: return ecdsa.SignData(message, KeyOids.HashOf(Algorithm), DSASignatureFormat.Rfc3279DerSequence);
            case RSA rsa: return rsa.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        var signer = new Ed25519phSigner([]);
        signer.Init(true, _ed25519);
        signer.BlockUpdate(message);
        return signer.GenerateSignature();
    }

    public void Dispose() => _dotnet?.Dispose();
}
