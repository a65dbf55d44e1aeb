using Doras.Oci;

namespace Doras.Cli;

/// <summary>Distinct exit codes for distinct failures, so an update agent can react without parsing text.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Network = 3;
    public const int Verification = 4;
    public const int Storage = 5;
    public const int TooLarge = 6;
    public const int Unauthorized = 7;
    public const int NotFound = 8;
    public const int OverDataBudget = 9;
    public const int Locked = 10;
    public const int Untrusted = 11;
    public const int Downgrade = 12;
    public const int Cancelled = 130;

    public static int For(Exception e) => For(Failures.KindOf(e));

    /// <summary>The one table from a failure's kind to its code (the README's exit-code table says the same).</summary>
    public static int For(FailureKind kind) => kind switch
    {
        FailureKind.Internal => Failed,
        FailureKind.Cancelled => Cancelled,
        FailureKind.Usage => Usage,
        FailureKind.Locked => Locked,
        FailureKind.Untrusted => Untrusted,
        FailureKind.Downgrade => Downgrade,
        FailureKind.Storage => Storage,
        FailureKind.OverBudget => OverDataBudget,
        FailureKind.TooLarge => TooLarge,
        FailureKind.Unauthorized => Unauthorized,
        FailureKind.NotFound => NotFound,
        FailureKind.Verification or FailureKind.Incompatible => Verification,
        FailureKind.Timeout or FailureKind.Network or FailureKind.Busy => Network,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "a failure kind without an exit code"),
    };
}
