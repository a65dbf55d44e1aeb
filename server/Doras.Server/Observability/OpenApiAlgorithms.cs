using Doras.Api;
using Doras.Delta.Algorithms;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Doras.Server.Observability;

/// <summary>
/// Names, in the OpenAPI document's <c>accepted_algorithm</c> parameters, the algorithms this server's registry
/// holds (its <see cref="DeltaAlgorithms.Listing"/>), so an algorithm added with one registration line shows there too.
/// </summary>
public sealed class OpenApiAlgorithms : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var algorithms = context.ApplicationServices.GetRequiredService<DeltaAlgorithms>();
        foreach (var parameter in operation.Parameters ?? [])
            if (parameter.Name == DeltaApi.AcceptedAlgorithm && parameter is OpenApiParameter editable)
                editable.Description = $"An algorithm the client applies: auto or {algorithms.Listing}; repeat or comma-separate";
        return Task.CompletedTask;
    }
}
