using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace Doras.Signing.Notation;

/// <summary>
/// Notation's trust store directory: <c>DIR/x509/TYPE/NAME/</c> holding certificate files (PEM, one or more
/// certificates, or DER), TYPE being <c>ca</c>, <c>signingAuthority</c> or <c>tsa</c>. Read bounded: at most
/// <see cref="MaxFiles"/> files of at most <see cref="MaxFileBytes"/> each per store; symbolic links, subdirectories
/// and files that are no certificates are refused, as Notation refuses them.
/// </summary>
public sealed partial class TrustStore
{
    public const int MaxFiles = 64;
    public const int MaxFileBytes = 256 << 10;
    public const int MaxCertificatesPerFile = 32;

    private readonly string _root;
    private readonly Dictionary<TrustStoreName, IReadOnlyList<X509Certificate2>> _loaded = [];

    public TrustStore(string directory)
    {
        if (!Directory.Exists(directory)) throw new TrustPolicyException($"trust store directory {directory}: no such directory");
        _root = directory;
    }

    [GeneratedRegex("^[a-zA-Z0-9_.-]+$")]
    private static partial Regex NamePattern();

    public static bool IsValidName(string name) => name.Length is > 0 and <= 255 && name is not ("." or "..") && NamePattern().IsMatch(name);

    /// <summary>The certificates of one named store; a usage error when the store is missing, empty or holds anything else.</summary>
    public IReadOnlyList<X509Certificate2> Certificates(TrustStoreName store)
    {
        lock (_loaded)
        {
            if (_loaded.TryGetValue(store, out var known)) return known;
            return _loaded[store] = Read(store);
        }
    }

    private List<X509Certificate2> Read(TrustStoreName store)
    {
        if (!IsValidName(store.Name)) throw new TrustPolicyException($"trust store name \"{store.Name}\" is not valid");
        var path = Path.Combine(_root, "x509", store.Type, store.Name);
        var info = new DirectoryInfo(path);
        if (!info.Exists) throw new TrustPolicyException($"the trust store \"{store.Name}\" of type \"{store.Type}\" does not exist ({path})");
        if (info.LinkTarget is not null) throw new TrustPolicyException($"the trust store \"{store.Name}\" of type \"{store.Type}\" is a symbolic link ({path})");
        var certificates = new List<X509Certificate2>();
        var files = 0;
        foreach (var entry in info.EnumerateFileSystemInfos())
        {
            if (++files > MaxFiles) throw new TrustPolicyException($"the trust store \"{store}\" holds more than {MaxFiles} files ({path})");
            if (entry is DirectoryInfo) throw new TrustPolicyException($"the trust store \"{store}\" holds a directory {entry.Name}: it may hold certificate files only ({path})");
            if (entry.LinkTarget is not null) throw new TrustPolicyException($"the trust store \"{store}\" holds a symbolic link {entry.Name}: it may hold certificate files only ({path})");
            var file = (FileInfo)entry;
            if (file.Length > MaxFileBytes) throw new TrustPolicyException($"the trust store \"{store}\" file {entry.Name} is larger than {MaxFileBytes} bytes");
            certificates.AddRange(Parse(File.ReadAllBytes(file.FullName), $"the trust store \"{store}\" file {entry.Name}"));
        }
        if (certificates.Count == 0) throw new TrustPolicyException($"the trust store \"{store}\" holds no certificates ({path})");
        return certificates;
    }

    private static List<X509Certificate2> Parse(byte[] bytes, string what)
    {
        var result = new List<X509Certificate2>();
        try
        {
            var text = System.Text.Encoding.ASCII.GetString(bytes);
            if (text.Contains("-----BEGIN", StringComparison.Ordinal))
            {
                foreach (var (label, der) in PemBlocks(text))
                {
                    if (label != "CERTIFICATE") throw new TrustPolicyException($"{what} holds a PEM {label}, not a certificate");
                    if (result.Count >= MaxCertificatesPerFile) throw new TrustPolicyException($"{what} holds more than {MaxCertificatesPerFile} certificates");
                    result.Add(X509CertificateLoader.LoadCertificate(der));
                }
            }
            else result.Add(X509CertificateLoader.LoadCertificate(bytes));
        }
        catch (CryptographicException e) { throw new TrustPolicyException($"{what} is not an X.509 certificate ({e.Message})", e); }
        catch (FormatException e) { throw new TrustPolicyException($"{what} is not an X.509 certificate ({e.Message})", e); }
        if (result.Count == 0) throw new TrustPolicyException($"{what} holds no certificate");
        foreach (var certificate in result)
        {
            bool usable;
            // Extensions decode lazily: a damaged one is the file's fault, said as such, not an exception out of start-up.
            try { usable = certificate.Extensions[Oids.BasicConstraints] is X509BasicConstraintsExtension { CertificateAuthority: true } || SelfSigned(certificate); }
            catch (Exception e) when (e is CryptographicException or FormatException or System.Formats.Asn1.AsnContentException)
            {
                throw new TrustPolicyException($"{what}: certificate with subject \"{certificate.Subject}\" cannot be decoded ({e.Message})", e);
            }
            if (!usable)
                throw new TrustPolicyException($"{what}: certificate with subject \"{certificate.Subject}\" is not a CA certificate or self-signed signing certificate");
        }
        return result;
    }

    private static bool SelfSigned(X509Certificate2 certificate) => CertificateChain.SignedBy(certificate, certificate);

    private static IEnumerable<(string Label, byte[] Der)> PemBlocks(string text)
    {
        var rest = text.AsMemory();
        while (PemEncoding.TryFind(rest.Span, out var fields))
        {
            var label = rest.Span[fields.Label].ToString();
            var der = Convert.FromBase64String(rest.Span[fields.Base64Data].ToString());
            rest = rest[fields.Location.End..];
            yield return (label, der);
        }
    }
}

internal static class Oids
{
    public const string BasicConstraints = "2.5.29.19";
    public const string KeyUsage = "2.5.29.15";
    public const string ExtendedKeyUsage = "2.5.29.37";
    public const string SubjectKeyIdentifier = "2.5.29.14";
    public const string AuthorityKeyIdentifier = "2.5.29.35";
    public const string SubjectAltName = "2.5.29.17";
    public const string NameConstraints = "2.5.29.30";
    public const string CertificatePolicies = "2.5.29.32";
    public const string PolicyConstraints = "2.5.29.36";
    public const string CodeSigning = "1.3.6.1.5.5.7.3.3";
    public const string AnyExtendedKeyUsage = "2.5.29.37.0";

    public const string RsaEncryption = "1.2.840.113549.1.1.1";
    public const string RsaPss = "1.2.840.113549.1.1.10";
    public const string Mgf1 = "1.2.840.113549.1.1.8";
    public const string Sha256WithRsa = "1.2.840.113549.1.1.11";
    public const string Sha384WithRsa = "1.2.840.113549.1.1.12";
    public const string Sha512WithRsa = "1.2.840.113549.1.1.13";
    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";
    public const string EcdsaWithSha384 = "1.2.840.10045.4.3.3";
    public const string EcdsaWithSha512 = "1.2.840.10045.4.3.4";
    public const string P256 = "1.2.840.10045.3.1.7";
    public const string P384 = "1.3.132.0.34";
    public const string P521 = "1.3.132.0.35";
    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string Sha384 = "2.16.840.1.101.3.4.2.2";
    public const string Sha512 = "2.16.840.1.101.3.4.2.3";
}
