using Doras.Delta.Algorithms;

namespace Doras.Server.Precompute;

/// <summary>Configuration section "Precompute": building deltas to a new version as soon as it is published.</summary>
public sealed class PrecomputeOptions
{
    public const string Section = "Precompute";

    /// <summary>Deltas are built to a new version from this many earlier versions of its repository (by creation time); 0 turns precomputing off.</summary>
    public int PreviousVersions { get; set; } = 3;

    /// <summary>
    /// The accepted algorithms the precomputed deltas are made for: <c>auto</c> over every algorithm this server knows,
    /// the name the edge client's default list finds its deltas under on a device with every library (a device
    /// without one cannot apply what it lacks: when that is what was chosen, it gets its own build). Not the
    /// server's own <see cref="DeltaAlgorithms.DeviceDefaults"/>: a server without liblzma would store them under a
    /// name no full list looks for. (A list in configuration: <c>Precompute:Algorithms:0</c>, …; replaces the default.)
    /// </summary>
    public List<string> Algorithms { get; set; } = [];

    public IReadOnlyList<string> EffectiveAlgorithms => Algorithms.Count > 0
        ? Algorithms
        : [DeltaAlgorithms.Auto];

    /// <summary>
    /// Registry mode: the secret the registry's notification endpoint sends (<c>Authorization: Bearer SECRET</c>); empty
    /// turns the webhook off (every notification gets 401).
    /// </summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Largest notification body accepted (413 beyond).</summary>
    public long MaxNotificationBytes { get; set; } = 1 << 20;

    /// <summary>Most events in one notification (413 beyond).</summary>
    public int MaxEventsPerNotification { get; set; } = 200;

    /// <summary>Published versions waiting to be looked at; a notification that finds no room gets 503 and the registry sends it again.</summary>
    public int PendingVersions { get; set; } = 256;

    /// <summary>Most tags of a repository looked at to find the previous versions.</summary>
    public int MaxTagsScanned { get; set; } = 1000;

    /// <summary>Embedded store: how often the server looks for new tags (the <c>doras push --store</c> command writes the store directly); zero turns it off.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(10);
}
