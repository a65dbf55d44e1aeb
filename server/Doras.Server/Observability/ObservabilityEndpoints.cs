using Doras.Server.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Prometheus;

namespace Doras.Server.Observability;

/// <summary>
/// The operator's side of the server: <c>/healthz</c> (the process answers), <c>/readyz</c> (it can work:
/// <see cref="Readiness"/>), <c>/metrics</c> (Prometheus text, <see cref="DorasMetrics"/>) and
/// <c>/openapi/v1.json</c>, plus the HTTP metrics and request ids of every request.
/// </summary>
public static class ObservabilityEndpoints
{
    public static void AddDorasObservability(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton(_ => Prometheus.Metrics.NewCustomRegistry()); // the one registry every folder defines its series on
        builder.Services.AddSingleton<DorasMetrics>();
        builder.Services.AddSingleton<Readiness>();
        builder.Services.AddOpenApi(options => options.AddOperationTransformer<OpenApiProblems>().AddOperationTransformer<OpenApiCallers>().AddOperationTransformer<OpenApiAlgorithms>());
    }

    /// <summary>
    /// Request ids, routing and HTTP metrics for every request: call first, before the exception handler, so they see
    /// every answer as sent (a 500 included).
    /// </summary>
    public static void UseDorasObservability(this WebApplication app)
    {
        app.UseRequestIds();
        app.UseRouting();
        app.UseDorasHttpMetrics(app.Services.GetRequiredService<DorasMetrics>());
    }

    public static void MapObservabilityEndpoints(this WebApplication app)
    {
        // Health and readiness are for anyone (probes carry no credentials): the only endpoints open by declaration.
        app.MapGet("/healthz", () => TypedResults.Text("ok"))
            .AllowAnonymous()
            .WithName("Health").WithSummary("Alive: the process answers.");

        app.MapGet("/readyz", async Task<Results<Ok<Dictionary<string, string>>, ProblemHttpResult>> (HttpContext http, Readiness readiness, CancellationToken ct) =>
        {
            var checks = await readiness.CheckAsync(ct);
            var failed = checks.Where(c => c.Failure is not null).ToList();
            return failed.Count == 0
                ? TypedResults.Ok(checks.ToDictionary(c => c.Name, _ => "ok"))
                : ApiProblem.NotReady(string.Join("; ", failed.Select(c => $"{c.Name}: {c.Failure}"))).ToResult(http);
        })
        .AllowAnonymous()
        .WithName("Ready").WithSummary("Ready: the store is writable, the registry answers, the build scratch space is writable, Redis answers (with Delta:RedisLease).")
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        // The operator's endpoints: open, or behind Observability:Token (the Operator scheme).
        var operator_ = app.MapGroup("").RequireAuthorization(CallerPolicies.Operator);
        operator_.MapOpenApi();
        operator_.MapGet("/metrics", async (HttpContext http, DorasMetrics metrics, CancellationToken ct) =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(http.Response.Body, ct);
        })
        .WithName("Metrics").WithSummary("Prometheus metrics (text exposition format).")
        .Produces(StatusCodes.Status200OK, contentType: "text/plain")
        .ProducesProblem(StatusCodes.Status401Unauthorized);
    }
}
