global using NUnit.Framework;
global using Doras.Tests.Support;
