using System.Text;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>A multi-platform image as pushed: the index under its tag, and the platform manifests it lists.</summary>
public sealed record PushedIndex(PushedImage Index, IReadOnlyList<string> PlatformDigests);

/// <summary>
/// Pushes small images straight through a <see cref="DistributionClient"/> (blob uploads and manifest PUTs), for
/// registries skopeo cannot be pointed at as configured (a token-auth registry whose pushes use a token the test
/// minted) and for content skopeo would not produce as is (an OCI index of two platform images).
/// </summary>
public static class OciContentPusher
{
    public const string OciLayerTar = "application/vnd.oci.image.layer.v1.tar";

    /// <summary>Pushes a one-layer image with unique content as <paramref name="tag"/>.</summary>
    public static async Task<PushedImage> PushImageAsync(DistributionClient distribution, string repository, string tag, string architecture = "amd64", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(distribution);
        var layer = Encoding.UTF8.GetBytes($"{repository}:{tag} {architecture} {Guid.NewGuid():N}\n");
        var layerDigest = await distribution.PushBlobAsync(repository, layer, cancellationToken).ConfigureAwait(false);
        var config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layerDigest) },
        }.ToJsonString());
        var configDigest = await distribution.PushBlobAsync(repository, config, cancellationToken).ConfigureAwait(false);
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = Descriptor(MediaTypes.OciConfig, configDigest, config.Length),
            ["layers"] = new JsonArray(Descriptor(OciLayerTar, layerDigest, layer.Length)),
        }.ToJsonString());
        var digest = await distribution.PutManifestAsync(repository, tag, MediaTypes.OciManifest, manifest, cancellationToken).ConfigureAwait(false);
        return new PushedImage(distribution.RegistryHost, repository, tag, digest);
    }

    /// <summary>
    /// Pushes an amd64 and an arm64 image by digest, then an OCI image index of both as <paramref name="tag"/>,
    /// as <c>docker buildx build --platform linux/amd64,linux/arm64 --push</c> leaves a repository.
    /// </summary>
    public static async Task<PushedIndex> PushIndexAsync(DistributionClient distribution, string repository, string tag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(distribution);
        var entries = new JsonArray();
        var digests = new List<string>();
        foreach (var architecture in new[] { "amd64", "arm64" })
        {
            var platform = await PushImageAsync(distribution, repository, $"{tag}-{architecture}", architecture, cancellationToken).ConfigureAwait(false);
            var served = await distribution.GetManifestAsync(repository, platform.Digest, MediaTypes.OciManifest, cancellationToken).ConfigureAwait(false);
            entries.Add(new JsonObject
            {
                ["mediaType"] = MediaTypes.OciManifest,
                ["digest"] = platform.Digest,
                ["size"] = served.Content.Length,
                ["platform"] = new JsonObject { ["architecture"] = architecture, ["os"] = "linux" },
            });
            digests.Add(platform.Digest);
        }

        var index = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = entries,
        }.ToJsonString());
        var digest = await distribution.PutManifestAsync(repository, tag, MediaTypes.OciIndex, index, cancellationToken).ConfigureAwait(false);
        return new PushedIndex(new PushedImage(distribution.RegistryHost, repository, tag, digest), digests);
    }

    /// <summary>Signs <paramref name="image"/> as <c>cosign sign --key</c> does, through <paramref name="distribution"/>.</summary>
    public static Task<PushedSignature> SignAsync(CosignSigner signer, DistributionClient distribution, PushedImage image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(image);
        var payload = CosignSigner.CreatePayload(image.RepositoryReference, image.Digest);
        return CosignSigner.PushSignatureAsync(distribution, image.Repository, image.Digest, payload, signer.Sign(payload), cancellationToken);
    }

    /// <summary>
    /// Puts <paramref name="manifest"/> (a manifest whose <c>subject</c> is <paramref name="subjectDigest"/>) by digest and
    /// lists it under the subject's referrers tag (<c>sha256-…</c>), the OCI distribution spec's fallback for registries
    /// without the referrers API, as Debian's docker-registry is. The tag's index then names this referrer only.
    /// </summary>
    public static async Task PushReferrerAsync(DistributionClient distribution, string repository, string subjectDigest, byte[] manifest, string artifactType, JsonObject? annotations = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(distribution);
        ArgumentNullException.ThrowIfNull(subjectDigest);
        var manifestDigest = Digests.Sha256(manifest);
        await distribution.PutManifestAsync(repository, manifestDigest, MediaTypes.OciManifest, manifest, cancellationToken).ConfigureAwait(false);

        var entry = new JsonObject
        {
            ["mediaType"] = MediaTypes.OciManifest,
            ["digest"] = manifestDigest,
            ["size"] = manifest.Length,
            ["artifactType"] = artifactType,
        };
        if (annotations is not null)
        {
            entry["annotations"] = annotations;
        }

        var index = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = new JsonArray(entry),
        }.ToJsonString());
        await distribution.PutManifestAsync(repository, subjectDigest.Replace(':', '-'), MediaTypes.OciIndex, index, cancellationToken).ConfigureAwait(false);
    }

    private static JsonObject Descriptor(string mediaType, string digest, long size) => new()
    {
        ["mediaType"] = mediaType,
        ["digest"] = digest,
        ["size"] = size,
    };
}

/// <summary>Docker config JSON files, as a <c>kubernetes.io/dockerconfigjson</c> Secret mounts them.</summary>
public static class DockerConfigFile
{
    /// <summary><c>{"auths":{"registry":{"auth":"base64(user:password)"}}}</c>, what <c>kubectl create secret docker-registry</c> writes.</summary>
    public static string WithPassword(string registry, string userName, string password) =>
        new JsonObject
        {
            ["auths"] = new JsonObject
            {
                [registry] = new JsonObject
                {
                    ["username"] = userName,
                    ["password"] = password,
                    ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(userName + ":" + password)),
                },
            },
        }.ToJsonString();

    /// <summary>An entry with an identity token (a refresh token for the registry's token endpoint), as <c>docker login</c> stores for OAuth registries.</summary>
    public static string WithIdentityToken(string registry, string identityToken) =>
        new JsonObject
        {
            ["auths"] = new JsonObject
            {
                [registry] = new JsonObject
                {
                    ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("<token>:")),
                    ["identitytoken"] = identityToken,
                },
            },
        }.ToJsonString();

    /// <summary>Writes <paramref name="json"/> to <paramref name="path"/> the way the kubelet swaps a Secret: a new file renamed over the old one.</summary>
    public static string Write(string path, string json)
    {
        ArgumentNullException.ThrowIfNull(path);
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(temporary, json, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        File.Move(temporary, path, overwrite: true);
        return path;
    }
}
