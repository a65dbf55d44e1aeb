using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Doras.Tests.Server;

/// <summary>
/// Issue 20, item 2: anonymous callers must not be able to grow the HTTP series (and with them <c>/metrics</c> and
/// the server's memory): made-up methods and paths all land in a few fixed series.
/// </summary>
public class HttpMetricsCardinalityTests
{
    private const int Distinct = 10_000;
    private const int Connections = 4;

    [Test]
    public async Task Ten_thousand_made_up_methods_and_paths_add_only_fixed_series()
    {
        await using var server = await RunningServer.StartAsync();
        var methods = Enumerable.Range(0, Distinct).Select(i => $"M{i:D6}X /healthz");
        var paths = Enumerable.Range(0, Distinct).Select(i => $"GET /made-up/{i}");
        var requests = methods.Concat(paths).ToList();
        await Task.WhenAll(Enumerable.Range(0, Connections).Select(c =>
            PipelineAsync(server.Url, requests.Where((_, i) => i % Connections == c).ToList())));

        var text = await MetricsText.ScrapeAsync(server.Http);
        var series = Regex.Matches(text, @"^http_requests_total\{([^}]*)\} (\S+)$", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        // Exactly the two series these requests can reach (routing answers an unknown method with 405 outside any
        // route), whatever the number of requests; the scrape itself is counted after it is written.
        Assert.That(series, Is.EquivalentTo(new Dictionary<string, double>
        {
            ["code=\"405\",method=\"other\",path=\"unmatched\""] = Distinct,
            ["code=\"404\",method=\"GET\",path=\"unmatched\""] = Distinct,
        }), text.Length > 4000 ? text[..4000] : text);
        Assert.That(Regex.Matches(text, "^http_request_duration_seconds_count", RegexOptions.Multiline), Has.Count.EqualTo(2));
    }

    /// <summary>
    /// Sends the requests pipelined on one loopback connection (the last one closes it) while reading the answers,
    /// so 20,000 requests take a second or two rather than one round trip each.
    /// </summary>
    private static async Task PipelineAsync(Uri server, IReadOnlyList<string> requests)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", server.Port);
        var stream = client.GetStream();
        var reading = stream.CopyToAsync(Stream.Null); // to the server's close, after the last answer
        var text = new StringBuilder();
        for (var i = 0; i < requests.Count; i++)
            text.Append($"{requests[i]} HTTP/1.1\r\nHost: 127.0.0.1\r\n{(i == requests.Count - 1 ? "Connection: close\r\n" : "")}\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text.ToString()));
        await reading.WaitAsync(TimeSpan.FromSeconds(60));
    }
}
