namespace Doras.Tests.Signing;

/// <summary>Key pairs made by openssl, the independent tool a release engineer would use: PEM PKCS#8 private keys, SPKI public keys.</summary>
public static class Keys
{
    /// <summary>Writes NAME.key and NAME.pub in <paramref name="dir"/>; <paramref name="algorithm"/> as openssl genpkey takes it.</summary>
    public static (string Private, string Public) Generate(TempDirectory dir, string name, string algorithm = "EC", string? option = "ec_paramgen_curve:P-256")
    {
        var key = dir[name + ".key"];
        var pub = dir[name + ".pub"];
        var args = new List<string> { "genpkey", "-algorithm", algorithm, "-out", key };
        if (option is not null) args.AddRange(["-pkeyopt", option]);
        ExternalTool.RunOk("openssl", [.. args]);
        ExternalTool.RunOk("openssl", "pkey", "-in", key, "-pubout", "-out", pub);
        return (key, pub);
    }
}
