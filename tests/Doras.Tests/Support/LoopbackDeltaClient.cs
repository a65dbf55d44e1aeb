using Doras.EdgeClient.Deltas;

namespace Doras.Tests.Support;

/// <summary>A delta client for a test server on loopback, which speaks plain HTTP: allowed explicitly, as a user must.</summary>
public static class LoopbackDeltaClient
{
    public static DeltaClient Create(Uri server, BackoffOptions? backoff = null, HttpMessageHandler? transport = null, IServerTokenProvider? tokens = null) =>
        new(server, new DeltaClientOptions { AllowHttp = true, Backoff = backoff ?? new BackoffOptions(), TokenProvider = tokens }, transport);
}
