namespace Doras.Server.Stores;

/// <summary>
/// Wraps the transport of the server's own registry client (never a caller's): how another folder (peering's pull
/// delegation) takes part in the server's pulls without the stores knowing it.
/// </summary>
public interface IRegistryTransportWrapper
{
    HttpMessageHandler Wrap(HttpMessageHandler transport);
}
