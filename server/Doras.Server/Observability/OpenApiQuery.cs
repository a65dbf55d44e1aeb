using Microsoft.OpenApi;

namespace Doras.Server.Observability;

/// <summary>A query parameter an endpoint reads from the raw query string (to refuse duplicates), named for the API description.</summary>
public sealed record QueryParameter(string Name, string Description, bool Repeatable = false);

public static class OpenApiQuery
{
    /// <summary>Describes the query parameters of an endpoint that does not bind them by its signature.</summary>
    public static RouteHandlerBuilder WithQueryParameters(this RouteHandlerBuilder endpoint, params QueryParameter[] parameters) =>
        endpoint.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            foreach (var p in parameters)
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = p.Name,
                    In = ParameterLocation.Query,
                    Description = p.Description,
                    Schema = p.Repeatable
                        ? new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } }
                        : new OpenApiSchema { Type = JsonSchemaType.String },
                });
            return Task.CompletedTask;
        });
}
