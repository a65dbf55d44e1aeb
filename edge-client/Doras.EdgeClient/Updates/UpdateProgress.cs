namespace Doras.EdgeClient.Updates;

public enum UpdatePhase { Checking, WaitingForDelta, Downloading, Applying, Installing, Done }

/// <summary>Where an update stands, for agents that show or log progress: phase, and bytes for downloads.</summary>
public sealed record UpdateProgress(UpdatePhase Phase, long Bytes = 0, long? Total = null, string? Detail = null);
