using Doras.Oci.Remote;

namespace Doras.Tests.EdgeClient;

public class ErrorBodyTests
{
    [TestCase("""{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v9"}}]}""", "MANIFEST_UNKNOWN: manifest unknown")]
    [TestCase("""{"errors":[{"code":"DENIED","message":"denied"},{"code":"UNAUTHORIZED","message":"authentication required"}]}""", "DENIED: denied; UNAUTHORIZED: authentication required")]
    [TestCase("""{"type":"about:blank","title":"Unauthorized","status":401,"detail":"send the Authorization header (Registry:RequireClientAuth)"}""", "send the Authorization header (Registry:RequireClientAuth)")]
    [TestCase("<html>\n  <body>Bad gateway</body>\n</html>", "an HTML page, not a registry's answer")]
    [TestCase("<html><head><title>502 Bad Gateway</title></head></html>", "an HTML page ('502 Bad Gateway'), not a registry's answer")]
    [TestCase("""{"errors":[{"code":"NAME_UNKNOWN","mess""", """{"errors":[{"code":"NAME_UNKNOWN","mess""")]
    [TestCase("", "")]
    public void An_error_body_becomes_one_line(string body, string line) => Assert.That(ErrorBody.Describe(body), Is.EqualTo(line));
}
