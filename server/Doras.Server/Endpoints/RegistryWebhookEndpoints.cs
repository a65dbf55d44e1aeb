using System.Text.Json;
using Doras.Server.Authorization;
using Doras.Server.Precompute;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Doras.Server.Endpoints;

/// <summary>
/// <c>POST /api/v1/registry-events</c>: the registry's notification webhook. Pushed versions are queued for their
/// deltas to be precomputed. Only the registry may call it (<see cref="CallerPolicies.RegistryWebhook"/>: 401 before the body is read); bounded in body size and event count.
/// </summary>
public static class RegistryWebhookEndpoints
{
    public const string Path = "/api/v1/registry-events";

    public static void MapRegistryWebhook(this IEndpointRouteBuilder app)
    {
        app.MapPost(Path, async Task<Results<Accepted, ProblemHttpResult>> (HttpContext http, PublishedVersions published, IOptions<PrecomputeOptions> options, ILogger<PublishedVersions> logger, CancellationToken ct) =>
        {
            // Checked here, after the secret (the authorization middleware): an Accepts() declaration would have routing
            // answer 415 to a caller without the secret before authorization ran.
            if (!IsNotification(http.Request.ContentType))
                return ApiProblem.UnsupportedMediaType($"a registry notification is sent as {string.Join(" or ", MediaTypes)}, not '{http.Request.ContentType}'").ToResult(http);
            var limits = options.Value;
            var tooLarge = ApiProblem.TooLarge($"a registry notification may be at most {limits.MaxNotificationBytes} bytes (Precompute:MaxNotificationBytes)");
            if (http.Request.ContentLength > limits.MaxNotificationBytes) return tooLarge.ToResult(http);
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
                bodyLimit.MaxRequestBodySize = limits.MaxNotificationBytes + 1;

            var body = new MemoryStream();
            try
            {
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await http.Request.Body.ReadAsync(buffer, ct)) > 0)
                {
                    if (body.Length + read > limits.MaxNotificationBytes) return tooLarge.ToResult(http);
                    body.Write(buffer, 0, read);
                }
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return tooLarge.ToResult(http);
            }

            IReadOnlyList<PublishedVersion> versions;
            try { versions = RegistryNotification.Parse(body.GetBuffer().AsSpan(0, (int)body.Length), limits.MaxEventsPerNotification); }
            catch (TooManyEventsException e) { return ApiProblem.For(e.Kind, e.Message).ToResult(http); }
            catch (Exception e) when (e is JsonException or FormatException)
            {
                return ApiProblem.Invalid(e.Message, "Invalid registry notification").ToResult(http);
            }

            foreach (var version in versions)
            {
                if (!published.TryAdd(version))
                    return ApiProblem.Busy("too many published versions are waiting for their deltas; the registry sends this notification again", 10).ToResult(http);
                logger.LogInformation("Registry notification: {Repository}@{Digest} was pushed", version.Repository, version.Manifest);
            }
            return TypedResults.Accepted((string?)null);
        })
        .RequireAuthorization(CallerPolicies.RegistryWebhook)
        .WithName("PostRegistryEvents")
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>What the registry sends (distribution's events type), or plain JSON.</summary>
    private static readonly string[] MediaTypes = ["application/vnd.docker.distribution.events.v1+json", "application/json"];

    private static bool IsNotification(string? contentType) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var parsed)
        && MediaTypes.Contains(parsed.MediaType.Value, StringComparer.OrdinalIgnoreCase);
}
