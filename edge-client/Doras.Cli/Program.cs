using System.CommandLine;
using Doras.Cli;
using Doras.Cli.Commands;

var root = new RootCommand("Doras for .NET: delta updates of OCI artifacts for edge devices")
{
    PushCommand.Create(),
    PullCommand.Create(),
    RollbackCommand.Create(),
    ContentCommands.Download(),
    ContentCommands.Tags(),
    ContentCommands.Copy(),
    WatchCommand.Create(),
};
var parsed = root.Parse(args);
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    // One clear line, not a stack trace: scripts and people read this; and a code that says what kind of failure.
    var code = ExitCodes.For(e);
    Console.Error.WriteLine($"doras: {(code == ExitCodes.Cancelled ? "cancelled" : e.Message)}");
    if (args.Contains("--json"))
        Console.WriteLine(CliJson.Of(new JsonError(e.Message, code)));
    return code;
}
