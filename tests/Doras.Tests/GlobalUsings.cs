global using NUnit.Framework;
global using Doras.Tests.Support;

// Doras targets Linux devices and servers: tests use Unix file modes and symlinks.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
