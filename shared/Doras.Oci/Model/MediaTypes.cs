namespace Doras.Oci.Model;

/// <summary>Media types from the OCI image spec and Docker schema 2 (Doras's own are in Doras.Delta's vocabulary).</summary>
public static class MediaTypes
{
    public const string ImageManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string ImageIndex = "application/vnd.oci.image.index.v1+json";
    public const string ImageConfig = "application/vnd.oci.image.config.v1+json";
    public const string Empty = "application/vnd.oci.empty.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifestSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerManifestSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    public const string LayerTar = "application/vnd.oci.image.layer.v1.tar";
    public const string LayerTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string LayerTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OctetStream = "application/octet-stream";
    public const string OctetStreamZstd = "application/octet-stream+zstd";

    public static bool IsManifest(string mediaType) =>
        mediaType is ImageManifest or DockerManifest;

    public static bool IsIndex(string mediaType) =>
        mediaType is ImageIndex or DockerManifestList;

    /// <summary>What to send as Accept when fetching a manifest by tag or digest.</summary>
    public static readonly string[] ManifestAccept = [ImageManifest, ImageIndex, DockerManifest, DockerManifestList];
}

/// <summary>Annotation keys from the OCI spec and ORAS (Doras's own are in Doras.Delta's vocabulary).</summary>
public static class Annotations
{
    public const string Title = "org.opencontainers.image.title";
    public const string Created = "org.opencontainers.image.created";
    public const string RefName = "org.opencontainers.image.ref.name";
    /// <summary>ORAS's mark of a directory packed as a tar layer.</summary>
    public const string OrasUnpack = "io.deis.oras.content.unpack";
}
