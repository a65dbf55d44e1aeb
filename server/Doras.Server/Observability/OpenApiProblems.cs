using Doras.Api;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Doras.Server.Observability;

/// <summary>
/// Names, in the OpenAPI document, the RFC 9457 problem types each error answer of each operation carries
/// (<see cref="ProblemTypes.ByStatus"/>), so a client generator or a reader knows what <c>type</c> to expect.
/// </summary>
public sealed class OpenApiProblems : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        foreach (var (status, response) in operation.Responses ?? [])
        {
            if (!int.TryParse(status, out var code) || !ProblemTypes.ByStatus.TryGetValue(code, out var types) || response is not OpenApiResponse editable) continue;
            editable.Description = $"{editable.Description}; application/problem+json with type {string.Join(" or ", types)}".TrimStart(';', ' ');
        }
        return Task.CompletedTask;
    }
}
