namespace Doras.EdgeClient.Updates.Download;

/// <summary>The one free-space rule: what is needed must fit and still leave the reserve; the refusal names both.</summary>
internal static class FreeSpace
{
    public static void Ensure(string directory, long needed, long reserve, string what)
    {
        var available = new DriveInfo(directory).AvailableFreeSpace;
        if (available - needed < reserve)
            throw new InsufficientStorageException(
                $"the update needs {needed} bytes in {directory} ({what}, and {reserve} bytes kept free), but only {available} bytes are free");
    }
}
