using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>
/// Debian's <c>docker-registry</c> (distribution 2.8), plain HTTP on 127.0.0.1 and a free port, serving a temp
/// folder; killed on dispose. With the few pushes the runtime's own registry tests need (blobs, manifests, indexes,
/// cosign signatures), made over the distribution API with a plain HttpClient.
/// </summary>
internal sealed class DockerRegistryProcess : IDisposable
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string CosignSignatureAnnotation = "dev.cosignproject.cosign/signature";

    private readonly Process _process;
    private readonly DirectoryInfo _directory;
    private readonly StringBuilder _log = new();

    private DockerRegistryProcess(Process process, DirectoryInfo directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://{Host}/"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public static string Executable => Environment.GetEnvironmentVariable("POLICYCOMPILER_E2E_REGISTRY") ?? "/usr/bin/docker-registry";

    public int Port { get; }

    public string Host => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public HttpClient Http { get; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public static async Task<DockerRegistryProcess> StartAsync()
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException($"{Executable} is missing: install Debian's docker-registry package (build/test.sh does), or point POLICYCOMPILER_E2E_REGISTRY at the binary");
        }

        for (var attempt = 1; ; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("policycompiler-runtime-registry-");
            var port = FreePort();
            var config = Path.Combine(directory.FullName, "config.yml");
            File.WriteAllText(config, $"""
                version: 0.1
                log:
                  level: warn
                storage:
                  filesystem:
                    rootdirectory: "{Path.Combine(directory.FullName, "storage")}"
                http:
                  addr: "127.0.0.1:{port}"
                  secret: "{Guid.NewGuid():N}"
                """);
            var process = new Process
            {
                StartInfo = new ProcessStartInfo(Executable) { ArgumentList = { "serve", config }, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false },
                EnableRaisingEvents = true,
            };
            var registry = new DockerRegistryProcess(process, directory, port);
            process.OutputDataReceived += (_, e) => registry.Append(e.Data);
            process.ErrorDataReceived += (_, e) => registry.Append(e.Data);
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await registry.WaitUntilAnsweringAsync();
                return registry;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                registry.Dispose();
            }
            catch
            {
                registry.Dispose();
                throw;
            }
        }
    }

    /// <summary>Pushes a one-layer image (unique content) as <paramref name="tag"/> and returns its manifest digest.</summary>
    public async Task<string> PushImageAsync(string repository, string tag, string platform = "amd64")
    {
        var layer = await PushBlobAsync(repository, Encoding.UTF8.GetBytes("layer " + Guid.NewGuid()));
        var config = await PushBlobAsync(repository, Encoding.UTF8.GetBytes($$$"""{"architecture":"{{{platform}}}","os":"linux","rootfs":{"type":"layers","diff_ids":["{{{layer.Digest}}}"]}}"""));
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciManifest,
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", config),
            ["layers"] = new JsonArray(Descriptor("application/vnd.oci.image.layer.v1.tar", layer)),
        };
        return await PutManifestAsync(repository, tag, OciManifest, Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }

    /// <summary>Pushes two platform images by digest and an OCI index of them as <paramref name="tag"/>; returns the index digest and the children.</summary>
    public async Task<(string Index, string[] Children)> PushIndexAsync(string repository, string tag)
    {
        var children = new List<(string Digest, int Size, string Architecture)>();
        foreach (var architecture in new[] { "amd64", "arm64" })
        {
            var digest = await PushImageAsync(repository, "build-" + architecture + "-" + Guid.NewGuid().ToString("N")[..8], architecture);
            using var response = await Http.GetAsync(new Uri($"v2/{repository}/manifests/{digest}", UriKind.Relative));
            children.Add((digest, (await response.Content.ReadAsByteArrayAsync()).Length, architecture));
        }

        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciIndex,
            ["manifests"] = new JsonArray([.. children.Select(c => (JsonNode)new JsonObject
            {
                ["mediaType"] = OciManifest,
                ["digest"] = c.Digest,
                ["size"] = c.Size,
                ["platform"] = new JsonObject { ["architecture"] = c.Architecture, ["os"] = "linux" },
            })]),
        };
        var indexDigest = await PutManifestAsync(repository, tag, OciIndex, Encoding.UTF8.GetBytes(index.ToJsonString()));
        return (indexDigest, [.. children.Select(c => c.Digest)]);
    }

    /// <summary>Pushes a cosign signature of <paramref name="imageDigest"/> (the payload names <paramref name="imageRepository"/>) into <paramref name="signatureRepository"/>.</summary>
    public async Task PushSignatureAsync(ECDsa key, string imageRepository, string imageDigest, string signatureRepository)
    {
        var payload = Encoding.UTF8.GetBytes($$$"""{"critical":{"identity":{"docker-reference":"{{{Host}}}/{{{imageRepository}}}"},"image":{"docker-manifest-digest":"{{{imageDigest}}}"},"type":"cosign container image signature"},"optional":null}""");
        var signature = Convert.ToBase64String(key.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        var layer = await PushBlobAsync(signatureRepository, payload);
        var config = await PushBlobAsync(signatureRepository, Encoding.UTF8.GetBytes($$$"""{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":["{{{layer.Digest}}}"]},"config":{}}"""));
        var layerDescriptor = Descriptor("application/vnd.dev.cosign.simplesigning.v1+json", layer);
        layerDescriptor["annotations"] = new JsonObject { [CosignSignatureAnnotation] = signature };
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciManifest,
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", config),
            ["layers"] = new JsonArray(layerDescriptor),
        };
        await PutManifestAsync(signatureRepository, imageDigest.Replace(':', '-') + ".sig", OciManifest, Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }

    /// <summary>
    /// Attaches <paramref name="manifest"/> (whose <c>subject</c> is <paramref name="subjectDigest"/>) as an OCI 1.1
    /// referrer: pushed by digest, then listed in the referrers tag schema's index (<c>sha256-&lt;hex&gt;</c>), as
    /// clients such as go-containerregistry do for a registry without the referrers API (distribution 2.x).
    /// </summary>
    public async Task<string> PushReferrerAsync(string repository, string subjectDigest, JsonObject manifest)
    {
        var bytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
        await PutManifestAsync(repository, digest, OciManifest, bytes);

        var tag = subjectDigest.Replace(':', '-');
        JsonArray listed;
        using (var existing = await Http.GetAsync(new Uri($"v2/{repository}/manifests/{tag}", UriKind.Relative)))
        {
            listed = existing.IsSuccessStatusCode
                ? (JsonNode.Parse(await existing.Content.ReadAsStringAsync())!["manifests"]!.AsArray().DeepClone().AsArray())
                : [];
        }

        var descriptor = new JsonObject { ["mediaType"] = OciManifest, ["digest"] = digest, ["size"] = bytes.Length };
        if ((manifest["artifactType"] ?? manifest["config"]?["mediaType"]) is { } artifactType)
        {
            descriptor["artifactType"] = artifactType.DeepClone();
        }

        listed.Add(descriptor);
        var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = OciIndex, ["manifests"] = listed };
        await PutManifestAsync(repository, tag, OciIndex, Encoding.UTF8.GetBytes(index.ToJsonString()));
        return digest;
    }

    public async Task<(string Digest, int Size)> PushBlobAsync(string repository, byte[] content)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        using var start = await Http.PostAsync(new Uri($"v2/{repository}/blobs/uploads/", UriKind.Relative), content: null);
        await EnsureAsync(start, HttpStatusCode.Accepted);
        var location = start.Headers.Location!;
        var upload = location.IsAbsoluteUri ? location : new Uri(Http.BaseAddress!, location);
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var put = await Http.PutAsync(new Uri(upload.AbsoluteUri + (upload.Query.Length > 0 ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest)), body);
        await EnsureAsync(put, HttpStatusCode.Created);
        return (digest, content.Length);
    }

    public async Task<string> PutManifestAsync(string repository, string reference, string mediaType, byte[] content)
    {
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await Http.PutAsync(new Uri($"v2/{repository}/manifests/{reference}", UriKind.Relative), body);
        await EnsureAsync(response, HttpStatusCode.Created);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        Http.Dispose();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static JsonObject Descriptor(string mediaType, (string Digest, int Size) blob) => new()
    {
        ["mediaType"] = mediaType,
        ["digest"] = blob.Digest,
        ["size"] = blob.Size,
    };

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task EnsureAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.Append(line).Append('\n');
            }
        }
    }

    private async Task WaitUntilAnsweringAsync()
    {
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode}:\n{Log}");
            }

            try
            {
                using var response = await Http.GetAsync(new Uri("v2/", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"docker-registry did not answer on {Host} within 30s:\n{Log}");
    }
}
