using System.Reflection;

namespace Doras.Server.Hosting;

/// <summary><c>doras-server --help</c> and <c>--version</c>: answered without starting a server.</summary>
public static class ServerHelp
{
    public static string Version =>
        typeof(ServerHelp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>True when the arguments asked for help or the version, which was then written.</summary>
    public static bool Answer(string[] args, TextWriter output)
    {
        if (args.Any(a => a is "--version" or "-V"))
        {
            output.WriteLine($"doras-server {Version}");
            return true;
        }
        if (!args.Any(a => a is "--help" or "-h" or "-?")) return false;
        output.WriteLine($"""
            doras-server {Version}: computes binary deltas between versions of OCI artifacts, in the background, and serves them.

            Usage: doras-server [--urls URLS] [--store DIR | --registry HOST] [--Section:Key value ...]
                   doras-server gc [--dry-run] [--json] [--store DIR | --registry HOST] [--Section:Key value ...]

              --urls URLS              where to listen (default http://127.0.0.1:8080)
              --store DIR              the embedded OCI layout store (default doras-store)
              --registry HOST          registry mode: versions and deltas live in this registry
              --zstd-level N           zstd level of deltas (default 19)
              --log-level LEVEL        Trace, Debug, Information, Warning, Error (default Information)
              --Section:Key value      any setting, e.g. --Delta:MaxConcurrentBuilds 2, --Registry:RequireClientAuth true
              --help, --version        this text; the version
              gc                       delete deltas the retention policy (Gc:…) no longer keeps, once; --dry-run only lists them

            Admin commands (with the same settings; --json for one JSON object):
              peer list                list the peers we call and the peers we trust
              peer add NAME --url URL --username U --password-file F
                                       add a peer we call (or DORAS_PEER_PASSWORD; --password P works but shows in ps)
              peer trust USER --password-file F [--scope S]
                                       trust a peer to call our peer API (the password likewise)
              peer revoke USER REPO    take back a peer's grant to read REPO
              sublease REPO            a single-use token that lets another server replicate REPO
              replica add REPO --from PEER --sublease TOKEN | replica list
              sync --now [REPO]        sync replicas with their primaries now

            Settings also come from appsettings.json and DORAS_-prefixed environment variables (DORAS_Delta__ZstdLevel=19).
            The README lists every setting and the security model.
            """);
        return true;
    }
}
