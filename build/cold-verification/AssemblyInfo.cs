using System.Runtime.Versioning;

// docker-registry, the linked end-to-end infrastructure and this measurement run on Linux only.
[assembly: SupportedOSPlatform("linux")]
