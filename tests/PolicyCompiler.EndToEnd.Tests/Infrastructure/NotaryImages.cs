using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using PolicyCompiler.Runtime.Tests.Notary;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A <c>type: Notary</c> policy trusting one root CA, and images under it: signed by a chain from that root, signed by
/// a chain from another root, and unsigned. Signatures are laid out as <c>notation sign</c> attaches them: an OCI
/// manifest of artifact type <c>application/vnd.cncf.notary.signature</c> with the empty config, the JWS envelope as
/// its one layer and the image as its subject, listed in the referrers tag schema's index (Debian's registry has no
/// referrers API). A second rule verifies Notation attestations: under <see cref="AttestationPattern"/>, images carry a
/// referrer of artifact type <see cref="AttestationType"/> (a JSON verdict as its one layer), itself Notation-signed by a
/// signature referring to it.
/// </summary>
public sealed class NotaryImages : IDisposable
{
    public const string PolicyName = "e2e-notary";
    public const string Pattern = "127.0.0.1:*/e2e/notary-*";
    public const string ArtifactType = "application/vnd.cncf.notary.signature";
    public const string AttestationPattern = "127.0.0.1:*/e2e/notation-attested-*";
    public const string AttestationType = "application/vnd.policycompiler.e2e.verdict+json";

    // The OCI empty descriptor's content, "{}".
    private static readonly byte[] s_emptyConfig = "{}"u8.ToArray();

    internal NotationTestSigner Trusted { get; } = new("e2e notation");

    internal NotationTestSigner Stranger { get; } = new("stranger notation");

    /// <summary>e2e/notary-signed:v1, signed by a chain from the policy's root.</summary>
    public PushedImage Signed { get; private set; } = null!;

    /// <summary>e2e/notary-stranger:v1, signed by a chain from another root.</summary>
    public PushedImage SignedByStranger { get; private set; } = null!;

    /// <summary>e2e/notary-unsigned:v1, with no signature.</summary>
    public PushedImage Unsigned { get; private set; } = null!;

    /// <summary>e2e/notation-attested-pass:v1: a verdict attestation saying pass, signed by the policy's root's chain.</summary>
    public PushedImage AttestedPass { get; private set; } = null!;

    /// <summary>e2e/notation-attested-fail:v1: a verdict attestation saying fail, signed by the policy's root's chain.</summary>
    public PushedImage AttestedFail { get; private set; } = null!;

    /// <summary>e2e/notation-attested-stranger:v1: a verdict attestation saying pass, signed by another root's chain.</summary>
    public PushedImage AttestedByStranger { get; private set; } = null!;

    /// <summary>e2e/notation-attested-none:v1: no attestation at all.</summary>
    public PushedImage NotAttested { get; private set; } = null!;

    /// <summary>
    /// A test double of a CA's OCSP responder (loopback HTTP), whose root the policy trusts beside <see cref="Trusted"/>'s:
    /// the webhook process asks it about the leaves of <see cref="OcspGood"/> and <see cref="Revoked"/>.
    /// </summary>
    internal TestRevocationAuthority? Revocation { get; private set; }

    /// <summary>e2e/notary-ocsp-good:v1, signed by a leaf whose OCSP responder says good.</summary>
    public PushedImage OcspGood { get; private set; } = null!;

    /// <summary>e2e/notary-revoked:v1, signed by a leaf whose OCSP responder says revoked.</summary>
    public PushedImage Revoked { get; private set; } = null!;

    /// <summary>
    /// e2e/notary-ocsp-outage:v1, signed by a leaf of its own (not revoked), for the test that takes the OCSP responder
    /// down and brings it back: an image no other test reviews, so no verdict of theirs is cached from the outage.
    /// </summary>
    public PushedImage OcspOutage { get; private set; } = null!;

    private NotationTestSigner? _ocspGoodSigner;
    private NotationTestSigner? _revokedSigner;
    private NotationTestSigner? _ocspOutageSigner;

    /// <summary>Starts the revocation test double; before <see cref="Policy"/>, which trusts its root.</summary>
    public async Task StartRevocationAsync()
    {
        Revocation = await TestRevocationAuthority.StartAsync().ConfigureAwait(false);
        _ocspGoodSigner = Revocation.IssueSigner([Revocation.Url("intermediate/ocsp")], [], out _);
        _revokedSigner = Revocation.IssueSigner([Revocation.Url("intermediate/ocsp")], [], out var serial);
        Revocation.Revoked[serial] = true;
        _ocspOutageSigner = Revocation.IssueSigner([Revocation.Url("intermediate/ocsp")], [], out _);
    }

    public string Policy()
    {
        var roots = Trusted.Root.ExportCertificatePem().Trim() + (Revocation is null ? "" : "\n" + Revocation.Root.ExportCertificatePem().Trim());
        var cert = string.Concat(roots.Split('\n').Select(line => new string(' ', 14) + line.TrimEnd('\r') + "\n"));
        return $"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: {PolicyName}
            spec:
              validationFailureAction: Enforce
              webhookTimeoutSeconds: 30
              rules:
              - name: check-notation
                match:
                  any:
                  - resources:
                      kinds: [Pod]
                verifyImages:
                - type: Notary
                  imageReferences: ["{Pattern}"]
                  attestors:
                  - count: 1
                    entries:
                    - certificates:
                        cert: |-

            """ + cert + $"""
              - name: check-notation-attestation
                match:
                  any:
                  - resources:
                      kinds: [Pod]
                verifyImages:
                - type: Notary
                  imageReferences: ["{AttestationPattern}"]
                  attestations:
                  - type: {AttestationType}
                    attestors:
                    - entries:
                      - certificates:
                          cert: |-

            """ + cert.Replace("\n", "\n  ", StringComparison.Ordinal).Insert(0, "  ").TrimEnd(' ') + """
                    conditions:
                    - all:
                      - key: "{{ verdict }}"
                        operator: Equals
                        value: pass

            """;
    }

    public async Task PushAsync(RegistryProcess registry, string workDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        Signed = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notary-signed", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await AttachAsync(registry.Distribution, Trusted, Signed, cancellationToken).ConfigureAwait(false);
        SignedByStranger = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notary-stranger", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await AttachAsync(registry.Distribution, Stranger, SignedByStranger, cancellationToken).ConfigureAwait(false);
        Unsigned = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notary-unsigned", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (_ocspGoodSigner is not null && _revokedSigner is not null)
        {
            OcspGood = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notary-ocsp-good", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
            await AttachAsync(registry.Distribution, _ocspGoodSigner, OcspGood, cancellationToken).ConfigureAwait(false);
            Revoked = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notary-revoked", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
            await AttachAsync(registry.Distribution, _revokedSigner, Revoked, cancellationToken).ConfigureAwait(false);
            OcspOutage = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notary-ocsp-outage", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
            await AttachAsync(registry.Distribution, _ocspOutageSigner!, OcspOutage, cancellationToken).ConfigureAwait(false);
        }

        AttestedPass = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notation-attested-pass", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await AttestAsync(registry.Distribution, Trusted, AttestedPass, "pass", cancellationToken).ConfigureAwait(false);
        AttestedFail = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notation-attested-fail", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await AttestAsync(registry.Distribution, Trusted, AttestedFail, "fail", cancellationToken).ConfigureAwait(false);
        AttestedByStranger = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notation-attested-stranger", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        await AttestAsync(registry.Distribution, Stranger, AttestedByStranger, "pass", cancellationToken).ConfigureAwait(false);
        NotAttested = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/notation-attested-none", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Attaches a verdict attestation to the image (a referrer of <see cref="AttestationType"/> with the JSON predicate as
    /// its layer), then signs the attestation's manifest with Notation and attaches that signature to it.
    /// </summary>
    private static async Task AttestAsync(DistributionClient distribution, NotationTestSigner signer, PushedImage image, string verdict, CancellationToken cancellationToken)
    {
        var subject = await distribution.GetManifestAsync(image.Repository, image.Digest, cancellationToken: cancellationToken).ConfigureAwait(false);
        var predicate = Encoding.UTF8.GetBytes(new JsonObject { ["verdict"] = verdict, ["scanner"] = "e2e" }.ToJsonString());
        var predicateDigest = await distribution.PushBlobAsync(image.Repository, predicate, cancellationToken).ConfigureAwait(false);
        var configDigest = await distribution.PushBlobAsync(image.Repository, s_emptyConfig, cancellationToken).ConfigureAwait(false);
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["artifactType"] = AttestationType,
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.empty.v1+json", ["digest"] = configDigest, ["size"] = s_emptyConfig.Length, ["data"] = "e30=" },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = "application/json", ["digest"] = predicateDigest, ["size"] = predicate.Length }),
            ["subject"] = new JsonObject { ["mediaType"] = subject.MediaType ?? MediaTypes.OciManifest, ["digest"] = image.Digest, ["size"] = subject.Content.Length },
        }.ToJsonString());
        await OciContentPusher.PushReferrerAsync(distribution, image.Repository, image.Digest, manifest, AttestationType, annotations: null, cancellationToken).ConfigureAwait(false);
        await AttachAsync(distribution, signer, image with { Tag = "attestation", Digest = Digests.Sha256(manifest) }, cancellationToken).ConfigureAwait(false);
    }

    private static async Task AttachAsync(DistributionClient distribution, NotationTestSigner signer, PushedImage image, CancellationToken cancellationToken)
    {
        var subject = await distribution.GetManifestAsync(image.Repository, image.Digest, cancellationToken: cancellationToken).ConfigureAwait(false);
        var subjectMediaType = subject.MediaType ?? MediaTypes.OciManifest;
        var envelope = signer.Sign(subjectMediaType, image.Digest, subject.Content.Length);
        var envelopeDigest = await distribution.PushBlobAsync(image.Repository, envelope, cancellationToken).ConfigureAwait(false);
        var configDigest = await distribution.PushBlobAsync(image.Repository, s_emptyConfig, cancellationToken).ConfigureAwait(false);
        var thumbprints = new JsonArray(
            Convert.ToHexStringLower(SHA256.HashData(signer.Leaf.RawData)),
            Convert.ToHexStringLower(SHA256.HashData(signer.Intermediate.RawData)),
            Convert.ToHexStringLower(SHA256.HashData(signer.Root.RawData)));
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["artifactType"] = ArtifactType,
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.empty.v1+json", ["digest"] = configDigest, ["size"] = s_emptyConfig.Length, ["data"] = "e30=" },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = "application/jose+json", ["digest"] = envelopeDigest, ["size"] = envelope.Length }),
            ["subject"] = new JsonObject { ["mediaType"] = subjectMediaType, ["digest"] = image.Digest, ["size"] = subject.Content.Length },
            ["annotations"] = new JsonObject { ["io.cncf.notary.x509chain.thumbprint#S256"] = thumbprints.ToJsonString() },
        }.ToJsonString());
        await OciContentPusher.PushReferrerAsync(distribution, image.Repository, image.Digest, manifest, ArtifactType, annotations: null, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        Trusted.Dispose();
        Stranger.Dispose();
        _ocspGoodSigner?.Dispose();
        _revokedSigner?.Dispose();
        _ocspOutageSigner?.Dispose();
    }
}
