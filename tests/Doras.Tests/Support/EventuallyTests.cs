using System.Diagnostics;

namespace Doras.Tests.Support;

/// <summary>The one polling helper fails in words a reader can act on, within its bound, and returns what it waited for.</summary>
public class EventuallyTests
{
    [Test]
    public async Task Returns_the_first_answer_that_satisfies_the_condition()
    {
        var asked = 0;
        var answer = await Eventually.UntilAsync(() => ++asked, n => n == 3, TimeSpan.FromSeconds(10), "the third ask", TimeSpan.FromMilliseconds(1));
        Assert.That((answer, asked), Is.EqualTo((3, 3)));
    }

    [Test]
    public async Task Fails_at_its_bound_naming_what_did_not_happen_and_the_last_value_seen()
    {
        var clock = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<AssertionException>(() =>
            Eventually.UntilAsync(() => "still building", s => s == "ready", TimeSpan.FromMilliseconds(300), "the delta is ready", TimeSpan.FromMilliseconds(20)));
        Assert.That(failure!.Message, Does.Contain("the delta is ready: not within 0.3 s (last seen: still building)"));
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(300)).And.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task The_non_failing_form_says_whether_the_condition_came_to_hold()
    {
        Assert.That(await Eventually.HoldsWithinAsync(() => false, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(10)), Is.False);
        var asked = 0;
        Assert.That(await Eventually.HoldsWithinAsync(() => ++asked >= 2, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(1)), Is.True);
    }
}
