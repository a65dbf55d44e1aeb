using System.Text.Json;
using Doras.Oci;

namespace Doras.Signing.Notation;

/// <summary>What a check does when it fails, per Notation's verification levels (and a statement's overrides).</summary>
public enum Enforcement
{
    /// <summary>A failure refuses the version.</summary>
    Enforce,
    /// <summary>A failure is noted, the version is not refused for it (a device has nobody to read the note).</summary>
    Log,
    /// <summary>The check is not run.</summary>
    Skip,
}

/// <summary>The Notation trust stores of a statement: <c>ca:NAME</c> for <c>notary.x509</c>, <c>signingAuthority:NAME</c> for <c>notary.x509.signingAuthority</c>, <c>tsa:NAME</c> for timestamp authorities.</summary>
public sealed record TrustStoreName(string Type, string Name)
{
    public override string ToString() => $"{Type}:{Name}";
}

/// <summary>A trusted identity: <c>x509.subject:</c> a distinguished name whose attributes the signing certificate's subject must all have.</summary>
public sealed record TrustedIdentity(string Text, IReadOnlyDictionary<string, string> Attributes);

/// <summary>One statement of a trust policy (Notation trust policy v1.0, OCI form).</summary>
public sealed record TrustPolicyStatement
{
    public required string Name { get; init; }
    public required IReadOnlyList<string> RegistryScopes { get; init; }
    /// <summary>strict, permissive, audit or skip.</summary>
    public required string Level { get; init; }
    public required Enforcement Integrity { get; init; }
    public required Enforcement Authenticity { get; init; }
    public required Enforcement AuthenticTimestamp { get; init; }
    public required Enforcement Expiry { get; init; }
    public required Enforcement Revocation { get; init; }
    public required IReadOnlyList<TrustStoreName> TrustStores { get; init; }
    /// <summary>Empty with <see cref="AnyIdentity"/> or level skip.</summary>
    public required IReadOnlyList<TrustedIdentity> TrustedIdentities { get; init; }
    public bool AnyIdentity { get; init; }
    public bool Skip => Level == "skip";
}

/// <summary>
/// A Notation trust policy document, version 1.0 (<c>trustpolicy.json</c>, or the OCI form of
/// <c>trustpolicy.oci.json</c>): which statement applies to which repository, what it trusts and how strictly. Read
/// once at start; any violation of the specification's rules is a usage error naming the statement.
/// </summary>
public sealed class TrustPolicy
{
    /// <summary>A policy file larger than this is not a policy.</summary>
    public const int MaxBytes = 1 << 20;

    public IReadOnlyList<TrustPolicyStatement> Statements { get; }

    private TrustPolicy(IReadOnlyList<TrustPolicyStatement> statements) => Statements = statements;

    public static TrustPolicy Load(string path)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new TrustPolicyException($"trust policy {path}: no such file");
            if (info.Length > MaxBytes) throw new TrustPolicyException($"trust policy {path}: larger than {MaxBytes} bytes");
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException e) { throw new TrustPolicyException($"trust policy {path}: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new TrustPolicyException($"trust policy {path}: {e.Message}", e); }
        return Parse(bytes, path);
    }

    public static TrustPolicy Parse(ReadOnlySpan<byte> json, string source = "trust policy")
    {
        if (json.Length > MaxBytes) throw new TrustPolicyException($"{source}: larger than {MaxBytes} bytes");
        JsonDocument document;
        try { document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw new TrustPolicyException($"{source}: not JSON ({e.Message})", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TrustPolicyException($"{source}: not a JSON object");
            var version = String(root, "version");
            if (version != "1.0") throw new TrustPolicyException($"{source}: version {(version is null ? "is missing" : $"\"{version}\" is not supported")} (only \"1.0\")");
            if (!root.TryGetProperty("trustPolicies", out var policies) || policies.ValueKind != JsonValueKind.Array || policies.GetArrayLength() == 0)
                throw new TrustPolicyException($"{source}: trust policy document has no trustPolicies");
            var statements = new List<TrustPolicyStatement>();
            foreach (var element in policies.EnumerateArray()) statements.Add(Statement(element, source));
            Validate(statements, source);
            return new TrustPolicy(statements);
        }
    }

    /// <summary>The statement for a repository (<c>registry/repository</c>, or the bare repository a Doras server serves): its exact scope, else the <c>*</c> one, else none.</summary>
    public TrustPolicyStatement? For(string repository) =>
        Statements.FirstOrDefault(s => s.RegistryScopes.Contains(repository, StringComparer.Ordinal))
        ?? Statements.FirstOrDefault(s => s.RegistryScopes is ["*"]);

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static List<string> Strings(JsonElement element, string name, string statement, string source)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return [];
        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
            throw new TrustPolicyException($"{source}: trust policy statement \"{statement}\": {name} is not an array of strings");
        return [.. value.EnumerateArray().Select(v => v.GetString()!)];
    }

    private static TrustPolicyStatement Statement(JsonElement element, string source)
    {
        if (element.ValueKind != JsonValueKind.Object) throw new TrustPolicyException($"{source}: a trust policy statement is not a JSON object");
        var name = String(element, "name");
        if (string.IsNullOrWhiteSpace(name)) throw new TrustPolicyException($"{source}: a trust policy statement is missing a name, every statement requires a name");
        var scopes = Strings(element, "registryScopes", name, source);
        if (scopes.Count == 0) throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has zero registry scopes, it must specify registry scopes with at least one value");
        if (scopes.Contains("*") && scopes.Count > 1)
            throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values");
        if (!element.TryGetProperty("signatureVerification", out var verification) || verification.ValueKind != JsonValueKind.Object)
            throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has no signatureVerification");
        var level = String(verification, "level");
        // The levels' enforcement of integrity, authenticity, authenticTimestamp, expiry, revocation (the specification's table).
        Enforcement[] actions = level switch
        {
            "strict" => [Enforcement.Enforce, Enforcement.Enforce, Enforcement.Enforce, Enforcement.Enforce, Enforcement.Enforce],
            "permissive" => [Enforcement.Enforce, Enforcement.Enforce, Enforcement.Log, Enforcement.Log, Enforcement.Log],
            "audit" => [Enforcement.Enforce, Enforcement.Log, Enforcement.Log, Enforcement.Log, Enforcement.Log],
            "skip" => [Enforcement.Skip, Enforcement.Skip, Enforcement.Skip, Enforcement.Skip, Enforcement.Skip],
            _ => throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses invalid signatureVerification value \"{level}\""),
        };
        if (verification.TryGetProperty("override", out var overrides) && overrides.ValueKind != JsonValueKind.Null)
        {
            if (level == "skip") throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has level skip and overrides: skip verifies nothing to override");
            if (overrides.ValueKind != JsonValueKind.Object) throw new TrustPolicyException($"{source}: trust policy statement \"{name}\": override is not an object");
            foreach (var o in overrides.EnumerateObject())
            {
                var slot = o.Name switch
                {
                    "authenticity" => 1, "authenticTimestamp" => 2, "expiry" => 3, "revocation" => 4,
                    "integrity" => throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has invalid signatureVerification: \"integrity\" validation can not be overridden in custom signature verification"),
                    _ => throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses unsupported validation type \"{o.Name}\" in override"),
                };
                actions[slot] = (o.Value.ValueKind == JsonValueKind.String ? o.Value.GetString() : null) switch
                {
                    "enforce" => Enforcement.Enforce,
                    "log" => Enforcement.Log,
                    "skip" when o.Name != "authenticity" => Enforcement.Skip,
                    "skip" => throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has invalid signatureVerification: \"authenticity\" validation can not be skipped"),
                    var other => throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses unsupported validation action \"{other}\" in override"),
                };
            }
        }
        var storeTexts = Strings(element, "trustStores", name, source);
        var identityTexts = Strings(element, "trustedIdentities", name, source);
        if (level == "skip")
        {
            if (storeTexts.Count > 0 || identityTexts.Count > 0)
                throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" is set to skip signature verification but configured with trust stores and/or trusted identities, remove them if signature verification needs to be skipped");
        }
        else
        {
            if (storeTexts.Count == 0) throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" is either missing trust stores or trusted identities, both must be specified");
            if (identityTexts.Count == 0) throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" is either missing trust stores or trusted identities, both must be specified");
        }
        var stores = new List<TrustStoreName>();
        foreach (var text in storeTexts)
        {
            var colon = text.IndexOf(':');
            if (colon < 0)
                throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" is missing separator in trust store value \"{text}\". The required format is <TrustStoreType>:<TrustStoreName>");
            var (type, storeName) = (text[..colon], text[(colon + 1)..]);
            if (type is not ("ca" or "signingAuthority" or "tsa"))
                throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses an unsupported trust store type \"{type}\" in trust store value \"{text}\"");
            if (!TrustStore.IsValidName(storeName))
                throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses an unsupported trust store name \"{storeName}\" in trust store value \"{text}\". Named store name needs to follow [a-zA-Z0-9_.-]+ format");
            stores.Add(new TrustStoreName(type, storeName));
        }
        var any = identityTexts.Contains("*");
        if (any && identityTexts.Count > 1)
            throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values");
        var identities = new List<TrustedIdentity>();
        foreach (var text in any ? [] : identityTexts)
        {
            var colon = text.IndexOf(':');
            if (colon < 0) throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has trusted identity \"{text}\" missing separator");
            var (prefix, value) = (text[..colon], text[(colon + 1)..]);
            if (value.Trim().Length == 0) throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has trusted identity \"{text}\" without an identity value");
            if (prefix != "x509.subject") throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" uses an unsupported trusted identity prefix \"{prefix}\" (only x509.subject)");
            var attributes = DistinguishedName.Parse(value)
                ?? throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has trusted identity \"{text}\" with invalid identity value");
            if (!attributes.ContainsKey("C") || !attributes.ContainsKey("ST") || !attributes.ContainsKey("O"))
                throw new TrustPolicyException($"{source}: trust policy statement \"{name}\" has trusted identity \"{text}\" without required attributes: C, ST and O are mandatory");
            identities.Add(new TrustedIdentity(text, attributes));
        }
        return new TrustPolicyStatement
        {
            Name = name, RegistryScopes = scopes, Level = level,
            Integrity = actions[0], Authenticity = actions[1], AuthenticTimestamp = actions[2], Expiry = actions[3], Revocation = actions[4],
            TrustStores = stores, TrustedIdentities = identities, AnyIdentity = any,
        };
    }

    private static void Validate(List<TrustPolicyStatement> statements, string source)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var scopes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var statement in statements)
        {
            if (!names.Add(statement.Name)) throw new TrustPolicyException($"{source}: multiple trust policy statements use the same name \"{statement.Name}\", statement names must be unique");
            foreach (var scope in statement.RegistryScopes)
                if (!scopes.TryAdd(scope, statement.Name))
                    throw new TrustPolicyException($"{source}: registry scope \"{scope}\" is present in multiple trust policy statements, one registry scope value can only be associated with one statement");
        }
    }
}

/// <summary>An X.500 distinguished name as Notation's trusted identities write it: <c>CN=...,O=...,C=...</c> (RFC 4514 escapes).</summary>
public static class DistinguishedName
{
    /// <summary>The attributes by their short names, or null when the text is not a name or repeats an attribute.</summary>
    public static Dictionary<string, string>? Parse(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var part = new System.Text.StringBuilder();
        var parts = new List<string>();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\' && i + 1 < text.Length) { part.Append(text[++i]); continue; }
            if (c is ',' or '+') { parts.Add(part.ToString()); part.Clear(); continue; }
            part.Append(c);
        }
        parts.Add(part.ToString());
        foreach (var p in parts)
        {
            var eq = p.IndexOf('=');
            if (eq <= 0) return null;
            var key = p[..eq].Trim().ToUpperInvariant();
            key = key == "S" ? "ST" : key;
            if (!result.TryAdd(key, p[(eq + 1)..].Trim())) return null;
        }
        return result;
    }

    /// <summary>The subject of a certificate, by the same short names; null when an attribute repeats (Notation refuses those).</summary>
    public static Dictionary<string, string>? Of(System.Security.Cryptography.X509Certificates.X500DistinguishedName name)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var rdn in name.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements) return null;
            var key = rdn.GetSingleElementType().Value switch
            {
                "2.5.4.3" => "CN", "2.5.4.6" => "C", "2.5.4.8" => "ST", "2.5.4.7" => "L", "2.5.4.10" => "O", "2.5.4.11" => "OU",
                "2.5.4.5" => "SERIALNUMBER", "2.5.4.9" => "STREET", "2.5.4.17" => "POSTALCODE", "1.2.840.113549.1.9.1" => "EMAILADDRESS",
                var oid => oid,
            };
            if (!result.TryAdd(key!, rdn.GetSingleElementValue() ?? "")) return null;
        }
        return result;
    }
}

/// <summary>A trust policy or trust store that cannot be used: a usage error, told before anything is fetched.</summary>
public sealed class TrustPolicyException(string message, Exception? inner = null) : Exception(message, inner), IFailure
{
    public FailureKind Kind => FailureKind.Usage;
}
