namespace Doras.Signing.Cosign;

/// <summary>What one signature said about the version being checked; the strongest finding decides a refusal's reason.</summary>
public enum SignatureCheck
{
    /// <summary>A trusted key's valid signature of exactly this digest.</summary>
    Verified,
    /// <summary>A trusted key's valid signature of another digest.</summary>
    OtherDigest,
    /// <summary>A trusted signature past its expiry, or whose certificate was not valid at the time that counts.</summary>
    Expired,
    /// <summary>A signature that names a trusted key, yet does not verify.</summary>
    BadSignature,
    /// <summary>A signature no trusted key verifies.</summary>
    Untrusted,
    /// <summary>Not a signature that can be read: bad base64, JSON, DER or media type.</summary>
    Malformed,
}
