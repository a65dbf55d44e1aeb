using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Doras.Oci;
using Microsoft.Extensions.Options;

namespace Doras.Server.Peering;

/// <summary>
/// <c>doras-server peer list|add|trust</c>, <c>replica add|list</c>, <c>sublease REPO</c>, <c>sync --now [REPO]</c>:
/// run against the server's store with its configuration (the same settings and flags as the server; any
/// <c>--Section:Key value</c> is passed on), without starting it. <c>--json</c> prints one JSON object. Exit 0
/// when done, 1 when refused or failed (the reason on stderr, and in the JSON), 2 for a usage error.
/// </summary>
public static class AdminCommands
{
    private static readonly string[] Names = ["peer", "replica", "sublease", "sync"];

    /// <summary>The exit code when <paramref name="args"/> is an admin command; null when it is not (start the server).</summary>
    public static async Task<int?> TryRunAsync(string[] args, TextWriter output, TextWriter errors, Commands.ServerApp server)
    {
        if (args.Length == 0 || !Names.Contains(args[0])) return null;
        var (commandArgs, serverArgs) = SplitServerSettings(args, server.SettingSwitches);
        var json = new Option<bool>("--json") { Description = "One JSON object on stdout", Recursive = true };
        var root = new RootCommand("doras-server admin commands") { Peer(), Replica(), Sublease(), Sync() };
        root.Options.Add(json);
        var parsed = root.Parse(commandArgs);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) errors.WriteLine($"doras-server: {error.Message}");
            return 2;
        }
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = output, Error = errors });
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var message = Failures.KindOf(e) is not FailureKind.Internal || IsOwnRefusal(e) ? e.Message : $"{e.GetType().Name}: {e.Message}";
            errors.WriteLine($"doras-server: {message}");
            if (parsed.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(new { error = message }, PeerApi.Json));
            return 1;
        }

        // Every command reads the same settings as the server; its logs go to stderr so stdout stays the answer.
        WebApplication Open(ParseResult result) => server.Build(
            ["--Logging:Console:LogToStandardErrorThreshold", "Trace", "--log-level", "Warning", .. serverArgs], null);

        void Print(ParseResult result, object value, string text)
        {
            if (result.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(value, PeerApi.Json));
            else output.WriteLine(text);
        }

        Command Peer()
        {
            var list = new Command("list", "The peers this server calls and the peers it trusts (no passwords)");
            list.SetAction(result =>
            {
                using var app = Open(result);
                var options = app.Services.GetRequiredService<IOptions<PeeringOptions>>().Value;
                var peers = options.Peers.Select(p => new { p.Name, p.Url, p.Username }).ToList();
                var trusted = options.TrustedPeers.Select(p => new { p.Username, Scopes = p.AllowedScopes }).ToList();
                Print(result, new { peers, trusted_peers = trusted, delegate_pulls_to = options.DelegatePullsTo },
                    string.Join(Environment.NewLine, peers.Select(p => $"peer {p.Name} {p.Url} (as {p.Username})")
                        .Concat(trusted.Select(t => $"trusts {t.Username}: {string.Join(' ', t.Scopes)}")).DefaultIfEmpty("no peers")));
                return 0;
            });

            var name = new Argument<string>("name") { Description = "The peer's name here" };
            var url = new Option<string>("--url") { Description = "The peer server's URL", Required = true };
            var user = new Option<string>("--username") { Description = "Our user name at the peer", Required = true };
            var password = SecretSource.PeerPassword();
            var allowHttp = new Option<bool>("--allow-http") { Description = "Allow a plain-http URL (only on a trusted network: credentials and tokens cross it readable)" };
            var add = new Command("add", "Add (or change) a peer we call, in the peers file (Peering:File)") { name, url, user, password.File, password.Flag, allowHttp };
            add.SetAction(result =>
            {
                var peer = new PeerOptions
                {
                    Name = result.GetValue(name)!, Url = result.GetValue(url)!, Username = result.GetValue(user)!, Password = password.Read(result),
                    AllowHttp = result.GetValue(allowHttp),
                };
                if (PeeringRules.PeerProblem(peer) is { } problem) throw new ArgumentException(problem);
                var file = File(result);
                file.Upsert(nameof(PeeringOptions.Peers), nameof(PeerOptions.Name), new JsonObject
                {
                    [nameof(PeerOptions.Name)] = peer.Name, [nameof(PeerOptions.Url)] = peer.Url,
                    [nameof(PeerOptions.Username)] = peer.Username, [nameof(PeerOptions.Password)] = peer.Password,
                    [nameof(PeerOptions.AllowHttp)] = peer.AllowHttp,
                });
                Print(result, new { peer = result.GetValue(name), url = result.GetValue(url), file = file.Path }, $"peer {result.GetValue(name)} saved in {file.Path}");
                return 0;
            });

            var trustedName = new Argument<string>("username") { Description = "The user name the peer calls us with" };
            var trustedPassword = SecretSource.PeerPassword();
            var scopes = new Option<string[]>("--scope") { Description = $"What it may do: {string.Join(", ", PeerScopes.All)} (default {string.Join(" and ", PeerScopes.Default)}; sublease only when given)", AllowMultipleArgumentsPerToken = true };
            var trust = new Command("trust", "Trust a peer to call this server's peer API, in the peers file (Peering:File)") { trustedName, trustedPassword.File, trustedPassword.Flag, scopes };
            trust.SetAction(result =>
            {
                var chosen = result.GetValue(scopes) ?? [];
                if (chosen.Except(PeerScopes.All).FirstOrDefault() is { } unknown) throw new ArgumentException($"unknown scope '{unknown}'; scopes are {string.Join(", ", PeerScopes.All)}");
                var secret = trustedPassword.Read(result);
                if (PeeringRules.SecretProblem("Peering:TrustedPeers", result.GetValue(trustedName)!, secret) is { } weak) throw new ArgumentException(weak);
                var file = File(result);
                file.Upsert(nameof(PeeringOptions.TrustedPeers), nameof(TrustedPeerOptions.Username), new JsonObject
                {
                    [nameof(TrustedPeerOptions.Username)] = result.GetValue(trustedName), [nameof(TrustedPeerOptions.Password)] = secret,
                    [nameof(TrustedPeerOptions.Scopes)] = new JsonArray(chosen.Select(s => (JsonNode)s).ToArray()),
                });
                Print(result, new { trusted = result.GetValue(trustedName), scopes = chosen.Length == 0 ? PeerScopes.Default : chosen, file = file.Path },
                    $"peer {result.GetValue(trustedName)} trusted, saved in {file.Path}");
                return 0;
            });
            var revokedName = new Argument<string>("username") { Description = "The user name the peer calls us with" };
            var revokedRepository = new Argument<string>("repository") { Description = "The repository it may no longer read" };
            var revoke = new Command("revoke", "Take back a peer's grant to read a repository (given when it created its replica with a sublease token)") { revokedName, revokedRepository };
            revoke.SetAction(async (result, ct) =>
            {
                await using var app = Open(result);
                var (peer, repository) = (result.GetValue(revokedName)!, result.GetValue(revokedRepository)!);
                var revoked = await app.Services.GetRequiredService<PeerGrants>().RevokeAsync(peer, repository, ct);
                Print(result, new { peer, repository, revoked },
                    revoked ? $"peer {peer} may no longer read {repository}" : $"peer {peer} had no grant for {repository}");
                return revoked ? 0 : 1;
            });
            return new Command("peer", "Peers of this server") { list, add, trust, revoke };
        }

        PeersFile File(ParseResult result)
        {
            using var app = Open(result);
            return app.Services.GetRequiredService<IOptions<PeeringOptions>>().Value.File is { Length: > 0 } path
                ? new PeersFile(path)
                : throw new InvalidOperationException("no peers file is configured: pass --Peering:File PATH (or set DORAS_Peering__File), the file the server reads peers from");
        }

        Command Replica()
        {
            var repository = new Argument<string>("repository") { Description = "The repository to replicate (same name as on the primary)" };
            var from = new Option<string>("--from") { Description = "The primary: a peer's name (Peering:Peers)", Required = true };
            var sublease = SecretSource.SubleaseToken(); // from the primary: doras-server sublease REPO there
            var add = new Command("add", "Make a repository a replica of a peer's, then sync it") { repository, from, sublease.File, sublease.Flag };
            add.SetAction(async (result, ct) =>
            {
                await using var app = Open(result);
                var services = app.Services;
                var (record, warnings) = await services.GetRequiredService<Replicas>().AddAsync(result.GetValue(repository)!, result.GetValue(from)!, sublease.ReadOptional(result), ct);
                var report = await services.GetRequiredService<ReplicaSync>().SyncAsync(record, ct);
                Print(result, new { replica = record, warnings, sync = report },
                    $"{record.Repository} is a replica of {record.Peer} (algorithms {string.Join(", ", record.Configuration.Algorithms)}); first sync: {Describe(report)}"
                    + string.Concat(warnings.Select(w => Environment.NewLine + "warning: " + w)));
                return report.Error is null ? 0 : 1;
            });
            var list = new Command("list", "The repositories this server replicates");
            list.SetAction(async (result, ct) =>
            {
                await using var app = Open(result);
                var records = await app.Services.GetRequiredService<ReplicaRecords>().ListAsync(ct, fresh: true);
                Print(result, new { replicas = records }, string.Join(Environment.NewLine, records.Select(r => $"{r.Repository} from {r.Peer} since {r.CreatedAt:O}").DefaultIfEmpty("no replicas")));
                return 0;
            });
            return new Command("replica", "Replicas of peers' repositories") { add, list };
        }

        Command Sublease()
        {
            var repository = new Argument<string>("repository") { Description = "A repository this server is the primary of" };
            var command = new Command("sublease", "Issue a single-use sublease token that lets another server replicate a repository") { repository };
            command.SetAction(async (result, ct) =>
            {
                await using var app = Open(result);
                var (sublease, problem) = await app.Services.GetRequiredService<Subleases>().IssueAsync(result.GetValue(repository)!, peer: null, ct);
                if (problem is not null) throw new InvalidOperationException($"{problem.Title}: {problem.Detail}");
                Print(result, sublease!, $"{sublease!.Token}{Environment.NewLine}(single use, for {sublease.Repository}, valid until {sublease.ExpiresAt:O})");
                return 0;
            });
            return command;
        }

        Command Sync()
        {
            var repository = new Argument<string?>("repository") { Description = "Only this replica (default: all)", Arity = ArgumentArity.ZeroOrOne };
            var now = new Option<bool>("--now") { Description = "Sync now (required: the periodic sync runs in the server)" };
            var command = new Command("sync", "Sync replicas with their primaries now") { repository, now };
            command.SetAction(async (result, ct) =>
            {
                if (!result.GetValue(now))
                {
                    errors.WriteLine("doras-server: sync needs --now (the server itself syncs every Peering:SyncInterval)");
                    return 2;
                }
                await using var app = Open(result);
                var reports = await app.Services.GetRequiredService<ReplicaSyncService>().SyncAllAsync(result.GetValue(repository), ct);
                Print(result, new { syncs = reports }, string.Join(Environment.NewLine, reports.Select(r => $"{r.Repository} from {r.Peer}: {Describe(r)}").DefaultIfEmpty("no replicas to sync")));
                foreach (var failed in reports.Where(r => r.Error is not null)) errors.WriteLine($"doras-server: sync of {failed.Repository} from {failed.Peer} {Describe(failed)}");
                return reports.Any(r => r.Error is not null) ? 1 : 0;
            });
            return command;
        }
    }

    /// <summary>
    /// Splits the server's settings (<c>--store DIR</c>, <c>--registry HOST</c>, <c>--Section:Key value</c>, …) from the
    /// command's own words, so a setting's value is never taken for a command argument.
    /// </summary>
    private static (string[] Command, string[] Server) SplitServerSettings(string[] args, IReadOnlyDictionary<string, string> switches)
    {
        var command = new List<string>();
        var server = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var flag = args[i].Split('=', 2)[0];
            var isSetting = flag.StartsWith("--", StringComparison.Ordinal) && (flag.Contains(':') || flag == "--urls" || switches.ContainsKey(flag));
            if (!isSetting) { command.Add(args[i]); continue; }
            server.Add(args[i]);
            if (!args[i].Contains('=') && i + 1 < args.Length) server.Add(args[++i]);
        }
        return (command.ToArray(), server.ToArray());
    }

    /// <summary>Failures without a kind (Internal) whose message is still the whole story: our refusals, settings, the store's I/O; a bug's is not.</summary>
    private static bool IsOwnRefusal(Exception e) =>
        e is InvalidOperationException or PeerNotConfiguredException or IOException or OptionsValidationException;

    private static string Describe(SyncReport r) => r.Error is { } error
        ? $"failed, nothing deleted: {error}"
        : $"{r.Outcome}: {r.Added.Count} added, {r.Moved.Count} moved, {r.Deleted.Count} deleted, {r.Unchanged} unchanged";
}
