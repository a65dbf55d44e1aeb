using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Doras.Tests.Support;

/// <summary>
/// A small token server for distribution's token auth: checks basic credentials and hands out RS256 JWTs with
/// an x5c header, granting the requested actions on repositories under <see cref="AllowedPrefix"/>.
/// </summary>
public sealed class TokenServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RSA _key;
    private readonly X509Certificate2 _certificate;
    private int _issued;

    private TokenServer(WebApplication app, RSA key, X509Certificate2 certificate, string certificatePath)
    {
        (_app, _key, _certificate, CertificatePath) = (app, key, certificate, certificatePath);
    }

    public string CertificatePath { get; }
    public string Realm => _app.Urls.First().TrimEnd('/') + "/token";
    public int TokensIssued => _issued;

    /// <summary>The headers of every token request, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<Dictionary<string, string>> Requests { get; } = new();
    public string AllowedPrefix { get; set; } = "team/";

    /// <summary>Grant only pull, whatever is asked.</summary>
    public bool PullOnly { get; set; }
    public (string User, string Password) Account { get; } = ("alice", "s3cret");

    /// <summary>Further users, each granted only the repositories under its own prefix (e.g. exactly one repository).</summary>
    public Dictionary<string, (string Password, string AllowedPrefix)> OtherUsers { get; } = new();

    public static async Task<TokenServer> StartAsync(string directory)
    {
        var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=token-issuer", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        var certificatePath = Path.Combine(directory, "token.crt");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        TokenServer? server = null;
        app.MapGet("/token", (HttpContext context) =>
        {
            server!.Requests.Enqueue(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            var user = BasicUser(context, server!);
            return server!.Issue(context, context.Request.Query["scope"], context.Request.Query["service"].ToString(), user is not null, subject: user);
        });
        app.MapPost("/token", async (HttpContext context) =>
        {
            // OAuth2 refresh-token grant, as Docker clients use identity tokens.
            server!.Requests.Enqueue(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            var form = await context.Request.ReadFormAsync();
            var valid = form["grant_type"] == "refresh_token" && form["refresh_token"] == server!.RefreshToken;
            return server!.Issue(context, form["scope"], form["service"].ToString(), valid, oauth: true);
        });
        await app.StartAsync();
        server = new TokenServer(app, key, certificate, certificatePath);
        return server;
    }

    /// <summary>The identity (refresh) token the server accepts in its OAuth2 grant.</summary>
    public string RefreshToken { get; } = "refresh-" + Guid.NewGuid().ToString("N");

    /// <summary>The user whose Basic credentials the request carries, or null.</summary>
    private static string? BasicUser(HttpContext context, TokenServer server)
    {
        var header = context.Request.Headers.Authorization.ToString();
        string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));
        if (header == Basic(server.Account.User, server.Account.Password)) return server.Account.User;
        return server.OtherUsers.FirstOrDefault(u => header == Basic(u.Key, u.Value.Password)).Key;
    }

    private IResult Issue(HttpContext context, Microsoft.Extensions.Primitives.StringValues scopes, string service, bool authorized, bool oauth = false, string? subject = null)
    {
        if (!authorized) return Results.Unauthorized();
        subject ??= Account.User;
        var prefix = subject == Account.User ? AllowedPrefix : OtherUsers[subject].AllowedPrefix;
        var access = scopes
            .SelectMany(s => (s ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(s => s.Split(':'))
            .Where(p => p.Length == 3 && p[0] == "repository" && p[1].StartsWith(prefix, StringComparison.Ordinal))
            .Select(p => new { type = p[0], name = p[1], actions = p[2].Split(',').Where(a => !PullOnly || a == "pull").ToArray() })
            .ToArray();
        Interlocked.Increment(ref _issued);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var jwtHeader = new { alg = "RS256", typ = "JWT", x5c = new[] { Convert.ToBase64String(_certificate.RawData) } };
        var payload = new
        {
            iss = "test-issuer", sub = subject, aud = service,
            exp = now + 300, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access,
        };
        var signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(jwtHeader)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(payload));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var token = signingInput + "." + Base64Url(signature);
        return oauth ? Results.Json(new { access_token = token, expires_in = 300 }) : Results.Json(new { token, expires_in = 300 });
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _certificate.Dispose();
        _key.Dispose();
    }
}
