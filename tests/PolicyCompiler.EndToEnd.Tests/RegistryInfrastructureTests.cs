using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Authentication;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// Tests of the test infrastructure against the real registry: if these fail, the end-to-end verdicts of the
/// webhook tests mean nothing.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryInfrastructureTests(RegistryFixture fixture)
{
    private RegistryProcess Registry => fixture.Registry;

    [Fact]
    public async Task PushedImageDigestIsTheHashOfTheManifestTheRegistryServes()
    {
        var content = "unique " + Guid.NewGuid();
        var layout = new OciImageBuilder(fixture.Work.Combine("layout-" + Guid.NewGuid().ToString("N")));
        var layoutDigest = layout.AddImage("v1", content);

        var image = await layout.PushAsync(Registry, "infra/push", "v1");

        // skopeo copied the manifest bytes unchanged (no conversion to another media type).
        Assert.Equal(layoutDigest, image.Digest);
        var byTag = await Registry.Distribution.GetManifestAsync(image.Repository, image.Tag, MediaTypes.OciManifest);
        Assert.Equal(image.Digest, byTag.Digest);
        Assert.Equal(image.Digest, byTag.DockerContentDigest);
        Assert.Equal(MediaTypes.OciManifest, byTag.MediaType);

        var byDigest = await Registry.Distribution.GetManifestAsync(image.Repository, image.Digest, MediaTypes.OciManifest);
        Assert.Equal(byTag.Content, byDigest.Content);

        var manifest = byTag.Json;
        Assert.Equal(MediaTypes.OciManifest, manifest["mediaType"]!.GetValue<string>());
        Assert.Equal(MediaTypes.OciConfig, manifest["config"]!["mediaType"]!.GetValue<string>());
        var layer = Assert.Single(manifest["layers"]!.AsArray());
        Assert.Equal(MediaTypes.OciLayerGzip, layer!["mediaType"]!.GetValue<string>());

        // The layer is a gzip'ed tar whose one file holds the content that makes the image unique.
        var blob = await Registry.Distribution.GetBlobAsync(image.Repository, layer["digest"]!.GetValue<string>());
        Assert.Equal(content + "\n", ReadFileFromLayer(blob, "e2e/content.txt"));
    }

    [Fact]
    public async Task ImagesWithDifferentContentHaveDifferentDigests()
    {
        var first = await OciImageBuilder.BuildAndPushAsync(Registry, fixture.Work.Path, "infra/distinct", "a");
        var second = await OciImageBuilder.BuildAndPushAsync(Registry, fixture.Work.Path, "infra/distinct", "b");

        Assert.NotEqual(first.Digest, second.Digest);
        Assert.Equal(["a", "b"], (await Registry.Distribution.ListTagsAsync("infra/distinct")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SignatureIsStoredAsCosignLaysItOut()
    {
        var image = await OciImageBuilder.BuildAndPushAsync(Registry, fixture.Work.Path, "infra/signed", "v1");
        using var signer = CosignSigner.Generate();

        var pushed = await signer.SignAsync(Registry, image);

        Assert.Equal("sha256-" + Digests.Hex(image.Digest) + ".sig", pushed.Tag);
        var sig = await Registry.Distribution.GetManifestAsync(image.Repository, pushed.Tag, MediaTypes.OciManifest);
        Assert.Equal(pushed.ManifestDigest, sig.Digest);
        var manifest = sig.Json;
        Assert.Equal(2, manifest["schemaVersion"]!.GetValue<int>());
        Assert.Equal(MediaTypes.OciManifest, manifest["mediaType"]!.GetValue<string>());
        Assert.Equal(MediaTypes.OciConfig, manifest["config"]!["mediaType"]!.GetValue<string>());

        var layer = Assert.Single(manifest["layers"]!.AsArray())!;
        Assert.Equal(MediaTypes.CosignSimpleSigning, layer["mediaType"]!.GetValue<string>());
        var annotations = layer["annotations"]!.AsObject();
        Assert.Equal([CosignSigner.SignatureAnnotation], annotations.Select(a => a.Key));

        var payload = await Registry.Distribution.GetBlobAsync(image.Repository, layer["digest"]!.GetValue<string>());
        Assert.Equal(layer["size"]!.GetValue<long>(), payload.LongLength);
        Assert.True(CosignSigner.Verify(signer.PublicKeyPem, payload, annotations[CosignSigner.SignatureAnnotation]!.GetValue<string>()), "the annotation's signature does not verify over the layer blob");

        var claims = JsonNode.Parse(payload)!;
        Assert.Equal(image.RepositoryReference, claims["critical"]!["identity"]!["docker-reference"]!.GetValue<string>());
        Assert.Equal(image.Digest, claims["critical"]!["image"]!["docker-manifest-digest"]!.GetValue<string>());
        Assert.Equal(CosignSigner.PayloadType, claims["critical"]!["type"]!.GetValue<string>());
        Assert.Null(claims["optional"]);

        // The config lists the (uncompressed) signature layer as the image's only diff.
        var config = JsonNode.Parse(await Registry.Distribution.GetBlobAsync(image.Repository, manifest["config"]!["digest"]!.GetValue<string>()))!;
        Assert.Equal([layer["digest"]!.GetValue<string>()], config["rootfs"]!["diff_ids"]!.AsArray().Select(d => d!.GetValue<string>()));
    }

    [Fact]
    public async Task SigningAgainAppendsASignatureLayer()
    {
        var image = await OciImageBuilder.BuildAndPushAsync(Registry, fixture.Work.Path, "infra/twice", "v1");
        using var first = CosignSigner.Generate();
        using var second = CosignSigner.Generate();

        await first.SignAsync(Registry, image);
        var pushed = await second.SignAsync(Registry, image);

        Assert.Equal(2, pushed.LayerCount);
        var layers = (await Registry.Distribution.GetManifestAsync(image.Repository, pushed.Tag, MediaTypes.OciManifest)).Json["layers"]!.AsArray();
        Assert.Equal(2, layers.Count);
        var payload = await Registry.Distribution.GetBlobAsync(image.Repository, layers[0]!["digest"]!.GetValue<string>());
        var signatures = layers.Select(l => l!["annotations"]![CosignSigner.SignatureAnnotation]!.GetValue<string>()).ToList();
        Assert.True(CosignSigner.Verify(first.PublicKeyPem, payload, signatures[0]));
        Assert.True(CosignSigner.Verify(second.PublicKeyPem, payload, signatures[1]));
        Assert.False(CosignSigner.Verify(second.PublicKeyPem, payload, signatures[0]), "a signature verified under another key");
    }

    [Fact]
    public async Task SignatureRepositoryReceivesTheSignatureInsteadOfTheImageRepository()
    {
        var image = await OciImageBuilder.BuildAndPushAsync(Registry, fixture.Work.Path, "infra/elsewhere", "v1");
        using var signer = CosignSigner.Generate();

        var pushed = await signer.SignAsync(Registry, image, signatureRepository: "infra/signatures");

        Assert.Equal("infra/signatures", pushed.Repository);
        Assert.NotNull(await Registry.Distribution.TryGetManifestAsync("infra/signatures", pushed.Tag));
        Assert.Null(await Registry.Distribution.TryGetManifestAsync(image.Repository, pushed.Tag));

        // The payload still names the image's own repository, as cosign's does under COSIGN_REPOSITORY.
        Assert.Equal(image.RepositoryReference, JsonNode.Parse(pushed.Payload)!["critical"]!["identity"]!["docker-reference"]!.GetValue<string>());
    }

    [Fact]
    public async Task DisposedRegistryNoLongerAnswers()
    {
        var registry = await RegistryProcess.StartAsync();
        using var client = new HttpClient { BaseAddress = registry.BaseUri, Timeout = TimeSpan.FromSeconds(10) };
        using (var response = await client.GetAsync(new Uri("v2/", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        registry.Dispose();

        Assert.True(registry.HasExited);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("v2/", UriKind.Relative)));
    }

    [Fact]
    public async Task TlsRegistryIsReachableWithThePinnedCertificateOnly()
    {
        using var certificate = TestCertificate.CreateForLoopback("registry");
        using var stranger = TestCertificate.CreateForLoopback("registry");
        using var registry = await RegistryProcess.StartAsync(new RegistryOptions { Tls = certificate });

        Assert.Equal("https", registry.BaseUri.Scheme);
        using (var pinned = registry.CreateHttpClient())
        using (var response = await pinned.GetAsync(new Uri("v2/", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var pinnedToStranger = stranger.CreatePinnedClient(registry.BaseUri))
        {
            var failure = await Assert.ThrowsAsync<HttpRequestException>(() => pinnedToStranger.GetAsync(new Uri("v2/", UriKind.Relative)));
            Assert.IsType<AuthenticationException>(failure.InnerException);
        }

        var image = await OciImageBuilder.BuildAndPushAsync(registry, fixture.Work.Path, "infra/tls", "v1");
        Assert.Equal(image.Digest, (await registry.Distribution.GetManifestAsync(image.Repository, image.Tag)).Digest);
    }

    [Fact]
    public async Task HtpasswdRegistryRequiresTheCredentials()
    {
        var credentials = RegistryCredentials.TestUser;
        using var registry = await RegistryProcess.StartAsync(new RegistryOptions { Credentials = credentials });

        using (var anonymous = registry.CreateHttpClient(authenticate: false))
        using (var response = await anonymous.GetAsync(new Uri("v2/", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Basic");
        }

        using (var authenticated = registry.CreateHttpClient())
        using (var response = await authenticated.GetAsync(new Uri("v2/", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var image = await OciImageBuilder.BuildAndPushAsync(registry, fixture.Work.Path, "infra/private", "v1");
        using var signer = CosignSigner.Generate();
        var signature = await signer.SignAsync(registry, image);
        Assert.NotNull(await registry.Distribution.TryGetManifestAsync(image.Repository, signature.Tag));
    }

    private static string ReadFileFromLayer(byte[] gzipTar, string name)
    {
        using var gzip = new GZipStream(new MemoryStream(gzipTar), CompressionMode.Decompress);
        using var reader = new TarReader(gzip);
        while (reader.GetNextEntry() is { } entry)
        {
            if (entry.Name == name && entry.DataStream is { } data)
            {
                using var text = new StreamReader(data, Encoding.UTF8);
                return text.ReadToEnd();
            }
        }

        throw new InvalidOperationException($"{name} is not in the layer");
    }
}
