using System.IO.Compression;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;

namespace Doras.Tests.EdgeClient;

/// <summary>`dotnet pack` of the library gives the one package a device agent references, without warnings.</summary>
public class PackageTests
{
    [Test, CancelAfter(900_000)]
    public void The_edge_client_packs_into_one_trimmable_package_with_its_libraries_inside_and_no_warnings()
    {
        using var dir = new TempDirectory();
        var noNodeReuse = new Dictionary<string, string?> { ["MSBUILDDISABLENODEREUSE"] = "1" };
        using (var process = ExternalTool.Start("dotnet", ["pack", Path.Combine(Binaries.RepositoryRoot, "edge-client/Doras.EdgeClient"), "-c", "Release", "-o", dir["packages"],
            "-nodeReuse:false", "-p:UseSharedCompilation=false", "-warnaserror", "-nologo", "-clp:Summary"], new ToolOptions { Environment = noNodeReuse }))
        {
            Assert.That(process.WaitForExit(TimeSpan.FromMinutes(14)), Is.True, "dotnet pack took over 14 minutes");
            Assert.That(process.ExitCode, Is.Zero, process.Stdout + process.Stderr);
            Assert.That(process.Stdout, Does.Contain("0 Warning(s)"));
        }

        // The package's version is the one every assembly reports in its User-Agent.
        Assert.That(Doras.Oci.Remote.ClientIdentity.UserAgent, Does.StartWith("doras-dotnet/0.2.0+"));
        using var package = ZipFile.OpenRead(dir["packages/Doras.EdgeClient.0.2.0.nupkg"]);
        var libraries = package.Entries.Where(e => e.FullName.StartsWith("lib/net10.0/") && e.Name.EndsWith(".dll")).Select(e => e.Name).Order().ToArray();
        Assert.That(libraries, Is.EqualTo(new[] { "Doras.Api.dll", "Doras.Delta.dll", "Doras.EdgeClient.dll", "Doras.Oci.dll", "Doras.Signing.dll" }));

        using var nuspecStream = package.Entries.Single(e => e.FullName.EndsWith(".nuspec")).Open();
        var nuspec = XDocument.Load(nuspecStream);
        var dependencies = nuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (string)e.Attribute("id")!).Order().ToArray();
        Assert.That(dependencies, Is.EqualTo(new[] { "BouncyCastle.Cryptography", "Microsoft.Extensions.Logging.Abstractions", "Polly.Core", "ZstdSharp.Port" }));

        // IsAotCompatible marks each assembly trimmable, which is what trimming and AOT tools read.
        foreach (var library in libraries)
            Assert.That(Metadata(package.GetEntry("lib/net10.0/" + library)!), Does.Contain("IsTrimmable=True"), library);

        // The README's agent sample, built as an agent would: a project that references the package just packed.
        Directory.CreateDirectory(dir["agent"]);
        File.WriteAllText(dir["agent/Program.cs"], ReadmeAgentSample());
        File.WriteAllText(dir["agent/agent.csproj"], $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <IsAotCompatible>true</IsAotCompatible>
                <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                <RestoreAdditionalProjectSources>{dir["packages"]}</RestoreAdditionalProjectSources>
                <!-- Its own package folder: a Doras.EdgeClient 0.2.0 cached by an earlier run must not stand in for this one. -->
                <RestorePackagesPath>{dir["agent-packages"]}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup><PackageReference Include="Doras.EdgeClient" Version="0.2.0" /></ItemGroup>
            </Project>
            """);
        // Run from outside this repository, so its Directory.*.props do not apply: the agent is a stranger's project.
        var (code, built) = ExternalTool.Run("dotnet", ["build", dir["agent/agent.csproj"], "-warnaserror", "-nodeReuse:false", "-p:UseSharedCompilation=false", "-nologo"],
            new ToolOptions { WorkingDirectory = dir["agent"], Environment = noNodeReuse, Limit = TimeSpan.FromMinutes(10) });
        Assert.That(code, Is.Zero, built);
    }

    /// <summary>The C# block after "An agent's update step" in the README.</summary>
    private static string ReadmeAgentSample()
    {
        var readme = File.ReadAllText(Path.Combine(Binaries.RepositoryRoot, "README.md"));
        var start = readme.IndexOf("```csharp", readme.IndexOf("An agent's update step", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThan(0), "the README's agent sample");
        start = readme.IndexOf('\n', start) + 1;
        return readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];
    }

    /// <summary>The assembly's AssemblyMetadata attributes, as "key=value".</summary>
    private static List<string> Metadata(ZipArchiveEntry entry)
    {
        var bytes = new MemoryStream();
        using (var stream = entry.Open()) stream.CopyTo(bytes);
        bytes.Position = 0;
        using var pe = new PEReader(bytes);
        var reader = pe.GetMetadataReader();
        var result = new List<string>();
        foreach (var handle in reader.GetAssemblyDefinition().GetCustomAttributes())
        {
            var attribute = reader.GetCustomAttribute(handle);
            if (attribute.Constructor.Kind != HandleKind.MemberReference) continue;
            var type = reader.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent;
            if (type.Kind != HandleKind.TypeReference || reader.GetString(reader.GetTypeReference((TypeReferenceHandle)type).Name) != nameof(AssemblyMetadataAttribute)) continue;
            var value = reader.GetBlobReader(attribute.Value);
            value.ReadUInt16(); // prolog
            result.Add($"{value.ReadSerializedString()}={value.ReadSerializedString()}");
        }
        return result;
    }
}
