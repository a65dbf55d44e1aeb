using Doras.Oci;

namespace Doras.Signing;

/// <summary>Why a version was not accepted as its publisher's: each has its own words in the refusal.</summary>
public enum RefusalReason
{
    /// <summary>No signature of any kind was found for the version.</summary>
    NoSignature,
    /// <summary>Signatures were found, but none by a trusted key or identity.</summary>
    UntrustedKey,
    /// <summary>A signature by a trusted key does not verify: the signed bytes or the signature were changed.</summary>
    BadSignature,
    /// <summary>A valid signature by a trusted key, of another version: its payload names another digest.</summary>
    OtherDigest,
    /// <summary>The signature or its certificate is past its validity.</summary>
    Expired,
    /// <summary>The signature material is malformed or over its bounds (too many, too large).</summary>
    Malformed,
    /// <summary>A signed build for another platform than the device's (a tag moved to it, or an index that lies about it).</summary>
    OtherPlatform,
}

/// <summary>
/// A version the device was asked to install that no trusted publisher signed. Nothing is installed; the message names
/// the reference, the digest and the reason, in one line.
/// </summary>
public sealed class SignatureRefusedException(string reference, string digest, RefusalReason reason, string detail)
    : Exception($"{reference} ({digest}) is refused: {Describe(reason)}: {OneLine(detail)}"), IFailure
{
    public string Reference { get; } = reference;
    public string Digest { get; } = digest;
    public RefusalReason Reason { get; } = reason;

    public FailureKind Kind => FailureKind.Untrusted;

    /// <summary>
    /// The detail may quote signature material nobody vouched for: no control characters (no forged log lines, no
    /// terminal escapes) and at most 500 characters, so the refusal stays one line.
    /// </summary>
    public static string OneLine(string text)
    {
        var clean = new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]);
        return clean.Length <= 500 ? clean : clean[..500] + "…";
    }

    public static string Describe(RefusalReason reason) => reason switch
    {
        RefusalReason.NoSignature => "no signature",
        RefusalReason.UntrustedKey => "not signed by a trusted key",
        RefusalReason.BadSignature => "bad signature",
        RefusalReason.OtherDigest => "the signature names another digest",
        RefusalReason.Expired => "expired",
        RefusalReason.Malformed => "malformed signature",
        RefusalReason.OtherPlatform => "signed for another platform",
        _ => reason.ToString(),
    };
}

/// <summary>A key or key file that cannot be used: unreadable, of an unsupported kind, or the wrong password.</summary>
public sealed class KeyFileException(string message, Exception? inner = null) : Exception(message, inner), IFailure
{
    public FailureKind Kind => FailureKind.Usage;
}
