using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Doras.Server.Authorization;

/// <summary>
/// Says in the OpenAPI document who may call each operation, from the policy its endpoint declares (so the document
/// cannot disagree with the code): one security scheme per kind of caller, and each operation's requirement.
/// </summary>
public sealed class OpenApiCallers : IOpenApiOperationTransformer
{
    private static readonly Dictionary<string, OpenApiSecurityScheme> Schemes = new()
    {
        [CallerSchemes.DeviceClient] = new()
        {
            Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Header, Name = "Authorization",
            Description = "Registry mode with Registry:RequireClientAuth: the registry's own credentials or token, passed through (a 401 carries the registry's challenge). Otherwise none.",
        },
        [CallerSchemes.Operator] = new() { Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "Observability:Token, when it is set; otherwise none." },
        [CallerSchemes.RegistryWebhook] = new() { Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "The shared secret Precompute:WebhookSecret." },
        [CallerSchemes.PeerCredentials] = new() { Type = SecuritySchemeType.Http, Scheme = "basic", Description = "A trusted peer's credentials." },
        [CallerSchemes.Peer] = new() { Type = SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "JWT", Description = "A peer token, from POST /peer/v1/token, with the scope the operation names." },
    };

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var policy = context.Description.ActionDescriptor.EndpointMetadata.OfType<IAuthorizeData>().Select(a => a.Policy).FirstOrDefault(p => p is not null);
        if (policy is null || context.Document is not { } document) return Task.CompletedTask;
        var scheme = policy.Split(':')[0];
        if (!Schemes.TryGetValue(scheme, out var definition)) return Task.CompletedTask;
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes.TryAdd(scheme, definition);
        operation.Security ??= [];
        operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, document)] = [] });
        if (policy != scheme) operation.Description = $"{operation.Description} Needs the peer scope '{policy[(scheme.Length + 1)..]}'.".TrimStart();
        return Task.CompletedTask;
    }
}
