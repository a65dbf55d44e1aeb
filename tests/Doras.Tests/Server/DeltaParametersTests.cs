using Doras.Server.Endpoints;

namespace Doras.Tests.Server;

/// <summary>The delta query as the framework binds it, checked once for the delta API and the peer API's.</summary>
public class DeltaParametersTests
{
    [Test]
    public void An_image_parameter_given_twice_is_refused_naming_it_rather_than_joined()
    {
        var (query, problem) = new DeltaParameters(["app@sha256:a", "app@sha256:b"], null, ["app:v2"], ["zstd"], null).ToQuery();
        Assert.That(query, Is.Null);
        Assert.That(problem!.Status, Is.EqualTo(400));
        Assert.That(problem.Detail, Is.EqualTo("'from_digest' was given 2 times; give it once"));

        var (_, _, signatureProblem) = new SignatureParameters(null, ["app:v2", "app:v3"]).Target();
        Assert.That(signatureProblem!.Detail, Is.EqualTo("'to_tag' was given 2 times; give it once"));
    }

    [Test]
    public void Algorithms_are_read_repeated_or_comma_separated_and_empty_values_are_absent()
    {
        var (query, problem) = new DeltaParameters(["app@sha256:a"], [""], ["app:v2"], ["zstd, bsdiff", "auto", ""], "").ToQuery();
        Assert.That(problem, Is.Null);
        Assert.That(query!.AcceptedAlgorithms, Is.EqualTo(new[] { "zstd", "bsdiff", "auto" }));
        Assert.That(query.ToDigest, Is.Null);
        Assert.That(query.Platform, Is.Null);
        Assert.That(query.FromDigest, Is.EqualTo("app@sha256:a"));
    }
}
