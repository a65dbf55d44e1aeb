using System.CommandLine;
using Doras.Cli.Commands;

var root = new RootCommand("Doras for .NET: delta updates of OCI artifacts for edge devices")
{
    PushCommand.Create(),
    PullCommand.Create(),
    DemoCommand.Create(),
    ContentCommands.Download(),
    ContentCommands.Tags(),
    ContentCommands.Copy(),
};
var parsed = root.Parse(args);
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("doras: cancelled");
    return 130;
}
catch (Exception e)
{
    // One clear line, not a stack trace: scripts and people read this.
    Console.Error.WriteLine($"doras: {e.Message}");
    return 1;
}
