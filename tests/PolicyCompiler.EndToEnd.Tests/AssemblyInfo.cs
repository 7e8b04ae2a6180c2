using System.Runtime.Versioning;

// The parts these tests drive (Debian's docker-registry, skopeo, the linux-x64 NativeAOT webhook) exist on Linux only.
[assembly: SupportedOSPlatform("linux")]
