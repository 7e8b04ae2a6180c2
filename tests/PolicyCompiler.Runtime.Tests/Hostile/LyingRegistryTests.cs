using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Runtime.Tests.Hostile.HostileHarness;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// A registry that lies about content, digests, sizes, locations and timing. Each case runs the whole admission path
/// and states the answer the API server gets: a hostile registry may make an image fail or error, never pass.
/// </summary>
public sealed class LyingRegistryTests : IDisposable
{
    private readonly HostileHarness _h = new();

    public void Dispose() => _h.Dispose();

    private string SignedImage(string tag = "v1", string variant = "signed")
    {
        var digest = _h.Registry.PushImage(Repository, tag, variant);
        _h.Registry.PushSignature(Repository, digest, _h.Signer);
        return digest;
    }

    [Fact]
    public async Task HonestRegistryAdmitsTheSignedImagePinnedToItsDigest()
    {
        // The control case: without it, every denial below could be a broken harness.
        var digest = SignedImage();

        var response = await _h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal([Image(":v1@" + digest)], PatchedImages(response));
    }

    // ---- digests --------------------------------------------------------------------------------------------------

    /// <summary>
    /// CVE-2023-47630 (Kyverno, fixed in 1.10.5): a compromised registry controlled which digest got verified and
    /// pinned. Here the registry serves an unsigned manifest for the tag but claims, in Docker-Content-Digest, the
    /// digest of a signed one. The digest is always computed over the bytes received, so the header is ignored.
    /// </summary>
    [Fact]
    public async Task DockerContentDigestHeaderNamingASignedImageIsIgnored_CVE_2023_47630()
    {
        var signed = SignedImage("signed");
        var unsigned = _h.Registry.PushImage(Repository, "v1", "unsigned");
        _h.Registry.Lie(r =>
        {
            if (!r.IsManifest || r.Reference != "v1")
            {
                return null;
            }

            var response = HostileRegistry.Bytes(_h.Registry.ManifestOf(Repository, unsigned)!.Value.Content, HostileRegistry.OciManifest);
            response.Headers.TryAddWithoutValidation("Docker-Content-Digest", signed);
            return response;
        });

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("signature not found", message, StringComparison.Ordinal);
        Assert.True(SignaturesLookedUpFor(unsigned));
        Assert.False(SignaturesLookedUpFor(signed));
    }

    /// <summary>Manifest bytes that do not hash to the digest asked for are refused, however plausible they are.</summary>
    [Fact]
    public async Task ManifestBytesNotHashingToTheRequestedDigestAreRefused()
    {
        var signed = SignedImage();
        var other = _h.Registry.PushImage(Repository, "other", "other");
        _h.Registry.Lie(r => r.IsManifest && r.Reference == signed
            ? HostileRegistry.Bytes(_h.Registry.ManifestOf(Repository, other)!.Value.Content, HostileRegistry.OciManifest)
            : null);

        var error = await Assert.ThrowsAsync<RegistryException>(() => _h.Client.GetManifestAsync(HostileRegistry.Host, Repository, signed, CancellationToken.None));

        Assert.Equal(RegistryFailure.InvalidResponse, error.Failure);
        Assert.False(error.IsTransient);
        Assert.Contains("hashes to " + other, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The signature layer's blob is swapped for another validly signed payload (of another image): the blob no
    /// longer hashes to the layer's digest, and the verdict is a failure, not an error that failurePolicy could waive.
    /// </summary>
    [Fact]
    public async Task SignatureBlobSwappedForAnotherSignedPayloadIsRefused()
    {
        var digest = SignedImage();
        var otherDigest = SignedImage("other", "other");
        var otherPayload = HostileRegistry.Payload(Repository, otherDigest);
        var honestPayloadDigest = RegistryClient.ComputeDigest(HostileRegistry.Payload(Repository, digest));
        _h.Registry.Lie(r => r.IsBlob && r.Reference == honestPayloadDigest ? HostileRegistry.Bytes(otherPayload, "application/octet-stream") : null);

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("hashes to", message, StringComparison.Ordinal);
        Assert.Equal(VerificationStatus.Fail, (await VerifyAsync(digest)).Status);
    }

    /// <summary>
    /// GHSA-m3cq-xcx9-3gvm / CVE-2022-47633 (Kyverno 1.8.3–1.8.4, a malicious registry injecting unsigned images): the
    /// tag answers the signed image on the first lookup and an unsigned one afterwards. The tag is resolved once per
    /// review, the signatures of that digest are checked, and that same digest is what the Pod is pinned to.
    /// </summary>
    [Fact]
    public async Task TagMovingAfterTheLookupCannotChangeTheAdmittedDigest_GHSA_m3cq_xcx9_3gvm()
    {
        var signed = SignedImage("signed");
        var unsigned = _h.Registry.PushImage(Repository, "unsigned", "unsigned");
        _h.Registry.Lie(r => r.IsManifest && r.Reference == "v1"
            ? HostileRegistry.Bytes(_h.Registry.ManifestOf(Repository, r.Hit == 1 ? signed : unsigned)!.Value.Content, HostileRegistry.OciManifest)
            : null);

        // Two containers name the same tag: both must end up on the digest that was verified.
        var response = await _h.MutateAsync(Image(":v1"), Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal([Image(":v1@" + signed), Image(":v1@" + signed)], PatchedImages(response));
        Assert.Equal(1, _h.Registry.Count(r => r.IsManifest && r.Reference == "v1"));
    }

    [Fact]
    public async Task TagThatMovesToTheSignedImageOnlyAfterTheLookupIsDenied()
    {
        var signed = SignedImage("signed");
        var unsigned = _h.Registry.PushImage(Repository, "unsigned", "unsigned");
        _h.Registry.Lie(r => r.IsManifest && r.Reference == "v1"
            ? HostileRegistry.Bytes(_h.Registry.ManifestOf(Repository, r.Hit == 1 ? unsigned : signed)!.Value.Content, HostileRegistry.OciManifest)
            : null);

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("signature not found", message, StringComparison.Ordinal);
        Assert.True(SignaturesLookedUpFor(unsigned));
        Assert.False(SignaturesLookedUpFor(signed));
    }

    /// <summary>A genuine signature by the trusted key, replayed onto another image's <c>.sig</c> tag.</summary>
    [Fact]
    public async Task SignaturePayloadNamingAnotherDigestIsDenied()
    {
        var signed = SignedImage("signed");
        var unsigned = _h.Registry.PushImage(Repository, "v1", "unsigned");
        _h.Registry.PushSignature(Repository, unsigned, _h.Signer, payload: HostileRegistry.Payload(Repository, signed));

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains($"signed payload names digest {signed}, not {unsigned}", message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Decision (as cosign and Kyverno): the payload's <c>docker-reference</c> is not compared with the repository.
    /// The signature binds the manifest digest, which is the content; a copy of a signed image in a mirror is the same
    /// image. Asserted so that a change of this decision is deliberate.
    /// </summary>
    [Fact]
    public async Task SignaturePayloadNamingAnotherRepositoryButTheSameDigestIsAdmitted()
    {
        var digest = _h.Registry.PushImage(Repository, "v1", "mirrored");
        _h.Registry.PushSignature(Repository, digest, _h.Signer, payload: HostileRegistry.Payload("elsewhere/original", digest));

        var response = await _h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal([Image(":v1@" + digest)], PatchedImages(response));
    }

    // ---- sizes (cosign CVE-2023-46737 class: unbounded reads from an attacker-controlled registry) -------------------

    [Fact]
    public async Task SignatureManifestWithThousandsOfLayersIsRefusedBeforeAnyBlobIsRead_CVE_2023_46737()
    {
        var digest = _h.Registry.PushImage(Repository, "v1");
        var payload = HostileRegistry.Payload(Repository, digest);
        var signature = Convert.ToBase64String(_h.Signer.SignData(payload, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.DSASignatureFormat.Rfc3279DerSequence));
        _h.Registry.PushSignatureLayers(Repository, digest, Enumerable.Repeat((payload, signature), 5000));

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("5000 layers", message, StringComparison.Ordinal);
        Assert.Equal(0, _h.Registry.Count(r => r.IsBlob));
    }

    [Fact]
    public async Task SignatureLayerDeclaringAHugeSizeIsNotFetched()
    {
        var digest = _h.Registry.PushImage(Repository, "v1");
        var payload = HostileRegistry.Payload(Repository, digest);
        var layer = HostileRegistry.Descriptor(SimpleSigningPayload.MediaType, _h.Registry.PushBlob(payload), 8L * 1024 * 1024 * 1024);
        layer["annotations"] = new JsonObject { [CosignSignature.SignatureAnnotation] = "MEUCIQ==" };
        _h.Registry.PushManifest(Repository, CosignSignatureStore.SignatureTag(digest), HostileRegistry.Manifest(HostileRegistry.Descriptor("application/vnd.oci.image.config.v1+json", _h.Registry.PushBlob("{}"u8.ToArray()), 2), [layer]));

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("exceeds", message, StringComparison.Ordinal);
        Assert.Equal(0, _h.Registry.Count(r => r.IsBlob));
    }

    /// <summary>The layer says a few hundred bytes; the blob never ends. Reading stops at the declared size.</summary>
    [Fact]
    public async Task EndlessSignatureBlobIsCutAtTheDeclaredSize()
    {
        var digest = SignedImage();
        var endless = new HostileRegistry.EndlessStream();
        _h.Registry.Lie(r => r.IsBlob ? HostileRegistry.Endless(endless) : null);

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("larger than the limit", message, StringComparison.Ordinal);
        Assert.InRange(endless.Served, 1, 64 * 1024);
        Assert.NotNull(digest);
    }

    [Fact]
    public async Task EndlessManifestIsCutAtTheManifestLimit()
    {
        var endless = new HostileRegistry.EndlessStream((byte)'{');
        _h.Registry.Lie(r => r.IsManifest ? HostileRegistry.Endless(endless) : null);

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("larger than the limit of 4194304 bytes", message, StringComparison.Ordinal);
        Assert.InRange(endless.Served, 4 * 1024 * 1024, (4 * 1024 * 1024) + (256 * 1024));
    }

    [Fact]
    public async Task ManifestDeclaringAHugeContentLengthIsNotRead()
    {
        var endless = new HostileRegistry.EndlessStream();
        _h.Registry.Lie(r =>
        {
            if (!r.IsManifest)
            {
                return null;
            }

            var response = HostileRegistry.Endless(endless);
            response.Content.Headers.ContentLength = 1L << 40;
            return response;
        });

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("more than the limit", message, StringComparison.Ordinal);
        Assert.Equal(0, endless.Served);
    }

    // ---- redirects ----------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("http://cdn.test/blob")] // a downgrade to plain HTTP, on another host
    [InlineData("http://hostile.test/v2/team/app/blobs/elsewhere")] // a downgrade on the registry's own host
    [InlineData("ftp://cdn.test/blob")]
    [InlineData("file:///etc/passwd")]
    public async Task BlobRedirectToAnythingButHttpsIsRefused(string location)
    {
        SignedImage();
        _h.Registry.Lie(r => r.IsBlob && r.Uri.Host == HostileRegistry.Host ? Redirect(new Uri(location)) : null);

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("non-HTTPS location", message, StringComparison.Ordinal);
        Assert.DoesNotContain(_h.Registry.Requests, r => r.Uri.Scheme != Uri.UriSchemeHttps);
    }

    /// <summary>
    /// Decision: blob redirects to HTTPS on another host are followed (registries hand blobs to object storage and CDNs),
    /// but the registry's credentials are never forwarded; what the CDN serves is still checked against the digest.
    /// </summary>
    [Fact]
    public async Task BlobRedirectToAnHttpsCdnIsFollowedWithoutCredentialsAndStillHashChecked()
    {
        var credentials = new FixedCredentialsForHost(HostileRegistry.Host, new RegistryCredential("robot", "s3cr3t-password"));
        using var h = new HostileHarness(credentials: credentials);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, digest, h.Signer);
        h.Registry.Lie(r => r switch
        {
            { Uri.Host: HostileRegistry.Host, Authorization: null } => Challenge(),
            { IsBlob: true, Uri.Host: HostileRegistry.Host } => Redirect(new Uri("https://cdn.test/objects/" + r.Reference + "?X-Amz-Signature=presigned")),
            { Uri.Host: "cdn.test" } => HostileRegistry.Bytes("tampered by the CDN"u8.ToArray(), "application/octet-stream"),
            _ => null,
        });

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("hashes to", message, StringComparison.Ordinal);
        var cdn = h.Registry.Requests.Where(r => r.Uri.Host == "cdn.test").ToList();
        Assert.NotEmpty(cdn);
        Assert.All(cdn, r => Assert.Null(r.Authorization));
        Assert.DoesNotContain("X-Amz-Signature", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedirectLoopIsCutShort()
    {
        SignedImage();
        _h.Registry.Lie(r => r.IsBlob ? Redirect(new Uri("https://cdn.test/loop/" + r.Hit)) : r.Uri.Host == "cdn.test" ? Redirect(new Uri("https://cdn.test/loop/again")) : null);

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("redirected blob", message, StringComparison.Ordinal);
        Assert.InRange(_h.Registry.Count(r => r.Uri.Host == "cdn.test"), 1, 3);
    }

    /// <summary>Decision: manifests are never fetched through a redirect (the registry itself must serve them).</summary>
    [Fact]
    public async Task ManifestRedirectIsNotFollowed()
    {
        _h.Registry.Lie(r => r.IsManifest ? Redirect(new Uri("https://elsewhere.test/v2/team/app/manifests/v1")) : null);

        Denied(await _h.MutateAsync(Image(":v1")));

        Assert.DoesNotContain(_h.Registry.Requests, r => r.Uri.Host == "elsewhere.test");
    }

    // ---- timing and transport -------------------------------------------------------------------------------------

    [Fact]
    public async Task RegistryThatNeverAnswersIsBoundedByTheWebhookDeadline()
    {
        using var h = new HostileHarness(timeoutSeconds: 1, realDelays: true);
        h.Registry.Fault = async (_, cancellationToken) =>
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return null;
        };
        var clock = Stopwatch.StartNew();

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Contains("deadline", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TricklingBodyIsBoundedByTheWebhookDeadline()
    {
        using var h = new HostileHarness(timeoutSeconds: 1, realDelays: true);
        var trickle = new HostileRegistry.EndlessStream(delayPerRead: TimeSpan.FromMilliseconds(20));
        h.Registry.Lie(r => r.IsManifest ? HostileRegistry.Endless(trickle) : null);
        var clock = Stopwatch.StartNew();

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Contains("deadline", message, StringComparison.Ordinal);
        Assert.InRange(trickle.Served, 1, 200);
    }

    [Fact]
    public async Task ConnectionResetOnEveryAttemptIsAnErrorThatDenies()
    {
        SignedImage();
        _h.Registry.Fault = (_, _) => throw new HttpRequestException(HttpRequestError.ConnectionError, "An error occurred while sending the request.", new IOException("Connection reset by peer"));

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("unreachable", message, StringComparison.Ordinal);
        Assert.Equal(_h.Client.Options.MaxAttempts, _h.Registry.Requests.Count);
    }

    /// <summary>Retry-After of a day is not waited for: the answer comes at once, as an error under failurePolicy.</summary>
    [Theory]
    [InlineData(86400)]
    [InlineData(int.MaxValue)]
    public async Task HugeRetryAfterIsNotWaitedFor(int seconds)
    {
        using var h = new HostileHarness(realDelays: true);
        h.Registry.Lie(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests) { Content = new StringContent("slow down") };
            response.Headers.TryAddWithoutValidation("Retry-After", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return response;
        });
        var clock = Stopwatch.StartNew();

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(3));
        Assert.Contains("429", message, StringComparison.Ordinal);
        Assert.Single(h.Registry.Requests);
    }

    /// <summary>A Retry-After within the retry limit but beyond the webhook deadline ends at the deadline.</summary>
    [Fact]
    public async Task RetryAfterBeyondTheDeadlineEndsAtTheDeadline()
    {
        using var h = new HostileHarness(timeoutSeconds: 1, realDelays: true);
        h.Registry.Lie(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Content = new StringContent("later") };
            response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(4));
            return response;
        });
        var clock = Stopwatch.StartNew();

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(3));
        Assert.Contains("deadline", message, StringComparison.Ordinal);
    }

    // ---- malformed answers --------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("{\"layers\":")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("{\"layers\":null}")]
    [InlineData("{\"layers\":[{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"size\":\"big\"}]}")]
    [InlineData("{\"layers\":[{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"digest\":\"sha256:../../etc\",\"size\":10}]}")]
    [InlineData("<html><body>502 Bad Gateway</body></html>")]
    public async Task MalformedSignatureManifestIsAFailureNotAnError(string manifest)
    {
        var digest = _h.Registry.PushImage(Repository, "v1");
        _h.Registry.PushManifest(Repository, CosignSignatureStore.SignatureTag(digest), Encoding.UTF8.GetBytes(manifest), "text/html");

        var response = await _h.MutateAsync(Image(":v1"));

        Denied(response);
        Assert.Equal(VerificationStatus.Fail, (await VerifyAsync(digest)).Status);
    }

    /// <summary>
    /// Decision: the Content-Type a registry sends is not trusted for anything; the verdict follows the bytes and the
    /// digest computed over them. A signed image served as text/html is still that signed image.
    /// </summary>
    [Fact]
    public async Task WrongContentTypeDoesNotChangeWhatIsVerified()
    {
        var digest = SignedImage();
        _h.Registry.Lie(r => r.IsManifest && r.Reference == "v1" ? HostileRegistry.Bytes(_h.Registry.ManifestOf(Repository, digest)!.Value.Content, "text/html") : null);

        var response = await _h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal([Image(":v1@" + digest)], PatchedImages(response));
    }

    /// <summary>
    /// A registry answering 200 with an empty body for the tag: the empty manifest has a digest like any other bytes,
    /// nothing signed it, and the image is denied.
    /// </summary>
    [Fact]
    public async Task EmptyManifestBodyIsDenied()
    {
        SignedImage();
        _h.Registry.Lie(r => r.IsManifest && r.Reference == "v1" ? HostileRegistry.Bytes([], HostileRegistry.OciManifest) : null);

        var message = Denied(await _h.MutateAsync(Image(":v1")));

        Assert.Contains("signature not found", message, StringComparison.Ordinal);
        Assert.True(SignaturesLookedUpFor(RegistryClient.ComputeDigest([])));
    }

    private bool SignaturesLookedUpFor(string digest) => _h.Registry.Count(r => r.IsManifest && r.Reference == CosignSignatureStore.SignatureTag(digest)) > 0;

    private Task<ImageVerificationResult> VerifyAsync(string digest)
    {
        var rule = _h.Policy.Rules[0];
        return _h.Verifier.VerifyAsync(_h.Policy, rule, rule.VerifyImages[0], Runtime.Images.ImageReference.Parse(Image("@" + digest)), digest, CancellationToken.None);
    }

    private static HttpResponseMessage Redirect(Uri location)
    {
        var response = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Content = new ByteArrayContent([]) };
        response.Headers.Location = location;
        return response;
    }

    private static HttpResponseMessage Challenge()
    {
        var response = new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("{}") };
        response.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue("Basic", "realm=\"hostile\""));
        return response;
    }
}

/// <summary>One credential for one registry host.</summary>
internal sealed class FixedCredentialsForHost(string host, RegistryCredential credential) : IRegistryCredentialProvider
{
    public RegistryCredential? Find(string registry, string repository) => string.Equals(registry, host, StringComparison.Ordinal) ? credential : null;
}
