using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>An image as it lives in a registry after a push.</summary>
public sealed record PushedImage(string Registry, string Repository, string Tag, string Digest)
{
    /// <summary><c>registry/repository:tag</c>, what a Pod names before mutation.</summary>
    public string TagReference => $"{Registry}/{Repository}:{Tag}";

    /// <summary><c>registry/repository@sha256:…</c>.</summary>
    public string DigestReference => $"{Registry}/{Repository}@{Digest}";

    /// <summary><c>registry/repository:tag@sha256:…</c>, what the webhook's mutation pins a tag to.</summary>
    public string PinnedReference => $"{Registry}/{Repository}:{Tag}@{Digest}";

    /// <summary><c>registry/repository</c>, the docker-reference cosign writes into its payload.</summary>
    public string RepositoryReference => $"{Registry}/{Repository}";
}

/// <summary>
/// Builds small single-layer images in an OCI image layout on disk (oci-layout, index.json, blobs/sha256/…)
/// and pushes them with <c>skopeo copy</c>. Each image holds one file whose content makes it unique, so every
/// test run pushes images no earlier run has signed.
/// </summary>
public sealed class OciImageBuilder
{
    /// <summary>Where skopeo is; CI installs it with <c>apt-get install skopeo</c>.</summary>
    public static string SkopeoExecutable => Environment.GetEnvironmentVariable("POLICYCOMPILER_E2E_SKOPEO") ?? "/usr/bin/skopeo";

    private static readonly DateTimeOffset s_epoch = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly List<JsonObject> _manifests = [];

    public OciImageBuilder(string layoutDirectory)
    {
        LayoutDirectory = layoutDirectory;
        Directory.CreateDirectory(Path.Combine(layoutDirectory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(layoutDirectory, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        WriteIndex();
    }

    public string LayoutDirectory { get; }

    /// <summary>
    /// Writes an image holding <c>/e2e/content.txt</c> = <paramref name="uniqueContent"/> into the layout under
    /// <paramref name="tag"/> and returns its manifest digest in the layout. <paramref name="user"/>, when given, is the
    /// config's <c>User</c> (what a policy reading the image's config data sees).
    /// </summary>
    public string AddImage(string tag, string uniqueContent, string? user = null)
    {
        var (layerTar, layerGzip) = CreateLayer(uniqueContent);
        var layerDigest = WriteBlob(layerGzip);

        var config = new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = user is null
                ? new JsonObject { ["Labels"] = new JsonObject { ["dev.policycompiler.e2e.content"] = uniqueContent } }
                : new JsonObject { ["User"] = user, ["Labels"] = new JsonObject { ["dev.policycompiler.e2e.content"] = uniqueContent } },
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray(Digests.Sha256(layerTar)),
            },
            ["history"] = new JsonArray(new JsonObject { ["created_by"] = "PolicyCompiler end-to-end tests" }),
        };
        var configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        var configDigest = WriteBlob(configBytes);

        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = Descriptor(MediaTypes.OciConfig, configDigest, configBytes.Length),
            ["layers"] = new JsonArray(Descriptor(MediaTypes.OciLayerGzip, layerDigest, layerGzip.Length)),
        };
        var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var manifestDigest = WriteBlob(manifestBytes);

        var entry = Descriptor(MediaTypes.OciManifest, manifestDigest, manifestBytes.Length);
        entry["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag };
        _manifests.RemoveAll(m => m["annotations"]?["org.opencontainers.image.ref.name"]?.GetValue<string>() == tag);
        _manifests.Add(entry);
        WriteIndex();
        return manifestDigest;
    }

    /// <summary>
    /// Copies the layout's <paramref name="tag"/> to <c>registry/repository:tag</c> with skopeo, then reads the
    /// manifest back from the registry and returns the digest of the bytes it serves.
    /// </summary>
    public async Task<PushedImage> PushAsync(RegistryProcess registry, string repository, string tag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var arguments = new List<string> { "--insecure-policy", "copy", "--retry-times", "2" };
        if (registry.Options.Tls is { } tls)
        {
            // containers/image reads *.crt in the cert dir as CAs: the issuing CA, or the self-signed certificate itself.
            var certDirectory = Path.Combine(LayoutDirectory, "..", "skopeo-certs-" + registry.Port);
            Directory.CreateDirectory(certDirectory);
            File.WriteAllText(Path.Combine(certDirectory, "ca.crt"), tls.TrustAnchorPem, Encoding.ASCII);
            arguments.AddRange(["--dest-tls-verify=true", "--dest-cert-dir", certDirectory]);
        }
        else
        {
            arguments.Add("--dest-tls-verify=false");
        }

        if (registry.Options.Credentials is { } credentials)
        {
            arguments.AddRange(["--dest-creds", credentials.UserName + ":" + credentials.Password]);
        }

        arguments.Add($"oci:{LayoutDirectory}:{tag}");
        arguments.Add($"docker://{registry.Host}/{repository}:{tag}");

        if (!File.Exists(SkopeoExecutable))
        {
            throw new InvalidOperationException($"{SkopeoExecutable} is missing: install Debian's skopeo package (apt-get install skopeo), or point POLICYCOMPILER_E2E_SKOPEO at the binary");
        }

        var result = await ProcessRunner.RunAsync(SkopeoExecutable, arguments, TimeSpan.FromMinutes(2), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"skopeo could not push {repository}:{tag}:\n{result.Output}\n{registry.Describe()}");
        }

        // Trust the registry's bytes, not skopeo's report: the digest a client resolves is the hash of what is served.
        var served = await registry.Distribution.GetManifestAsync(repository, tag, MediaTypes.OciManifest, cancellationToken).ConfigureAwait(false);
        if (served.DockerContentDigest is { } header && header != served.Digest)
        {
            throw new InvalidOperationException($"registry serves {repository}:{tag} with Docker-Content-Digest {header}, but its bytes hash to {served.Digest}");
        }

        return new PushedImage(registry.Host, repository, tag, served.Digest);
    }

    /// <summary>Builds a fresh layout under <paramref name="workDirectory"/>, adds one image and pushes it.</summary>
    public static async Task<PushedImage> BuildAndPushAsync(RegistryProcess registry, string workDirectory, string repository, string tag, string? uniqueContent = null, CancellationToken cancellationToken = default, string? user = null)
    {
        var layout = Path.Combine(workDirectory, "oci-" + Guid.NewGuid().ToString("N"));
        var builder = new OciImageBuilder(layout);
        builder.AddImage(tag, uniqueContent ?? $"{repository}:{tag} {Guid.NewGuid():N}", user);
        return await builder.PushAsync(registry, repository, tag, cancellationToken).ConfigureAwait(false);
    }

    private static (byte[] Tar, byte[] Gzip) CreateLayer(string uniqueContent)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var directory = new PaxTarEntry(TarEntryType.Directory, "e2e/")
            {
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute,
                ModificationTime = s_epoch,
            };
            writer.WriteEntry(directory);

            using var data = new MemoryStream(Encoding.UTF8.GetBytes(uniqueContent + "\n"));
            var file = new PaxTarEntry(TarEntryType.RegularFile, "e2e/content.txt")
            {
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                ModificationTime = s_epoch,
                DataStream = data,
            };
            writer.WriteEntry(file);
        }

        var tarBytes = tar.ToArray();
        using var gzip = new MemoryStream();
        using (var compressor = new GZipStream(gzip, CompressionLevel.Optimal, leaveOpen: true))
        {
            compressor.Write(tarBytes);
        }

        return (tarBytes, gzip.ToArray());
    }

    private static JsonObject Descriptor(string mediaType, string digest, long size) => new()
    {
        ["mediaType"] = mediaType,
        ["digest"] = digest,
        ["size"] = size,
    };

    private string WriteBlob(byte[] content)
    {
        var digest = Digests.Sha256(content);
        File.WriteAllBytes(Path.Combine(LayoutDirectory, "blobs", "sha256", Digests.Hex(digest)), content);
        return digest;
    }

    private void WriteIndex()
    {
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new JsonArray([.. _manifests.Select(m => (JsonNode)m.DeepClone())]),
        };
        File.WriteAllText(Path.Combine(LayoutDirectory, "index.json"), index.ToJsonString());
    }
}
