using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Two policies and their images for <c>cosignOCI11</c> and <c>ctlog.tsaCertChain</c>: a signature attached only as
/// an OCI 1.1 referrer (cosign's <c>--registry-referrers-mode=oci-1-1</c> layout), and signatures carrying RFC 3161
/// timestamps from the policy's timestamp authority or from one the policy does not name.
/// </summary>
public sealed class TimestampAndReferrerImages : IDisposable
{
    public const string ReferrerPolicyName = "e2e-cosign-oci11";
    public const string ReferrerPattern = "127.0.0.1:*/e2e/oci11-*";
    public const string TimestampPolicyName = "e2e-tsa-chain";
    public const string TimestampPattern = "127.0.0.1:*/e2e/stamped-*";
    public const string SignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json";
    public const string TimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp";

    private TimestampAndReferrerImages(TestTimestampAuthority authority, TestTimestampAuthority stranger)
    {
        Authority = authority;
        Stranger = stranger;
    }

    /// <summary>The timestamp authority the policy names (its root only, as a tsaCertChain may).</summary>
    internal TestTimestampAuthority Authority { get; }

    /// <summary>A timestamp authority no policy names.</summary>
    internal TestTimestampAuthority Stranger { get; }

    /// <summary>e2e/oci11-app:v1, its signature only among its referrers.</summary>
    public PushedImage ReferrerSigned { get; private set; } = null!;

    /// <summary>e2e/oci11-tagged:v1, signed at the .sig tag only (cosign's fallback).</summary>
    public PushedImage TagSigned { get; private set; } = null!;

    /// <summary>e2e/stamped-referrer:v1, signed only among its referrers, under the policy without cosignOCI11.</summary>
    public PushedImage ReferrerSignedWithoutOci11 { get; private set; } = null!;

    /// <summary>e2e/stamped-app:v1, signed with a timestamp from <see cref="Authority"/>.</summary>
    public PushedImage Stamped { get; private set; } = null!;

    /// <summary>e2e/stamped-stranger:v1, signed with a timestamp from <see cref="Stranger"/>.</summary>
    public PushedImage StampedByStranger { get; private set; } = null!;

    public static TimestampAndReferrerImages Create()
    {
        var now = DateTimeOffset.UtcNow;
        return new TimestampAndReferrerImages(new TestTimestampAuthority(now.AddDays(-1), now.AddYears(1), "E2E TSA"), new TestTimestampAuthority(now.AddDays(-1), now.AddYears(1), "Stranger TSA"));
    }

    public IEnumerable<(string Name, string Yaml)> Policies(string publicKeyPem)
    {
        yield return (ReferrerPolicyName, Policy(ReferrerPolicyName, ReferrerPattern, publicKeyPem, "      cosignOCI11: true\n", string.Empty));
        var chain = string.Concat(Authority.Root.ExportCertificatePem().Trim().Split('\n').Select(line => new string(' ', 16) + line.TrimEnd('\r') + "\n"));
        yield return (TimestampPolicyName, Policy(TimestampPolicyName, TimestampPattern, publicKeyPem, string.Empty, "            ctlog:\n              tsaCertChain: |-\n" + chain));
    }

    private static string Policy(string name, string pattern, string publicKeyPem, string entryFields, string keyFields)
    {
        var key = string.Concat(publicKeyPem.Trim().Split('\n').Select(line => new string(' ', 14) + line.TrimEnd('\r') + "\n"));
        return $"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: {name}
            spec:
              validationFailureAction: Enforce
              webhookTimeoutSeconds: 30
              rules:
              - name: check-signature
                match:
                  any:
                  - resources:
                      kinds: [Pod]
                verifyImages:
                - imageReferences: ["{pattern}"]

            """ + entryFields + """
                  attestors:
                  - entries:
                    - keys:
                        publicKeys: |-

            """ + key + """
                        rekor: {ignoreTlog: true}

            """ + keyFields;
    }

    public async Task PushAsync(RegistryProcess registry, string workDirectory, CosignSigner signer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(signer);
        ReferrerSigned = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/oci11-app", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await AttachAsReferrerAsync(registry.Distribution, signer, ReferrerSigned, cancellationToken).ConfigureAwait(false);
        TagSigned = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/oci11-tagged", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await signer.SignAsync(registry, TagSigned, cancellationToken: cancellationToken).ConfigureAwait(false);

        Stamped = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/stamped-app", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await SignWithTimestampAsync(registry.Distribution, signer, Stamped, Authority, cancellationToken).ConfigureAwait(false);
        ReferrerSignedWithoutOci11 = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/stamped-referrer", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await AttachAsReferrerAsync(registry.Distribution, signer, ReferrerSignedWithoutOci11, cancellationToken).ConfigureAwait(false);
        StampedByStranger = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/stamped-stranger", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await SignWithTimestampAsync(registry.Distribution, signer, StampedByStranger, Stranger, cancellationToken).ConfigureAwait(false);
    }

    private static Task SignWithTimestampAsync(DistributionClient distribution, CosignSigner signer, PushedImage image, TestTimestampAuthority authority, CancellationToken cancellationToken)
    {
        var payload = CosignSigner.CreatePayload(image.RepositoryReference, image.Digest);
        var signature = signer.Sign(payload);
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [CosignSigner.SignatureAnnotation] = signature,

            // cosign timestamps the raw signature bytes, not their base64.
            [TimestampAnnotation] = authority.Annotation(Convert.FromBase64String(signature), DateTimeOffset.UtcNow),
        };
        return CosignSigner.PushSignatureAsync(distribution, image.Repository, image.Digest, payload, annotations, cancellationToken);
    }

    /// <summary>
    /// cosign's WriteSignaturesExperimentalOCI: the signature image's manifest with <c>config.mediaType</c> set to the
    /// artifact type and the image as <c>subject</c>, pushed by digest; listed in the referrers tag schema's index,
    /// which go-containerregistry maintains for registries without the referrers API.
    /// </summary>
    private static async Task AttachAsReferrerAsync(DistributionClient distribution, CosignSigner signer, PushedImage image, CancellationToken cancellationToken)
    {
        var payload = CosignSigner.CreatePayload(image.RepositoryReference, image.Digest);
        var layerDigest = await distribution.PushBlobAsync(image.Repository, payload, cancellationToken).ConfigureAwait(false);
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["{{{layerDigest}}}"]},"config":{}}""");
        var configDigest = await distribution.PushBlobAsync(image.Repository, config, cancellationToken).ConfigureAwait(false);
        var subject = await distribution.GetManifestAsync(image.Repository, image.Digest, cancellationToken: cancellationToken).ConfigureAwait(false);
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = new JsonObject { ["mediaType"] = SignatureArtifactType, ["size"] = config.Length, ["digest"] = configDigest },
            ["layers"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = MediaTypes.CosignSimpleSigning,
                ["size"] = payload.Length,
                ["digest"] = layerDigest,
                ["annotations"] = new JsonObject { [CosignSigner.SignatureAnnotation] = signer.Sign(payload) },
            }),
            ["subject"] = new JsonObject { ["mediaType"] = subject.MediaType ?? MediaTypes.OciManifest, ["digest"] = image.Digest, ["size"] = subject.Content.Length },
        }.ToJsonString());
        await OciContentPusher.PushReferrerAsync(distribution, image.Repository, image.Digest, manifest, SignatureArtifactType, annotations: null, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        Authority.Dispose();
        Stranger.Dispose();
    }
}
