namespace Doras.Server.Access;

/// <summary>
/// Repositories holding the server's own working state, which no caller may read whatever the store lets the server
/// read. Registered by the features that keep such state (peering), as many as there are.
/// </summary>
public interface IPrivateRepositories
{
    bool IsPrivate(string repository);
}
