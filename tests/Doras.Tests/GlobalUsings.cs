global using NUnit.Framework;
global using Doras.Tests.Support;

// Doras targets Linux devices and servers: tests use Unix file modes and symlinks.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// Fixtures run side by side (their tests one after another): most of a test's time is waiting on a server, a
// registry or a process, so two cores are not the limit. A fixture that changes process-wide state (environment
// variables, mounts) or measures the machine is [NonParallelizable].
[assembly: Parallelizable(ParallelScope.Fixtures)]
[assembly: LevelOfParallelism(4)]
