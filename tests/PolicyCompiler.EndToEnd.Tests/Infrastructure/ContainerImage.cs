using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>Runs <c>build/image.sh</c>, the script that turns the published binary into an OCI image without docker.</summary>
public static class ImageScript
{
    public static string Path => System.IO.Path.Combine(RepositoryPaths.Root, "build", "image.sh");

    /// <summary>
    /// Builds the image of <paramref name="binary"/> into <paramref name="outputDirectory"/> (layout/ and the
    /// oci-archive), with a fixed SOURCE_DATE_EPOCH so that two builds can be compared byte for byte.
    /// </summary>
    public static async Task<ProcessResult> BuildAsync(string binary, string outputDirectory, string tag, string? pushReference = null, long sourceDateEpoch = 1_700_000_000)
    {
        var arguments = new List<string> { Path, "--binary", binary, "--output", outputDirectory, "--tag", tag };
        if (pushReference is not null)
        {
            arguments.AddRange(["--push", pushReference]);
        }

        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["SOURCE_DATE_EPOCH"] = sourceDateEpoch.ToString(CultureInfo.InvariantCulture),
            ["SKOPEO"] = OciImageBuilder.SkopeoExecutable,
        };
        var result = await ProcessRunner.RunAsync("bash", arguments, TimeSpan.FromMinutes(5), RepositoryPaths.Root, environment).ConfigureAwait(false);
        return result.EnsureSuccess();
    }
}

/// <summary>One entry of an image layer, as its tar header says.</summary>
public sealed record LayerEntry(string Name, TarEntryType Type, int Uid, int Gid, UnixFileMode Mode, DateTimeOffset ModificationTime, long Length);

/// <summary>
/// An OCI image layout read back from disk, every descriptor checked as the image spec requires: the blob
/// exists under blobs/sha256/, its length is the descriptor's size and its SHA-256 is the descriptor's digest.
/// </summary>
public sealed class OciLayoutImage
{
    private OciLayoutImage(string directory, JsonObject index, JsonObject indexEntry, byte[] manifestBytes, JsonObject manifest, byte[] configBytes, JsonObject config, JsonObject layerDescriptor)
    {
        Directory = directory;
        Index = index;
        IndexEntry = indexEntry;
        ManifestBytes = manifestBytes;
        Manifest = manifest;
        ConfigBytes = configBytes;
        Config = config;
        LayerDescriptor = layerDescriptor;
    }

    public string Directory { get; }

    public JsonObject Index { get; }

    /// <summary>The index.json entry of the tag.</summary>
    public JsonObject IndexEntry { get; }

    public byte[] ManifestBytes { get; }

    public string ManifestDigest => Digests.Sha256(ManifestBytes);

    public JsonObject Manifest { get; }

    public byte[] ConfigBytes { get; }

    public JsonObject Config { get; }

    /// <summary>The image's only layer (the script writes exactly one).</summary>
    public JsonObject LayerDescriptor { get; }

    public string LayerDigest => LayerDescriptor["digest"]!.GetValue<string>();

    public long LayerSize => LayerDescriptor["size"]!.GetValue<long>();

    public string LayerPath => BlobPath(LayerDigest);

    /// <summary>Compressed bytes a registry stores and a node pulls: layer, config and manifest.</summary>
    public long CompressedSize => LayerSize + ConfigBytes.Length + ManifestBytes.Length;

    public string? User => Config["config"]?["User"]?.GetValue<string>();

    public IReadOnlyList<string> Entrypoint => Config["config"]?["Entrypoint"] is JsonArray a ? [.. a.Select(e => e!.GetValue<string>())] : [];

    public IReadOnlyList<string> Env => Config["config"]?["Env"] is JsonArray a ? [.. a.Select(e => e!.GetValue<string>())] : [];

    public static OciLayoutImage Read(string directory, string tag)
    {
        var layoutVersion = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(directory, "oci-layout")))!["imageLayoutVersion"]?.GetValue<string>();
        if (layoutVersion != "1.0.0")
        {
            throw new InvalidDataException($"{directory}/oci-layout names version {layoutVersion ?? "none"}, not 1.0.0");
        }

        var index = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(directory, "index.json")))!.AsObject();
        var entries = index["manifests"]!.AsArray().Select(m => m!.AsObject()).ToList();
        // skopeo writes the tag as the ref.name annotation, as the spec's image layout describes.
        var entry = entries.SingleOrDefault(m => m["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>() == tag)
            ?? throw new InvalidDataException($"index.json of {directory} has no manifest tagged {tag}: {index.ToJsonString()}");

        var manifestBytes = ReadBlob(directory, entry);
        var manifest = JsonNode.Parse(manifestBytes)!.AsObject();
        var configBytes = ReadBlob(directory, manifest["config"]!.AsObject());
        var config = JsonNode.Parse(configBytes)!.AsObject();
        var layers = manifest["layers"]!.AsArray();
        if (layers.Count != 1)
        {
            throw new InvalidDataException($"expected one layer, the manifest has {layers.Count}");
        }

        var layer = layers[0]!.AsObject();
        _ = ReadBlob(directory, layer);
        return new OciLayoutImage(directory, index, entry, manifestBytes, manifest, configBytes, config, layer);
    }

    public string BlobPath(string digest) => System.IO.Path.Combine(Directory, "blobs", "sha256", Digests.Hex(digest));

    /// <summary>The entries of the layer in tar order, and the SHA-256 of the uncompressed tar (the config's diff_id).</summary>
    public (IReadOnlyList<LayerEntry> Entries, string DiffId, long UncompressedSize) ReadLayer()
    {
        var entries = new List<LayerEntry>();
        using var file = File.OpenRead(LayerPath);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var hashing = new HashingStream(gzip);
        using (var reader = new TarReader(hashing, leaveOpen: true))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                var (uid, gid) = entry is PosixTarEntry posix ? (posix.Uid, posix.Gid) : (-1, -1);
                entries.Add(new LayerEntry(entry.Name.TrimEnd('/'), entry.EntryType, uid, gid, entry.Mode, entry.ModificationTime, entry.Length));
            }
        }

        // The tar reader stops at the end-of-archive marker; the diff_id covers the whole stream.
        hashing.CopyTo(Stream.Null);
        return (entries, hashing.Digest(), hashing.Length);
    }

    private static byte[] ReadBlob(string directory, JsonObject descriptor)
    {
        var digest = descriptor["digest"]!.GetValue<string>();
        var size = descriptor["size"]!.GetValue<long>();
        var path = System.IO.Path.Combine(directory, "blobs", "sha256", Digests.Hex(digest));
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != size)
        {
            throw new InvalidDataException($"blob {digest} is {bytes.Length} bytes, its descriptor says {size}");
        }

        if (Digests.Sha256(bytes) != digest)
        {
            throw new InvalidDataException($"blob {digest} hashes to {Digests.Sha256(bytes)}");
        }

        return bytes;
    }

    /// <summary>Reads through another stream, hashing and counting what passes.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => Position;

        public override long Position { get; set; }

        public string Digest() => "sha256:" + Convert.ToHexStringLower(_hash.GetHashAndReset());

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = inner.Read(buffer);
            _hash.AppendData(buffer[..read]);
            Position += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// The webhook run from an unpacked image as a container runtime would run it, so that a file missing from the
/// image fails the start or a review: <c>unshare --root</c> (chroot(2) into the layer's files) with the config's
/// WorkingDir, User (numeric, supplementary groups dropped) and Env (and no other variable). A private mount
/// namespace gets its own /proc, as runtimes mount one; it disappears with the process, so no cleanup can be missed
/// and deleting the folder never meets a mount. The runtime's /dev nodes are made by <see cref="AddDeviceNodesAsync"/>.
/// The network is the host's, so the test registry on 127.0.0.1 is reachable. Needs root, as the e2e suite runs in CI.
/// </summary>
public sealed class ContainerRun : IDisposable
{
    private readonly ChildProcess _process;

    private ContainerRun(ChildProcess process, int port, HttpClient client, TimeSpan startTime)
    {
        _process = process;
        Port = port;
        Client = client;
        StartTime = startTime;
    }

    public int Port { get; }

    public HttpClient Client { get; }

    /// <summary>From starting the process to the first 200 of <c>GET /healthz</c>.</summary>
    public TimeSpan StartTime { get; }

    /// <summary>The webhook's pid: env and unshare exec it (no fork), so it is the pid that was started.</summary>
    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Describe() => $"webhook from the image on :{Port} ({(HasExited ? "exited " + _process.ExitCode : "running")}), started as: {_process.DisplayName}\nlog:\n{_process.LogTail()}";

    /// <summary>A line of /proc/&lt;pid&gt;/status, e.g. <c>VmRSS</c> or <c>Uid</c>, without its label.</summary>
    public string Status(string field)
    {
        foreach (var line in File.ReadAllLines($"/proc/{ProcessId.ToString(CultureInfo.InvariantCulture)}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return line[(field.Length + 1)..].Trim();
            }
        }

        throw new InvalidOperationException($"/proc/{ProcessId}/status has no {field}");
    }

    /// <summary>The mount the webhook sees as <c>/</c>, from its own /proc/&lt;pid&gt;/mountinfo (paths there are relative to its root).</summary>
    public (string MountPoint, string Options) RootMount() => Mounts().Last(m => m.MountPoint == "/");

    /// <summary>Every mount point the webhook sees.</summary>
    public IEnumerable<string> MountPoints() => Mounts().Select(m => m.MountPoint);

    private List<(string MountPoint, string Options)> Mounts() =>
        [.. File.ReadAllLines($"/proc/{ProcessId.ToString(CultureInfo.InvariantCulture)}/mountinfo")
            .Select(line => line.Split(' '))
            // Fields: id, parent, major:minor, root, mount point, per-mount options, …
            .Select(fields => (fields[4], fields[5]))];

    /// <summary>Resident memory in KiB.</summary>
    public long ResidentKib() => long.Parse(Status("VmRSS").Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);

    /// <summary>
    /// The character devices every OCI runtime provides in /dev. The webhook needs /dev/urandom: the type initializer of
    /// System.Diagnostics.Activity calls Guid.NewGuid, which reads it; without it the first request breaks that type
    /// and every request fails.
    /// </summary>
    public static async Task AddDeviceNodesAsync(string rootfs)
    {
        var dev = Directory.CreateDirectory(Path.Combine(rootfs, "dev")).FullName;
        foreach (var (name, minor) in new[] { ("null", "3"), ("zero", "5"), ("random", "8"), ("urandom", "9") })
        {
            (await ProcessRunner.RunAsync("mknod", ["-m", "666", Path.Combine(dev, name), "c", "1", minor], TimeSpan.FromSeconds(30)).ConfigureAwait(false)).EnsureSuccess();
        }
    }

    /// <param name="rootfs">The unpacked layer.</param>
    /// <param name="config">The image config (its <c>config</c> object: User, Entrypoint, Env, WorkingDir).</param>
    /// <param name="arguments">Arguments after the entrypoint (as a pod's <c>args</c>); paths are inside the image.</param>
    /// <param name="readOnlyRoot">
    /// Mount the image's files read-only, as a Deployment with <c>readOnlyRootFilesystem: true</c> does: a private mount
    /// namespace binds the folder onto itself, remounts that bind read-only, then chroots into it. A write anywhere in
    /// the image then fails with EROFS, so a webhook that needs a writable path fails its start or a review here.
    /// </param>
    public static async Task<ContainerRun> StartAsync(string rootfs, JsonObject config, TestCertificate certificate, IEnumerable<string> arguments, bool readOnlyRoot = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(certificate);
        var user = config["User"]?.GetValue<string>() ?? throw new InvalidOperationException("the image config has no User");
        var ids = user.Split(':');
        if (ids.Length != 2 || !ids.All(id => id.All(char.IsAsciiDigit)))
        {
            throw new InvalidOperationException($"User '{user}' is not numeric uid:gid; a name would have to be looked up in the image's /etc/passwd, which this runner does not do");
        }

        var entrypoint = config["Entrypoint"] is JsonArray entries ? entries.Select(x => x!.GetValue<string>()).ToList() : throw new InvalidOperationException("the image config has no Entrypoint");
        var environment = config["Env"] is JsonArray env ? env.Select(x => x!.GetValue<string>()).ToList() : [];
        var workingDirectory = config["WorkingDir"]?.GetValue<string>() is { Length: > 0 } wd ? wd : "/";

        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var port = FreeTcpPort.Pick();
            // env -i: the process gets the config's Env, not the test host's variables.
            List<string> chroot =
            [
                "/usr/bin/unshare", "--mount", "--propagation", "private", "--root=" + rootfs, "--wd=" + workingDirectory, "--mount-proc=/proc",
                "--setgid=" + ids[1], "--setuid=" + ids[0],
                .. entrypoint,
                "--urls", "https://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
                .. arguments,
            ];

            // The read-only bind is made in a namespace of its own (the outer unshare) so that it disappears with the
            // process; every step execs the next, so the started pid is still the webhook's.
            List<string> command = readOnlyRoot
                ?
                [
                    "-i", .. environment,
                    "/usr/bin/unshare", "--mount", "--propagation", "private",
                    "/bin/sh", "-c", "/usr/bin/mount --bind \"$0\" \"$0\" && /usr/bin/mount -o remount,bind,ro \"$0\" && exec \"$@\"", rootfs,
                    .. chroot,
                ]
                : ["-i", .. environment, .. chroot];
            var stopwatch = Stopwatch.StartNew();
            var process = ChildProcess.Start("/usr/bin/env", command);
            var client = certificate.CreatePinnedClient(new Uri("https://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture) + "/"), TimeSpan.FromSeconds(90));
            string last = "no answer yet";
            try
            {
                // Poll often: the time to the first answer is one of the figures the test reports.
                while (stopwatch.Elapsed < TimeSpan.FromSeconds(30))
                {
                    if (process.HasExited)
                    {
                        break;
                    }

                    try
                    {
                        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                        using var response = await client.GetAsync(new Uri("healthz", UriKind.Relative), timeout.Token).ConfigureAwait(false);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            return new ContainerRun(process, port, client, stopwatch.Elapsed);
                        }

                        last = "GET /healthz answered " + (int)response.StatusCode;
                    }
                    catch (HttpRequestException e)
                    {
                        last = e.Message;
                    }
                    catch (OperationCanceledException)
                    {
                        last = "GET /healthz timed out";
                    }

                    await Task.Delay(10).ConfigureAwait(false);
                }

                // Let the output of an exited process be read to the end before it goes into the message.
                process.Dispose();
                if (attempt < attempts && process.Log.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                {
                    client.Dispose();
                    continue;
                }

                throw new InvalidOperationException($"the webhook run from the image did not answer GET /healthz with 200 (last: {last}); exit {process.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}, started as {process.DisplayName}\nlog:\n{process.LogTail()}");
            }
            catch
            {
                client.Dispose();
                process.Dispose();
                throw;
            }
        }
    }

    public void Dispose()
    {
        Client.Dispose();
        _process.Dispose();
    }
}
