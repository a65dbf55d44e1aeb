using System.CommandLine;
using Doras.DeltaTool;

// doras-delta: diff, apply and signature, exit code 0 on success, 1 with one line on stderr otherwise.
var root = new RootCommand("doras-delta: make and apply binary deltas (zstd patch-from, Octodiff)")
{
    DeltaCommands.Diff(),
    DeltaCommands.Apply(),
    DeltaCommands.Signature(),
};
try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    Console.Error.WriteLine($"doras-delta: {e.Message}");
    return 1;
}
