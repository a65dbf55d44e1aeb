namespace Doras.Delta.Vocabulary;

/// <summary>
/// The annotation keys Doras defines, and the Go original's it writes too (the OCI and ORAS ones are
/// <see cref="Doras.Oci.Model.Annotations"/>).
/// </summary>
public static class DorasAnnotations
{
    /// <summary>Digest of a layer's uncompressed content: what a device verifies after applying a delta.</summary>
    public const string ContentDigest = "dev.doras.content.digest";
    public const string ContentSize = "dev.doras.content.size";
    /// <summary>Unix permission bits of a published file, in octal (e.g. "755"), restored on install.</summary>
    public const string FileMode = "dev.doras.file.mode";
    /// <summary>
    /// The platform (os/arch[/variant]) a build of a multi-platform version is for, in its own manifest: the index
    /// entry says it too, but only the manifest is covered by the manifest's signature.
    /// </summary>
    public const string Platform = "dev.doras.platform";

    public const string DeltaFrom = "dev.doras.delta.from";
    public const string DeltaTo = "dev.doras.delta.to";
    public const string DeltaAlgorithm = "dev.doras.delta.algorithm";
    /// <summary>The sizes of the deltas each candidate algorithm made, "name=bytes ...", when the server chose among several.</summary>
    public const string DeltaCandidates = "dev.doras.delta.candidates";
    /// <summary>On an image delta: what it does with each layer of the new image, e.g. "held rebuilt:tardiff fetch".</summary>
    public const string ImageDeltaLayers = "dev.doras.delta.image.layers";
    /// <summary>On an image delta: the bytes of the layers the device downloads itself (nothing smaller reproduces them).</summary>
    public const string ImageDeltaFetchBytes = "dev.doras.delta.image.fetch-bytes";
    /// <summary>On a placeholder at a delta's tag: "building" (by <see cref="DeltaOwner"/>) or "failed" (with <see cref="DeltaFailure"/>).</summary>
    public const string DeltaPlaceholder = "dev.doras.delta.placeholder";
    public const string DeltaOwner = "dev.doras.delta.owner";
    public const string DeltaFailure = "dev.doras.delta.failure";
    /// <summary>On a failed placeholder: <c>not-applicable</c> when the algorithms cannot make this delta at all (406, not 500).</summary>
    public const string DeltaFailureKind = "dev.doras.delta.failure-kind";
    /// <summary>On a failed placeholder: how many builds of this delta failed in a row (its failure stands the longer).</summary>
    public const string DeltaFailures = "dev.doras.delta.failures";
    /// <summary>The Go original's placeholder mark.</summary>
    public const string GoDeltaDummy = "com.unbasical.doras.delta.dummy";
    /// <summary>The Go original's keys, written too so its tooling recognises our deltas.</summary>
    public const string GoDeltaFrom = "com.unbasical.doras.delta.from";
    public const string GoDeltaTo = "com.unbasical.doras.delta.to";
}
