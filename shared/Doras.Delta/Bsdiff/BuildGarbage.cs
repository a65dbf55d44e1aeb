namespace Doras.Delta.Bsdiff;

/// <summary>
/// When a bsdiff build gives its large garbage back to the system: the suffix array, the covers' anchor table and,
/// once the raw parts are written, the versions themselves are each as large as a version or more, and the runtime
/// would otherwise hold their memory beside the next phase's (a build's peak would be the sum of two phases, not the
/// larger). An aggressive collection compacts and decommits; the versions are pinned (<see cref="AllocateVersion"/>),
/// so it moves only the small objects. It pauses the server's requests while it runs, so only builds of
/// <see cref="FromBytes"/> or more collect: they take a second or more anyway.
/// </summary>
internal static class BuildGarbage
{
    public const long FromBytes = 4 << 20;

    /// <summary>Collects now if <paramref name="bytes"/> (the versions' or the garbage's size) is <see cref="FromBytes"/> or more.</summary>
    public static void CollectFor(long bytes)
    {
        if (bytes >= FromBytes) GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>
    /// An array for a whole version, not zeroed first (it is read over). From <see cref="FromBytes"/> on it is on the
    /// pinned object heap, where a compacting collection never moves it (copying the firmware image's 480 MiB of
    /// versions cost each collection 0.8 s); smaller ones stay movable, so a long-running server's many small builds
    /// leave no holes in that heap, which is never compacted.
    /// </summary>
    public static byte[] AllocateVersion(int length) => GC.AllocateUninitializedArray<byte>(length, pinned: length >= FromBytes);
}
