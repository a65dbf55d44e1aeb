namespace Doras.Server.Stores;

/// <summary>Configuration section "Store": where content lives.</summary>
public sealed class StoreOptions
{
    public const string Section = "Store";

    /// <summary>The embedded OCI layout store: a directory, created if missing.</summary>
    public string Path { get; set; } = "doras-store";
}
