namespace Doras.Server.Authorization;

/// <summary>Who may read the operator's endpoints: configuration section "Observability" (the key operators know).</summary>
public sealed class OperatorOptions
{
    public const string Section = "Observability";

    /// <summary>
    /// When set, <c>/metrics</c> and <c>/openapi/v1.json</c> answer only requests with <c>Authorization: Bearer
    /// &lt;this token&gt;</c> (401 otherwise). Empty (the default): anyone who reaches the server reads them; they carry
    /// counts, durations and the API's shape, never a repository, tag, digest, caller or byte of an image.
    /// </summary>
    public string? Token { get; set; }
}
