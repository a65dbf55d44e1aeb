using System.Text;
using System.Text.Json;
using Doras.Signing.Keys;

namespace Doras.Signing.Cosign;

/// <summary>
/// A DSSE envelope (the signed wrapper of in-toto statements): the signature covers the payload type and the payload
/// together (PAE), so neither can be swapped without breaking it.
/// </summary>
public static class Dsse
{
    /// <summary>More signatures than this on one envelope is not a release pipeline.</summary>
    public const int MaxSignatures = 16;

    public sealed record Verified(string PayloadType, byte[] Payload);

    /// <summary>The payload and its type when one of the envelope's signatures verifies with one of the keys; else null.</summary>
    public static Verified? VerifiedPayload(JsonElement envelope, IReadOnlyList<VerificationKey> keys)
    {
        var payloadType = envelope.GetProperty("payloadType").GetString() ?? "";
        var payload = envelope.GetProperty("payload").GetBytesFromBase64();
        var signed = PreAuthenticationEncoding(payloadType, payload);
        foreach (var signature in envelope.GetProperty("signatures").EnumerateArray().Take(MaxSignatures))
        {
            var sig = signature.GetProperty("sig").GetBytesFromBase64();
            if (keys.Any(k => k.Verify(signed, sig))) return new Verified(payloadType, payload);
        }
        return null;
    }

    /// <summary>DSSE's PAE: "DSSEv1" SP len(type) SP type SP len(body) SP body, lengths in ASCII decimal.</summary>
    public static byte[] PreAuthenticationEncoding(string payloadType, ReadOnlySpan<byte> payload)
    {
        var type = Encoding.UTF8.GetBytes(payloadType);
        return [.. Encoding.ASCII.GetBytes($"DSSEv1 {type.Length} "), .. type, .. Encoding.ASCII.GetBytes($" {payload.Length} "), .. payload];
    }
}
