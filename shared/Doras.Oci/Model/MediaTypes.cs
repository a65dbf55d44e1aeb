namespace Doras.Oci.Model;

/// <summary>Media types from the OCI image spec and Docker schema 2, and the ones Doras defines.</summary>
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

    /// <summary>artifactType of a published Doras artifact (one file or one directory).</summary>
    public const string DorasArtifact = "application/vnd.doras.artifact.v1";
    /// <summary>artifactType of a stored delta.</summary>
    public const string DorasDelta = "application/vnd.doras.delta.v1";

    public static bool IsManifest(string mediaType) =>
        mediaType is ImageManifest or DockerManifest;

    public static bool IsIndex(string mediaType) =>
        mediaType is ImageIndex or DockerManifestList;

    /// <summary>What to send as Accept when fetching a manifest by tag or digest.</summary>
    public static readonly string[] ManifestAccept = [ImageManifest, ImageIndex, DockerManifest, DockerManifestList];
}

/// <summary>Annotation keys from the OCI spec, ORAS and Doras.</summary>
public static class Annotations
{
    public const string Title = "org.opencontainers.image.title";
    public const string Created = "org.opencontainers.image.created";
    public const string RefName = "org.opencontainers.image.ref.name";
    /// <summary>ORAS's mark of a directory packed as a tar layer.</summary>
    public const string OrasUnpack = "io.deis.oras.content.unpack";

    /// <summary>Digest of a layer's uncompressed content: what a device verifies after applying a delta.</summary>
    public const string ContentDigest = "dev.doras.content.digest";
    public const string ContentSize = "dev.doras.content.size";
    /// <summary>Unix permission bits of a published file, in octal (e.g. "755"), restored on install.</summary>
    public const string FileMode = "dev.doras.file.mode";

    public const string DeltaFrom = "dev.doras.delta.from";
    public const string DeltaTo = "dev.doras.delta.to";
    public const string DeltaAlgorithm = "dev.doras.delta.algorithm";
    /// <summary>The sizes of the deltas each candidate algorithm made, "name=bytes ...", when the server chose among several.</summary>
    public const string DeltaCandidates = "dev.doras.delta.candidates";
    /// <summary>On a placeholder at a delta's tag: "building" (by <see cref="DeltaOwner"/>) or "failed" (with <see cref="DeltaFailure"/>).</summary>
    public const string DeltaPlaceholder = "dev.doras.delta.placeholder";
    public const string DeltaOwner = "dev.doras.delta.owner";
    public const string DeltaFailure = "dev.doras.delta.failure";
    /// <summary>On a failed placeholder: <c>not-applicable</c> when the algorithms cannot make this delta at all (406, not 500).</summary>
    public const string DeltaFailureKind = "dev.doras.delta.failure-kind";
    /// <summary>The Go original's placeholder mark.</summary>
    public const string GoDeltaDummy = "com.unbasical.doras.delta.dummy";
    /// <summary>The Go original's keys, written too so its tooling recognises our deltas.</summary>
    public const string GoDeltaFrom = "com.unbasical.doras.delta.from";
    public const string GoDeltaTo = "com.unbasical.doras.delta.to";
}
