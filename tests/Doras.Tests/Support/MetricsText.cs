using System.Globalization;

namespace Doras.Tests.Support;

/// <summary>Reads series out of a Prometheus text exposition, as a scraper would.</summary>
public static class MetricsText
{
    public static async Task<string> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/metrics");
        Assert.That((int)response.StatusCode, Is.EqualTo(200));
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of exactly this series (name with its labels as exposed, e.g. <c>a_total{x="y"}</c>); null when absent.</summary>
    public static double? Value(string text, string series)
    {
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
        return null;
    }
}
