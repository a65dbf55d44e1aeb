using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace Doras.Signing.Keys;

/// <summary>
/// A publisher's public key (PEM "PUBLIC KEY", X.509 SubjectPublicKeyInfo, as `cosign generate-key-pair` and
/// `openssl pkey -pubout` write it): checks signatures made with the matching <see cref="SigningKey"/> or by cosign.
/// </summary>
public sealed class VerificationKey
{
    private readonly byte[] _spki;
    private readonly Ed25519PublicKeyParameters? _ed25519;

    private VerificationKey(byte[] spki, KeyAlgorithm algorithm, Ed25519PublicKeyParameters? ed25519, string name)
    {
        _spki = spki;
        Algorithm = algorithm;
        _ed25519 = ed25519;
        Name = name;
        Id = Convert.ToHexStringLower(SHA256.HashData(spki))[..16];
    }

    public KeyAlgorithm Algorithm { get; }

    /// <summary>Where the key came from (its file), for messages.</summary>
    public string Name { get; }

    /// <summary>A short fingerprint: the first 16 hex digits of the SHA-256 of its SubjectPublicKeyInfo.</summary>
    public string Id { get; }

    public static VerificationKey Load(string path) => FromPem(KeyText.Read(path), path);

    public static VerificationKey FromPem(string pem, string name = "the public key")
    {
        var (label, der) = KeyText.Pem(pem, name);
        if (label != "PUBLIC KEY")
            throw new KeyFileException($"{name} holds a '{label}', not a 'PUBLIC KEY' (give the publisher's public key)");
        return FromSubjectPublicKeyInfo(der, name);
    }

    public static VerificationKey FromSubjectPublicKeyInfo(byte[] spki, string name)
    {
        try
        {
            switch (KeyOids.AlgorithmOf(spki, privateKey: false, name))
            {
                case KeyOids.EcPublicKey:
                    using (var ecdsa = ECDsa.Create())
                    {
                        ecdsa.ImportSubjectPublicKeyInfo(spki, out _);
                        return new VerificationKey(spki, KeyOids.Of(ecdsa), null, name);
                    }
                case KeyOids.Rsa:
                    using (var rsa = RSA.Create())
                    {
                        rsa.ImportSubjectPublicKeyInfo(spki, out _);
                        KeyOids.CheckRsa(rsa);
                        return new VerificationKey(spki, KeyAlgorithm.Rsa, null, name);
                    }
                case KeyOids.Ed25519:
                    var key = (Ed25519PublicKeyParameters)Org.BouncyCastle.Security.PublicKeyFactory.CreateKey(spki);
                    return new VerificationKey(spki, KeyAlgorithm.Ed25519, key, name);
                case var oid:
                    throw new KeyFileException($"{name}: keys of algorithm {oid} are not supported (ECDSA, RSA or Ed25519)");
            }
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or InvalidCastException)
        {
            throw new KeyFileException($"{name} is not a valid public key ({e.Message})", e);
        }
    }

    /// <summary>
    /// True when <paramref name="signature"/> is this key's signature of <paramref name="message"/>. ECDSA signatures
    /// are ASN.1 DER (as cosign writes them); Ed25519 is accepted pure or prehashed (cosign's key files sign prehashed).
    /// </summary>
    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        try
        {
            switch (Algorithm)
            {
                case KeyAlgorithm.Rsa:
                    using (var rsa = RSA.Create())
                    {
                        rsa.ImportSubjectPublicKeyInfo(_spki, out _);
                        return rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                    }
                case KeyAlgorithm.Ed25519:
                    return VerifyEd25519(new Ed25519Signer(), message, signature) || VerifyEd25519(new Ed25519phSigner([]), message, signature);
                default:
                    using (var ecdsa = ECDsa.Create())
                    {
                        ecdsa.ImportSubjectPublicKeyInfo(_spki, out _);
                        return ecdsa.VerifyData(message, signature, KeyOids.HashOf(Algorithm), DSASignatureFormat.Rfc3279DerSequence);
                    }
            }
        }
        catch (CryptographicException)
        {
            return false; // a signature that is not even well-formed does not verify
        }
    }

    private bool VerifyEd25519(Org.BouncyCastle.Crypto.ISigner signer, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        signer.Init(false, _ed25519);
        signer.BlockUpdate(message);
        return signer.VerifySignature(signature.ToArray());
    }

    /// <summary>The key in PEM, as it would be given to --verify-key.</summary>
    public string ToPem() => PemEncoding.WriteString("PUBLIC KEY", _spki);
}
