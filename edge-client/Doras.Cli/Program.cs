using System.CommandLine;
using Doras.Cli;
using Doras.Cli.Commands;

var root = new RootCommand("Doras for .NET: delta updates of OCI artifacts for edge devices")
{
    PushCommand.Create(),
    SignCommand.Create(),
    PullCommand.Create(),
    RollbackCommand.Create(),
    ContentCommands.Download(),
    ContentCommands.Tags(),
    ContentCommands.Copy(),
    RegistryCommands.Catalog(),
    RegistryCommands.Referrers(),
    RegistryCommands.Delete(),
    WatchCommand.Create(),
};
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // A command line that does not parse is a usage error (2), like every other one.
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"doras: {error.Message}");
    return ExitCodes.Usage;
}
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    // One clear line, not a stack trace: scripts and people read this; and a code that says what kind of failure.
    var code = ExitCodes.For(e);
    var message = code == ExitCodes.Cancelled ? "cancelled" : Messages.For(e);
    Console.Error.WriteLine($"doras: {message}");
    if (args.Contains("--json"))
        Console.WriteLine(CliJson.Of(new JsonError(message, code)));
    return code;
}
