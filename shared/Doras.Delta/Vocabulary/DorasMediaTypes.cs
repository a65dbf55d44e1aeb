namespace Doras.Delta.Vocabulary;

/// <summary>
/// The media types Doras defines (the OCI and Docker ones are <see cref="Doras.Oci.Model.MediaTypes"/>).
/// </summary>
public static class DorasMediaTypes
{
    /// <summary>artifactType of a published Doras artifact (one file or one directory).</summary>
    public const string Artifact = "application/vnd.doras.artifact.v1";
    /// <summary>artifactType of a stored delta.</summary>
    public const string Delta = "application/vnd.doras.delta.v1";
}
