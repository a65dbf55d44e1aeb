using System.CommandLine;
using Doras.Demo;

// dotnet run --project edge-client/Doras.Demo [-- --from OLD --to NEW] [--dir DIR]
try
{
    return await DemoCommand.Create().Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    Console.Error.WriteLine($"doras-demo: {e.Message}");
    return 1;
}
