using System.Text;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The real cosign v3 attestation bundle of TestData/cosign (see its NOTICE) attached, as cosign v3 attaches it, as an
/// OCI 1.1 referrer of its subject: go-containerregistry's empty image, rebuilt byte for byte so that its digest is the
/// one the bundle's in-toto statement names. Docker's registry 2.8 has no referrers API, so the referrer is also listed
/// under the referrers tag schema (<c>sha256-&lt;hex&gt;</c>), the fallback clients use.
/// </summary>
public sealed record CosignV3BundleImages(
    PushedImage Attested,
    PushedImage AttestedForOtherPolicy,
    PushedImage WithoutBundle,
    PushedImage AttestedForConditions,
    PushedImage AttestedForStrictConditions,
    PushedImage AttestedForDeny)
{
    public const string DenyPolicyName = "e2e-cosign-v3-bundle-deny";
    public const string DenyPattern = "127.0.0.1:*/e2e/bundle-deny*";
    public const string DenyMessage = "images attested with foo=bar run only in exempt Pods";

    /// <summary>
    /// <c>validate.deny</c> over the named attestation (<c>cosign</c>, the real predicate) and the request: the image is
    /// denied unless the Pod is labelled app=bundle-deny-exempt.
    /// </summary>
    public static string DenyPolicy() => Policy(DenyPolicyName, DenyPattern, Identity, "name: cosign", $$$"""
        validate:
          message: "{{{DenyMessage}}}"
          deny:
            conditions:
              all:
              - key: "{{ parse_json(cosign.Data).foo }}"
                operator: Equals
                value: bar
              - key: "{{ request.object.metadata.labels.app }}"
                operator: NotEquals
                value: bundle-deny-exempt
        """);

    public const string PolicyName = "e2e-cosign-v3-bundle";
    public const string WrongIdentityPolicyName = "e2e-cosign-v3-bundle-wrong-identity";
    public const string ConditionsPolicyName = "e2e-cosign-v3-bundle-conditions";
    public const string StrictConditionsPolicyName = "e2e-cosign-v3-bundle-strict-conditions";
    public const string Pattern = "127.0.0.1:*/e2e/bundle-app*";
    public const string WrongIdentityPattern = "127.0.0.1:*/e2e/bundle-other*";
    public const string ConditionsPattern = "127.0.0.1:*/e2e/bundle-cond*";
    public const string StrictConditionsPattern = "127.0.0.1:*/e2e/bundle-strict*";

    /// <summary>
    /// Conditions on the bundle's real predicate (<c>{"Data": "{\"foo\": \"bar\"}\n", "Timestamp": "2025-02-28T19:18:11Z"}</c>)
    /// that hold, and one on the admission request: only Pods named in the list may run the image.
    /// </summary>
    public const string Conditions = """
        conditions:
        - all:
          - key: "{{ parse_json(Data).foo }}"
            operator: Equals
            value: bar
          - key: "{{ time_after(Timestamp, '2025-01-01T00:00:00Z') }}"
            operator: Equals
            value: true
        - any:
          - key: "{{ request.object.metadata.labels.app }}"
            operator: AnyIn
            value: [bundle-cond-ok, bundle-cond-ok-again]
            message: "Pods labelled app={{ request.object.metadata.labels.app }} may not run this image"
        """;

    /// <summary>A condition the real predicate does not meet, with a message that quotes the predicate.</summary>
    public const string StrictConditions = """
        conditions:
        - all:
          - key: "{{ parse_json(Data).foo }}"
            operator: Equals
            value: baz
            message: "the attested data names foo={{ parse_json(Data).foo }}, not baz"
        """;
    public const string PredicateType = "https://cosign.sigstore.dev/attestation/v1";
    public const string SubjectDigest = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
    public const string Identity = "cody@soyland.com";
    public const string Issuer = "https://github.com/login/oauth";
    private const string BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";
    private const string EmptyMediaType = "application/vnd.oci.empty.v1+json";

    /// <summary>The policy: Sigstore bundles, one attestation of the bundle's predicate type by its keyless signer.</summary>
    /// <param name="conditions">Fields added to the attestation (its conditions, its name).</param>
    /// <param name="entryFields">Fields added to the verifyImages entry (validate).</param>
    public static string Policy(string name, string pattern, string identity, string? conditions = null, string? entryFields = null) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: {{name}}
        spec:
          validationFailureAction: Enforce
          webhookTimeoutSeconds: 30
          rules:
            - name: check-bundle
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["{{pattern}}"]
                type: SigstoreBundle
                attestations:
                - type: {{PredicateType}}
                  attestors:
                  - entries:
                    - keyless:
                        subject: "{{identity}}"
                        issuer: "{{Issuer}}"
                  {{Indent(conditions, 10)}}
                {{Indent(entryFields, 8)}}
        """;

    private static string Indent(string? text, int spaces) =>
        text is null ? string.Empty : string.Join("\n" + new string(' ', spaces), text.Split('\n'));

    public static async Task<CosignV3BundleImages> PushAsync(RegistryProcess registry, string workDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var attested = await PushSubjectAsync(registry, "e2e/bundle-app", cancellationToken).ConfigureAwait(false);
        await AttachBundleAsync(registry, attested.Repository, cancellationToken).ConfigureAwait(false);
        var other = await PushSubjectAsync(registry, "e2e/bundle-other", cancellationToken).ConfigureAwait(false);
        await AttachBundleAsync(registry, other.Repository, cancellationToken).ConfigureAwait(false);
        var without = await OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/bundle-app-unattested", "v1", cancellationToken: cancellationToken).ConfigureAwait(false);
        var conditions = await PushSubjectAsync(registry, "e2e/bundle-cond", cancellationToken).ConfigureAwait(false);
        await AttachBundleAsync(registry, conditions.Repository, cancellationToken).ConfigureAwait(false);
        var strict = await PushSubjectAsync(registry, "e2e/bundle-strict", cancellationToken).ConfigureAwait(false);
        await AttachBundleAsync(registry, strict.Repository, cancellationToken).ConfigureAwait(false);
        var deny = await PushSubjectAsync(registry, "e2e/bundle-deny", cancellationToken).ConfigureAwait(false);
        await AttachBundleAsync(registry, deny.Repository, cancellationToken).ConfigureAwait(false);
        return new CosignV3BundleImages(attested, other, without, conditions, strict, deny);
    }

    private static async Task<PushedImage> PushSubjectAsync(RegistryProcess registry, string repository, CancellationToken cancellationToken)
    {
        var config = Encoding.UTF8.GetBytes("""{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}""");
        var configDigest = await registry.Distribution.PushBlobAsync(repository, config, cancellationToken).ConfigureAwait(false);
        var manifest = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":{{config.Length}},"digest":"{{configDigest}}"},"layers":[]}""");
        var digest = await registry.Distribution.PutManifestAsync(repository, "v1", MediaTypes.DockerManifest, manifest, cancellationToken).ConfigureAwait(false);
        if (digest != SubjectDigest)
        {
            throw new InvalidOperationException($"the rebuilt subject image hashes to {digest}, not to the bundle's subject {SubjectDigest}");
        }

        return new PushedImage(registry.Host, repository, "v1", digest);
    }

    private static async Task AttachBundleAsync(RegistryProcess registry, string repository, CancellationToken cancellationToken)
    {
        var bundle = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "TestData", "cosign", "oci-attestation.sigstore.json"), cancellationToken).ConfigureAwait(false);
        var empty = "{}"u8.ToArray();
        var emptyDigest = await registry.Distribution.PushBlobAsync(repository, empty, cancellationToken).ConfigureAwait(false);
        var bundleDigest = await registry.Distribution.PushBlobAsync(repository, bundle, cancellationToken).ConfigureAwait(false);
        var subject = await registry.Distribution.GetManifestAsync(repository, SubjectDigest, cancellationToken: cancellationToken).ConfigureAwait(false);
        var annotations = new JsonObject
        {
            ["dev.sigstore.bundle.content"] = "dsse-envelope",
            ["dev.sigstore.bundle.predicateType"] = PredicateType,
        };
        var referrer = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["artifactType"] = BundleMediaType,
            ["config"] = new JsonObject { ["mediaType"] = EmptyMediaType, ["digest"] = emptyDigest, ["size"] = empty.Length },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = BundleMediaType, ["digest"] = bundleDigest, ["size"] = bundle.Length }),
            ["subject"] = new JsonObject { ["mediaType"] = MediaTypes.DockerManifest, ["digest"] = SubjectDigest, ["size"] = subject.Content.Length },
            ["annotations"] = annotations.DeepClone(),
        }.ToJsonString());
        await OciContentPusher.PushReferrerAsync(registry.Distribution, repository, SubjectDigest, referrer, BundleMediaType, annotations, cancellationToken).ConfigureAwait(false);
    }
}
