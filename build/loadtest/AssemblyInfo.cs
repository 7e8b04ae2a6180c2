// The load test drives Linux processes (docker-registry, wrk, /proc readings) like the end-to-end tests it borrows from.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
