using System.CommandLine;
using Doras.Oci.Content;
using Doras.Oci.Model;
using Doras.Signing.Cosign;
using Doras.Signing.Keys;

namespace Doras.Cli.Commands;

/// <summary><c>doras sign REF --key KEY</c>: a cosign signature of a version's manifest, in cosign's tag form, beside it.</summary>
internal static class SignCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("reference") { Description = "The version to sign: [registry/]repo:tag or @digest" };
        var key = new Option<string>("--key") { Description = "Private key: PEM PKCS#8 (ECDSA, RSA, Ed25519) or a cosign key file (password in COSIGN_PASSWORD)", Required = true };
        var recursive = new Option<bool>("--recursive") { Description = "For a multi-platform version (an image index): sign each platform's manifest too" };
        var store = new StoreArguments();
        var command = new Command("sign", "Sign a version with a cosign signature (tag form: sha256-<hex>.sig), in the local store or a registry") { reference, key, recursive };
        store.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var target = Reference.Parse(result.GetValue(reference)!);
            using var signingKey = LoadKey(result.GetValue(key)!);
            using var opened = store.Open(result, target);
            var descriptor = await opened.Repository.ResolveAsync(target.Identifier, ct);
            if (target.Digest is null) // as cosign warns: a tag can move between pushing and signing
                Console.Error.WriteLine($"doras: signing {descriptor.Digest}, which {target} names now; sign {target.Name}@{descriptor.Digest} to be sure which version you sign");
            foreach (var signed in await SignAsync(opened.Repository, target, descriptor, signingKey, result.GetValue(recursive), ct))
                Console.WriteLine($"signed {target.Name}@{signed} with {signingKey.Algorithm} key {signingKey.PublicKey.Id}: {target.Name}:{CosignTags.SignatureTag(signed)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A private key file; an encrypted cosign key takes its password from COSIGN_PASSWORD, as cosign does.</summary>
    public static SigningKey LoadKey(string path) => SigningKey.Load(path, () => Environment.GetEnvironmentVariable("COSIGN_PASSWORD"));

    /// <summary>Signs the manifest or index; with <paramref name="recursive"/>, an index's manifests too. Returns what was signed.</summary>
    public static async Task<IReadOnlyList<Digest>> SignAsync(IOciRepository repository, Reference reference, Descriptor descriptor, SigningKey key, bool recursive, CancellationToken ct)
    {
        // The payload names the repository as cosign does: registry/repository, or the bare name in the local store.
        var dockerReference = reference.Registry is null ? reference.Repository : $"{reference.Registry}/{reference.Repository}";
        var signed = new List<Digest>();
        if (recursive && MediaTypes.IsIndex(descriptor.MediaType))
        {
            var index = OciJson.Deserialize<ImageIndex>(await repository.FetchBytesAsync(descriptor, ct: ct), $"index {descriptor.Digest}");
            foreach (var entry in index.Manifests)
            {
                await CosignSigner.SignAsync(repository, entry, dockerReference, key, ct);
                signed.Add(entry.Digest);
            }
        }
        await CosignSigner.SignAsync(repository, descriptor, dockerReference, key, ct);
        signed.Add(descriptor.Digest);
        return signed;
    }
}
