using System.Runtime.ExceptionServices;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using PolicyCompiler.Tests.Shared;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// Everything the webhook tests share, made once per test run: a registry with four images (signed with the
/// policy's key, unsigned, signed with another key, outside every policy), a policy holding this run's
/// public key, the webhook published with that policy compiled in, and the webhook running over HTTPS.
/// Keyless signing has its own private Sigstore deployment (<see cref="Sigstore"/>: Fulcio CA, Rekor and CT
/// log keys made per run), three keyless policies trusting it, and one image per keyless case (<see cref="Keyless"/>).
/// </summary>
public sealed class WebhookFixture : IAsyncLifetime
{
    public const string PolicyName = "e2e-check-image";
    public const string RuleName = "check-signature";

    /// <summary>Every image under e2e/signed* of the test registry must carry a signature of <see cref="Signer"/>.</summary>
    public const string ImageReferencePattern = "127.0.0.1:*/e2e/signed*";

    /// <summary>A second policy, with Kyverno's default rekor settings: signatures must be in a transparency log.</summary>
    public const string TlogPolicyName = "e2e-require-tlog";

    public const string TlogImagePattern = "127.0.0.1:*/e2e/logged*";

    /// <summary>The sample policy under <c>validationFailureAction: Audit</c>: a failure is a warning, not a denial.</summary>
    public const string AuditPolicyName = "e2e-audit-image";

    public const string AuditImagePattern = "127.0.0.1:*/e2e/audit*";

    /// <summary>The sample policy under <c>failurePolicy: Ignore</c>, naming images of a registry nothing listens on.</summary>
    public const string IgnorePolicyName = "e2e-ignore-unreachable";

    public const string IgnoreImagePattern = "127.0.0.1:*/e2e/unreachable*";

    private RegistryProcess? _registry;
    private WebhookHost? _host;

    public TempDirectory Work { get; } = new("webhook");

    public CosignSigner Signer { get; } = CosignSigner.Generate();

    public CosignSigner OtherSigner { get; } = CosignSigner.Generate();

    public TestCertificate Certificate { get; } = TestCertificate.CreateForLoopback("policy-compiler");

    /// <summary>The private Sigstore deployment the keyless policies trust (roots, rekor.pubkey, ctlog.pubkey).</summary>
    public PrivateSigstore Sigstore { get; } = PrivateSigstore.Create("policy-compiler-e2e");

    /// <summary>Another deployment no policy trusts: the CA, Rekor and CT log of the forgeries.</summary>
    public PrivateSigstore OtherSigstore { get; } = PrivateSigstore.Create("attacker-e2e");

    public RegistryProcess Registry => _registry ?? throw new InvalidOperationException("the registry has not started");

    public WebhookHost Host => _host ?? throw new InvalidOperationException("the webhook has not started");

    public PublishedWebhook Published { get; private set; } = null!;

    public AdmissionClient Admission { get; private set; } = null!;

    /// <summary>e2e/signed-app:v1, signed with the policy's key.</summary>
    public PushedImage SignedImage { get; private set; } = null!;

    /// <summary>e2e/signed-unsigned:v1, matched by the policy, no signature.</summary>
    public PushedImage UnsignedImage { get; private set; } = null!;

    /// <summary>e2e/signed-otherkey:v1, matched by the policy, signed with a key the policy does not hold.</summary>
    public PushedImage OtherKeyImage { get; private set; } = null!;

    /// <summary>other/app:v1, no policy matches it.</summary>
    public PushedImage UnmatchedImage { get; private set; } = null!;

    /// <summary>e2e/logged-app:v1, signed with the policy's key but without a Rekor bundle.</summary>
    public PushedImage UnloggedImage { get; private set; } = null!;

    /// <summary>The images of the keyless policies (e2e/keyless-*), each signed right or wrong in one respect.</summary>
    public KeylessImages Keyless { get; private set; } = null!;

    /// <summary>Images carrying (or not) the real cosign v3 attestation bundle as an OCI 1.1 referrer.</summary>
    public CosignV3BundleImages Bundles { get; private set; } = null!;

    /// <summary>Images for cosignOCI11 (signature among the referrers) and tsaCertChain (RFC 3161 timestamps).</summary>
    public TimestampAndReferrerImages Attached { get; } = TimestampAndReferrerImages.Create();

    /// <summary>Images under the type: Notary policy: Notation-signed by its root's chain, by another's, or unsigned.</summary>
    public NotaryImages Notary { get; } = new();

    /// <summary>e2e/audit-unsigned:v1, unsigned, under the Audit policy.</summary>
    public PushedImage AuditImage { get; private set; } = null!;

    /// <summary>A loopback port nothing listens on (picked free at start): the registry of the Ignore policy's images.</summary>
    public string UnreachableRegistry { get; } = "127.0.0.1:" + FreeTcpPort.Pick().ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>e2e/nsel-app:v1, unsigned, under the namespace-selector policy.</summary>
    public PushedImage NamespaceSelectorImage { get; private set; } = null!;

    /// <summary>The API server the webhook reads rule contexts from (a fake: there is no cluster here).</summary>
    public FakeKubernetesApiServer KubernetesApi { get; } = new();

    /// <summary>Signed with <see cref="Signer"/>, whose key the ConfigMap of <see cref="ContextAdmissionTests"/> holds.</summary>
    public PushedImage ContextSignedImage { get; private set; } = null!;

    /// <summary>Signed with <see cref="OtherSigner"/>, matched by the same ConfigMap policy.</summary>
    public PushedImage ContextOtherKeyImage { get; private set; } = null!;

    /// <summary>e2e/rbac-unsigned:v1 and e2e/rbac-signed:v1 (signed by <see cref="Signer"/>), under the roles policy.</summary>
    /// <summary>Images whose config <c>User</c> <see cref="ImageDataAdmissionTests"/> reads from the registry: root and unsigned, root and signed, non-root and unsigned.</summary>
    public PushedImage ImageDataRootUnsignedImage { get; private set; } = null!;

    public PushedImage ImageDataRootSignedImage { get; private set; } = null!;

    public PushedImage ImageDataNonRootImage { get; private set; } = null!;

    public PushedImage RbacUnsignedImage { get; private set; } = null!;

    public PushedImage RbacSignedImage { get; private set; } = null!;

    /// <summary>The HTTPS service that <see cref="ServiceContextAdmissionTests"/>' rule context asks (started before the policies are written: its address and CA are in them).</summary>
    public TestHttpsService DecisionService { get; private set; } = null!;

    /// <summary>e2e/svc-app:v1, unsigned, under the policy whose preconditions read <see cref="DecisionService"/>.</summary>
    public PushedImage ServiceContextImage { get; private set; } = null!;

    /// <summary>e2e/gctx-app:v1, unsigned, under the policy whose preconditions read a GlobalContextEntry.</summary>
    public PushedImage GlobalContextImage { get; private set; } = null!;

    /// <summary>e2e/mc-unsigned:v1, unsigned, under the policy with matchConditions (served at its own path).</summary>
    public PushedImage MatchConditionImage { get; private set; } = null!;

    /// <summary>e2e/mc-signed:v1, signed by <see cref="Signer"/>, under the policy with matchConditions only.</summary>
    public PushedImage MatchConditionSignedImage { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        try
        {
            var policies = Work.CreateSubdirectory("policies");
            DecisionService = await TestHttpsService.StartAsync();
            DecisionService.Answer = ServiceContextAdmissionTests.Decide;
            PolicyTemplate.Write(policies, ServiceContextAdmissionTests.PolicyName, ServiceContextAdmissionTests.Policy(DecisionService.Address, DecisionService.CaPem, Signer.PublicKeyPem));
            PolicyTemplate.Write(policies, PolicyName, PolicyTemplate.CheckImage(PolicyName, RuleName, [ImageReferencePattern], Signer.PublicKeyPem, ignoreTlog: true));
            PolicyTemplate.Write(policies, TlogPolicyName, PolicyTemplate.CheckImage(TlogPolicyName, RuleName, [TlogImagePattern], Signer.PublicKeyPem));
            foreach (var (name, yaml) in KeylessImages.Policies(Sigstore))
            {
                PolicyTemplate.Write(policies, name, yaml);
            }

            PolicyTemplate.Write(policies, CosignV3BundleImages.PolicyName, CosignV3BundleImages.Policy(CosignV3BundleImages.PolicyName, CosignV3BundleImages.Pattern, CosignV3BundleImages.Identity));
            PolicyTemplate.Write(policies, CosignV3BundleImages.WrongIdentityPolicyName, CosignV3BundleImages.Policy(CosignV3BundleImages.WrongIdentityPolicyName, CosignV3BundleImages.WrongIdentityPattern, "someone-else@soyland.com"));
            PolicyTemplate.Write(policies, CosignV3BundleImages.ConditionsPolicyName, CosignV3BundleImages.Policy(CosignV3BundleImages.ConditionsPolicyName, CosignV3BundleImages.ConditionsPattern, CosignV3BundleImages.Identity, CosignV3BundleImages.Conditions));
            PolicyTemplate.Write(policies, CosignV3BundleImages.DenyPolicyName, CosignV3BundleImages.DenyPolicy());
            PolicyTemplate.Write(policies, CosignV3BundleImages.StrictConditionsPolicyName, CosignV3BundleImages.Policy(CosignV3BundleImages.StrictConditionsPolicyName, CosignV3BundleImages.StrictConditionsPattern, CosignV3BundleImages.Identity, CosignV3BundleImages.StrictConditions));

            PolicyTemplate.Write(policies, AuditPolicyName, PolicyTemplate.CheckImage(AuditPolicyName, RuleName, [AuditImagePattern], Signer.PublicKeyPem, ignoreTlog: true, validationFailureAction: "Audit"));
            PolicyTemplate.Write(policies, IgnorePolicyName, PolicyTemplate.CheckImage(IgnorePolicyName, RuleName, [IgnoreImagePattern], Signer.PublicKeyPem, ignoreTlog: true, failurePolicy: "Ignore"));
            PolicyTemplate.Write(policies, NamespaceSelectorAdmissionTests.PolicyName, NamespaceSelectorAdmissionTests.Policy(Signer.PublicKeyPem));
            PolicyTemplate.Write(policies, ContextAdmissionTests.PolicyName, ContextAdmissionTests.Policy());
            KubernetesApi.Objects[ContextAdmissionTests.ConfigMapPath] = ContextAdmissionTests.ConfigMap(Signer.PublicKeyPem);
            PolicyTemplate.Write(policies, GlobalContextAdmissionTests.PolicyName, GlobalContextAdmissionTests.Policy(Signer.PublicKeyPem));
            foreach (var (path, json) in GlobalContextAdmissionTests.ApiObjects())
            {
                KubernetesApi.Objects[path] = json;
            }
            PolicyTemplate.Write(policies, RbacAdmissionTests.PolicyName, RbacAdmissionTests.Policy(Signer.PublicKeyPem));
            PolicyTemplate.Write(policies, MatchConditionAdmissionTests.PolicyName, MatchConditionAdmissionTests.Policy(Signer.PublicKeyPem));
            PolicyTemplate.Write(policies, ImageDataAdmissionTests.PolicyName, ImageDataAdmissionTests.Policy(Signer.PublicKeyPem));
            PolicyTemplate.Write(policies, ManifestTests.RbacPolicyName, ManifestTests.RbacPolicy());
            PolicyTemplate.Write(policies, ManifestTests.NamespacedRbacPolicyName, ManifestTests.NamespacedRbacPolicy());
            foreach (var (name, yaml) in Attached.Policies(Signer.PublicKeyPem))
            {
                PolicyTemplate.Write(policies, name, yaml);
            }

            await Notary.StartRevocationAsync();
            PolicyTemplate.Write(policies, NotaryImages.PolicyName, Notary.Policy());
            foreach (var (name, yaml) in TransportFaultTests.StallPolicies(Signer.PublicKeyPem))
            {
                PolicyTemplate.Write(policies, name, yaml);
            }

            // The publish (minutes) needs only the key; the registry work overlaps with it.
            // The trailing separator matters: the host globs $(PolicyDirectory)**/*.yaml.
            var publish = WebhookPublisher.PublishAsync(policies + Path.DirectorySeparatorChar, Work.Combine("bin"), Work.Combine("artifacts"));
            ExceptionDispatchInfo? registryFailure = null;
            try
            {
                _registry = await RegistryProcess.StartAsync();
                var images = Work.CreateSubdirectory("images");
                SignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/signed-app", "v1");
                await Signer.SignAsync(Registry, SignedImage);
                UnsignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/signed-unsigned", "v1");
                OtherKeyImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/signed-otherkey", "v1");
                await OtherSigner.SignAsync(Registry, OtherKeyImage);
                UnmatchedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "other/app", "v1");
                UnloggedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/logged-app", "v1");
                await Signer.SignAsync(Registry, UnloggedImage);
                Keyless = await KeylessImages.PushAsync(Registry, images, Sigstore, OtherSigstore);
                Bundles = await CosignV3BundleImages.PushAsync(Registry, images);
                AuditImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/audit-unsigned", "v1");
                NamespaceSelectorImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/nsel-app", "v1");
                RbacUnsignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/rbac-unsigned", "v1");
                RbacSignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/rbac-signed", "v1");
                await Signer.SignAsync(Registry, RbacSignedImage);
                await Attached.PushAsync(Registry, images, Signer);
                ContextSignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/ctx-signed", "v1");
                await Signer.SignAsync(Registry, ContextSignedImage);
                ContextOtherKeyImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/ctx-otherkey", "v1");
                await OtherSigner.SignAsync(Registry, ContextOtherKeyImage);
                ImageDataRootUnsignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/imgdata-root", "v1", user: "0");
                ImageDataRootSignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/imgdata-root-signed", "v1", user: "root");
                await Signer.SignAsync(Registry, ImageDataRootSignedImage);
                ImageDataNonRootImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/imgdata-app", "v1", user: "65532:65532");
                await Notary.PushAsync(Registry, images);
                ServiceContextImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/svc-app", "v1");
                GlobalContextImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/gctx-app", "v1");
                MatchConditionImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/mc-unsigned", "v1");
                MatchConditionSignedImage = await OciImageBuilder.BuildAndPushAsync(Registry, images, "e2e/mc-signed", "v1");
                await Signer.SignAsync(Registry, MatchConditionSignedImage);
            }
            catch (Exception e)
            {
                registryFailure = ExceptionDispatchInfo.Capture(e);
            }

            // Never leave the publish running on its own, even when the registry part failed.
            try
            {
                Published = await publish;
            }
            catch (Exception e) when (registryFailure is not null)
            {
                throw new AggregateException(registryFailure.SourceException, e);
            }

            registryFailure?.Throw();

            _host = await WebhookHost.StartAsync(Published, Certificate, Work.Path, [Registry.Host], [.. NamespaceSelectorAdmissionTests.HostArguments, "--Kubernetes:ApiServer=" + KubernetesApi.Address, "--Context:ServiceAllowlist:0=" + new Uri(DecisionService.Address, "/decide")]);
            Admission = new AdmissionClient(Host.Client);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>Webhook and registry logs, for assertion messages.</summary>
    public string Describe() =>
        (_host?.Describe() ?? "webhook not started") + "\n" + (_registry?.Describe() ?? "registry not started");

    public async Task DisposeAsync()
    {
        _host?.Dispose();
        if (DecisionService is not null)
        {
            await DecisionService.DisposeAsync();
        }

        _registry?.Dispose();
        KubernetesApi.Dispose();
        Signer.Dispose();
        OtherSigner.Dispose();
        Sigstore.Dispose();
        OtherSigstore.Dispose();
        Attached.Dispose();
        if (Notary.Revocation is not null)
        {
            await Notary.Revocation.DisposeAsync();
        }

        Notary.Dispose();
        Certificate.Dispose();
        Work.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class WebhookCollection : ICollectionFixture<WebhookFixture>
{
    public const string Name = "webhook end to end";
}
