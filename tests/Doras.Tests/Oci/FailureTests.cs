using System.Net;
using System.Reflection;
using Doras.Cli;
using Doras.Oci;
using Doras.Oci.Remote;

namespace Doras.Tests.Oci;

/// <summary>The failure taxonomy: every failure of ours says its kind, every kind has an exit code, registry errors stay data.</summary>
public class FailureTests
{
    private static readonly Assembly[] Ours =
    [
        typeof(FailureKind).Assembly, // Doras.Oci
        typeof(Doras.Delta.Algorithms.CorruptDeltaException).Assembly,
        typeof(Doras.EdgeClient.Updates.Updater).Assembly,
        typeof(Doras.Server.Problems.ApiProblem).Assembly,
        typeof(ExitCodes).Assembly,
    ];

    [Test]
    public void Every_exception_type_of_ours_has_a_kind()
    {
        var exceptions = Ours.SelectMany(a => a.GetTypes()).Where(t => typeof(Exception).IsAssignableFrom(t) && !t.IsAbstract).ToList();
        Assert.That(exceptions, Has.Count.GreaterThan(20), "the assemblies were scanned");
        Assert.That(exceptions.Where(t => !typeof(IFailure).IsAssignableFrom(t)).Select(t => t.FullName), Is.Empty,
            "an exception type without a kind: implement IFailure, so exit codes, fallbacks and problems know what it means");
    }

    [Test]
    public void Every_kind_has_an_exit_code()
    {
        foreach (var kind in Enum.GetValues<FailureKind>())
            Assert.That(() => ExitCodes.For(kind), Throws.Nothing, kind.ToString());
        Assert.That(ExitCodes.For(FailureKind.Internal), Is.EqualTo(ExitCodes.Failed));
    }

    [Test]
    public void Every_kind_but_cancelled_has_a_problem()
    {
        foreach (var kind in Enum.GetValues<FailureKind>().Where(k => k != FailureKind.Cancelled))
            Assert.That(Doras.Server.Problems.ApiProblem.For(kind, "why").Status, Is.InRange(400, 599), kind.ToString());
    }

    [Test]
    public async Task A_registry_error_keeps_its_codes_as_data_and_its_one_line_message()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.NotFound)
        {
            ReasonPhrase = "Not Found",
            Content = new StringContent("""{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v9"}},{"code":"NAME_UNKNOWN","message":"no such repository"}]}"""),
        };
        var e = (await Assert.ThrowsAsync<RegistryException>(() => RemoteRepository.EnsureSuccessAsync(response, "manifest fleet/tool:v9", CancellationToken.None)))!;
        Assert.That(e.Message, Is.EqualTo("manifest fleet/tool:v9: 404 Not Found MANIFEST_UNKNOWN: manifest unknown; NAME_UNKNOWN: no such repository"));
        Assert.That(e.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(e.Errors, Is.EqualTo(new[]
        {
            new RegistryError("MANIFEST_UNKNOWN", "manifest unknown", """{"Tag":"v9"}"""),
            new RegistryError("NAME_UNKNOWN", "no such repository"),
        }));
        Assert.That(e.Has("manifest_unknown"), Is.True);
        Assert.That(Failures.KindOf(e), Is.EqualTo(FailureKind.NotFound));
        Assert.That(ExitCodes.For(e), Is.EqualTo(ExitCodes.NotFound));
    }

    [Test]
    public void A_registry_error_that_is_not_the_spec_s_json_has_no_codes()
    {
        Assert.That(ErrorBody.Errors("<html><title>502 Bad Gateway</title></html>"), Is.Empty);
        Assert.That(ErrorBody.Errors("""{"errors":[{"code":"NAME_UNK"""), Is.Empty);
        Assert.That(ErrorBody.Errors(""), Is.Empty);
    }

    [TestCase(HttpStatusCode.TooManyRequests, FailureKind.Busy, true)]
    [TestCase(HttpStatusCode.InternalServerError, FailureKind.Network, true)]
    [TestCase(HttpStatusCode.Forbidden, FailureKind.Unauthorized, false)]
    [TestCase(HttpStatusCode.BadRequest, FailureKind.Network, false)]
    public void A_registry_error_s_kind_and_transience_come_from_its_status(HttpStatusCode status, FailureKind kind, bool transient)
    {
        var e = new RegistryException("x", status, []);
        Assert.That(Failures.KindOf(e), Is.EqualTo(kind));
        Assert.That(Transience.IsTransient(e), Is.EqualTo(transient));
    }

    [Test]
    public void Kinds_of_framework_failures()
    {
        Assert.That(Failures.KindOf(new OperationCanceledException()), Is.EqualTo(FailureKind.Cancelled));
        Assert.That(Failures.KindOf(new TaskCanceledException("HttpClient.Timeout", new TimeoutException())), Is.EqualTo(FailureKind.Network));
        Assert.That(Failures.KindOf(new IOException("No space left on device", 28)), Is.EqualTo(FailureKind.Storage));
        Assert.That(Failures.KindOf(new HttpRequestException("refused", null, HttpStatusCode.ServiceUnavailable)), Is.EqualTo(FailureKind.Busy));
        Assert.That(Failures.KindOf(new TimeoutException()), Is.EqualTo(FailureKind.Timeout));
        Assert.That(Failures.KindOf(new InvalidOperationException()), Is.EqualTo(FailureKind.Internal));
    }
}
