namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>An image in the test registry and the keyless signature pushed for it.</summary>
public sealed record KeylessImage(PushedImage Image, KeylessSignature Signature);

/// <summary>
/// The keyless half of the webhook fixture: three policies trusting a private Sigstore deployment (one per way of
/// naming an identity: wildcard subject + exact issuer, regular expressions, Fulcio extensions), and one image per
/// case, signed right or wrong in exactly one respect. Every image is under <c>e2e/keyless-*</c>.
/// </summary>
public sealed class KeylessImages
{
    public const string RuleName = "verify-keyless";

    /// <summary>subject: <c>*@signers.test.example</c>, issuer: <c>https://issuer.test.example</c>.</summary>
    public const string IdentityPolicyName = "e2e-keyless-identity";
    public const string IdentityImagePattern = "127.0.0.1:*/e2e/keyless-id-*";
    public const string IdentitySubject = "*@signers.test.example";
    public const string IdentityIssuer = "https://issuer.test.example";

    /// <summary>subjectRegExp and issuerRegExp for a GitHub release workflow.</summary>
    public const string RegExpPolicyName = "e2e-keyless-regexp";
    public const string RegExpImagePattern = "127.0.0.1:*/e2e/keyless-re-*";
    public const string SubjectRegExp = @"^https://github\.com/policy-compiler/e2e/\.github/workflows/release\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+$";
    public const string IssuerRegExp = @"^https://token\.actions\.githubusercontent\.com$";

    /// <summary>A wildcard subject, an exact issuer and additionalExtensions by name (raw and DER encoded) and by OID.</summary>
    public const string ExtensionsPolicyName = "e2e-keyless-extensions";
    public const string ExtensionsImagePattern = "127.0.0.1:*/e2e/keyless-ext-*";
    public const string ExtensionsSubject = "https://github.com/policy-compiler/*";
    public const string GitHubIssuer = "https://token.actions.githubusercontent.com";
    public const string WorkflowSha = "0123456789abcdef0123456789abcdef01234567";

    /// <summary>The extensions the extensions policy requires, in the order the YAML lists them.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> RequiredExtensions { get; } =
    [
        KeyValuePair.Create("githubWorkflowTrigger", "push"),
        KeyValuePair.Create("githubWorkflowRepository", "policy-compiler/e2e"),
        KeyValuePair.Create("sourceRepositoryURI", "https://github.com/policy-compiler/e2e"),
        KeyValuePair.Create("buildTrigger", "push"),
        KeyValuePair.Create(SigningIdentity.GitHubWorkflowShaOid, WorkflowSha),
    ];

    /// <summary>An e-mail identity the identity policy accepts.</summary>
    public static SigningIdentity Alice { get; } = new("alice@signers.test.example", IdentityIssuer);

    /// <summary>The release workflow of policy-compiler/e2e at tag v1.2.3, pushed: what both GitHub policies accept.</summary>
    public static SigningIdentity ReleaseWorkflow { get; } =
        SigningIdentity.GitHubWorkflow("policy-compiler/e2e", ".github/workflows/release.yml", "refs/tags/v1.2.3", "push", WorkflowSha);

    private KeylessImages()
    {
    }

    // The identity policy.

    /// <summary>alice@signers.test.example, issuer https://issuer.test.example: allowed.</summary>
    public KeylessImage IdentityAllowed { get; private set; } = null!;

    /// <summary>Right identity in a certificate with only the deprecated raw issuer extension (.1.1): allowed.</summary>
    public KeylessImage LegacyIssuerAllowed { get; private set; } = null!;

    /// <summary>SAN alice@signers.test.example.attacker.example: the wildcard must match the whole subject.</summary>
    public KeylessImage WrongSubject { get; private set; } = null!;

    public const string WrongSubjectEmail = "alice@signers.test.example.attacker.example";

    /// <summary>Issuer https://accounts.attacker.example.</summary>
    public KeylessImage WrongIssuer { get; private set; } = null!;

    public const string WrongIssuerUrl = "https://accounts.attacker.example";

    /// <summary>Right identity, certificate from another CA (its chain annotation leads to that CA's root).</summary>
    public KeylessImage OtherCa { get; private set; } = null!;

    /// <summary>Bundle from another Rekor (its own log ID and key).</summary>
    public KeylessImage OtherRekor { get; private set; } = null!;

    /// <summary>Bundle claiming the trusted Rekor's log ID, signed by another key.</summary>
    public KeylessImage ForgedBundle { get; private set; } = null!;

    /// <summary>
    /// A certificate that had expired when the entry was logged, and a bundle whose integratedTime was moved back into
    /// the certificate's validity after the log signed it.
    /// </summary>
    public KeylessImage TamperedBundle { get; private set; } = null!;

    /// <summary>A valid bundle of the trusted log, but of the signature of <see cref="IdentityAllowed"/>.</summary>
    public KeylessImage ReplayedBundle { get; private set; } = null!;

    /// <summary>Right identity, no <c>dev.sigstore.cosign/bundle</c> annotation.</summary>
    public KeylessImage NoBundle { get; private set; } = null!;

    /// <summary>The embedded SCT comes from another CT log.</summary>
    public KeylessImage UntrustedSct { get; private set; } = null!;

    /// <summary>The embedded SCT claims the trusted CT log's ID but is signed by another key.</summary>
    public KeylessImage ForgedSct { get; private set; } = null!;

    /// <summary>A certificate without the SCT list extension.</summary>
    public KeylessImage NoSct { get; private set; } = null!;

    /// <summary>A certificate of the trusted CA for TLS servers (EKU serverAuth), not for code signing.</summary>
    public KeylessImage NotForCodeSigning { get; private set; } = null!;

    /// <summary>Two signature layers: one with a certificate of another CA, then a valid one.</summary>
    public KeylessImage ForgedThenValid { get; private set; } = null!;

    /// <summary>Certificate valid from 30 to 20 minutes before the entry's integrated time.</summary>
    public KeylessImage Expired { get; private set; } = null!;

    /// <summary>A valid keyless signature of <see cref="IdentityAllowed"/>'s digest, pushed for another image.</summary>
    public KeylessImage OtherDigest { get; private set; } = null!;

    // The regular-expression policy.

    public KeylessImage RegExpAllowed { get; private set; } = null!;

    /// <summary>The workflow at refs/heads/main instead of a release tag.</summary>
    public KeylessImage RegExpWrongSubject { get; private set; } = null!;

    /// <summary>Issuer https://token.actions.githubusercontent.com.attacker.example: the anchored regex must not match.</summary>
    public KeylessImage RegExpWrongIssuer { get; private set; } = null!;

    public const string RegExpWrongIssuerUrl = "https://token.actions.githubusercontent.com.attacker.example";

    // The extensions policy.

    public KeylessImage ExtensionsAllowed { get; private set; } = null!;

    /// <summary>No githubWorkflowTrigger extension (1.3.6.1.4.1.57264.1.2).</summary>
    public KeylessImage ExtensionMissing { get; private set; } = null!;

    /// <summary>githubWorkflowTrigger (raw .1.2) is pull_request.</summary>
    public KeylessImage ExtensionWrongRaw { get; private set; } = null!;

    /// <summary>sourceRepositoryURI (DER .1.12) is another repository.</summary>
    public KeylessImage ExtensionWrongDer { get; private set; } = null!;

    public const string AttackerRepositoryUri = "https://github.com/attacker/e2e";

    /// <summary>The extension required by OID (githubWorkflowSha, .1.3) has another commit.</summary>
    public KeylessImage ExtensionWrongByOid { get; private set; } = null!;

    public const string OtherSha = "fedcba9876543210fedcba9876543210fedcba98";

    /// <summary>The three policies, as (name, YAML), trusting <paramref name="sigstore"/>.</summary>
    public static IEnumerable<(string Name, string Yaml)> Policies(PrivateSigstore sigstore)
    {
        ArgumentNullException.ThrowIfNull(sigstore);
        var trust = new KeylessAttestor
        {
            RootsPem = sigstore.Fulcio.RootPem,
            RekorUrl = PrivateSigstore.RekorUrl,
            RekorPublicKeyPem = sigstore.Rekor.PublicKeyPem,
            CtLogPublicKeyPem = sigstore.CtLog.PublicKeyPem,
        };
        yield return (IdentityPolicyName, KeylessPolicyTemplate.Create(IdentityPolicyName, RuleName, [IdentityImagePattern], trust with { Subject = IdentitySubject, Issuer = IdentityIssuer }));
        yield return (RegExpPolicyName, KeylessPolicyTemplate.Create(RegExpPolicyName, RuleName, [RegExpImagePattern], trust with { SubjectRegExp = SubjectRegExp, IssuerRegExp = IssuerRegExp }));
        yield return (ExtensionsPolicyName, KeylessPolicyTemplate.Create(ExtensionsPolicyName, RuleName, [ExtensionsImagePattern], trust with { Subject = ExtensionsSubject, Issuer = GitHubIssuer, AdditionalExtensions = RequiredExtensions }));
    }

    /// <summary>Builds, pushes and signs every image (about one second each with skopeo).</summary>
    public static async Task<KeylessImages> PushAsync(RegistryProcess registry, string workDirectory, PrivateSigstore sigstore, PrivateSigstore other, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(sigstore);
        ArgumentNullException.ThrowIfNull(other);
        var images = new KeylessImages();
        var now = PrivateSigstore.TruncateToSeconds(DateTimeOffset.UtcNow);

        Task<PushedImage> Push(string name) => OciImageBuilder.BuildAndPushAsync(registry, workDirectory, "e2e/" + name, "v1", cancellationToken: cancellationToken);

        async Task<KeylessImage> Signed(string name, SigningIdentity identity, KeylessSigningOptions? options = null)
        {
            var image = await Push(name).ConfigureAwait(false);
            return new KeylessImage(image, await sigstore.SignAndPushAsync(registry, image, identity, options, cancellationToken).ConfigureAwait(false));
        }

        async Task<KeylessImage> Pushed(string name, Func<PushedImage, KeylessSignature> sign)
        {
            var image = await Push(name).ConfigureAwait(false);
            var signature = sign(image);
            await PrivateSigstore.PushAsync(registry, image, signature, cancellationToken).ConfigureAwait(false);
            return new KeylessImage(image, signature);
        }

        images.IdentityAllowed = await Signed("keyless-id-allowed", Alice).ConfigureAwait(false);
        images.LegacyIssuerAllowed = await Signed("keyless-id-legacy-issuer", Alice with { LegacyIssuerOnly = true }).ConfigureAwait(false);
        images.WrongSubject = await Signed("keyless-id-wrong-subject", Alice with { Subject = WrongSubjectEmail }).ConfigureAwait(false);
        images.WrongIssuer = await Signed("keyless-id-wrong-issuer", Alice with { Issuer = WrongIssuerUrl }).ConfigureAwait(false);
        images.OtherCa = await Signed("keyless-id-other-ca", Alice, new KeylessSigningOptions { Fulcio = other.Fulcio }).ConfigureAwait(false);
        images.OtherRekor = await Signed("keyless-id-other-rekor", Alice, new KeylessSigningOptions { Rekor = other.Rekor }).ConfigureAwait(false);
        using (var forger = other.Rekor.Impersonating(sigstore.Rekor))
        {
            images.ForgedBundle = await Signed("keyless-id-forged-bundle", Alice, new KeylessSigningOptions { Rekor = forger }).ConfigureAwait(false);
        }

        var expiredWindow = new KeylessSigningOptions { CertificateNotBefore = now.AddMinutes(-30), IntegratedTime = now };
        images.TamperedBundle = await Pushed("keyless-id-tampered-bundle", image =>
        {
            var signature = sigstore.SignImage(image, Alice, expiredWindow);
            return signature with { Bundle = signature.Bundle! with { IntegratedTime = now.AddMinutes(-25).ToUnixTimeSeconds() } };
        }).ConfigureAwait(false);
        images.ReplayedBundle = await Pushed("keyless-id-replayed-bundle", image => sigstore.SignImage(image, Alice) with { Bundle = images.IdentityAllowed.Signature.Bundle }).ConfigureAwait(false);
        images.NoBundle = await Signed("keyless-id-no-bundle", Alice, new KeylessSigningOptions { WithBundle = false }).ConfigureAwait(false);
        images.UntrustedSct = await Signed("keyless-id-untrusted-sct", Alice, new KeylessSigningOptions { CtLog = other.CtLog }).ConfigureAwait(false);
        using (var forger = other.CtLog.Impersonating(sigstore.CtLog))
        {
            images.ForgedSct = await Signed("keyless-id-forged-sct", Alice, new KeylessSigningOptions { CtLog = forger }).ConfigureAwait(false);
        }

        images.NoSct = await Signed("keyless-id-no-sct", Alice, new KeylessSigningOptions { WithSct = false }).ConfigureAwait(false);
        images.NotForCodeSigning = await Signed("keyless-id-server-auth", Alice, new KeylessSigningOptions { ExtendedKeyUsage = TestFulcio.ServerAuthOid }).ConfigureAwait(false);
        var forgedThenValid = await Push("keyless-id-forged-then-valid").ConfigureAwait(false);
        await PrivateSigstore.PushAsync(registry, forgedThenValid, sigstore.SignImage(forgedThenValid, Alice, new KeylessSigningOptions { Fulcio = other.Fulcio }), cancellationToken).ConfigureAwait(false);
        images.ForgedThenValid = new KeylessImage(forgedThenValid, await sigstore.SignAndPushAsync(registry, forgedThenValid, Alice, cancellationToken: cancellationToken).ConfigureAwait(false));
        images.Expired = await Signed("keyless-id-expired", Alice, expiredWindow).ConfigureAwait(false);
        images.OtherDigest = await Pushed("keyless-id-other-digest", _ => sigstore.SignImage(images.IdentityAllowed.Image, Alice)).ConfigureAwait(false);

        images.RegExpAllowed = await Signed("keyless-re-allowed", ReleaseWorkflow).ConfigureAwait(false);
        images.RegExpWrongSubject = await Signed("keyless-re-wrong-subject", SigningIdentity.GitHubWorkflow("policy-compiler/e2e", ".github/workflows/release.yml", "refs/heads/main", "push", WorkflowSha)).ConfigureAwait(false);
        images.RegExpWrongIssuer = await Signed("keyless-re-wrong-issuer", ReleaseWorkflow with { Issuer = RegExpWrongIssuerUrl }).ConfigureAwait(false);

        images.ExtensionsAllowed = await Signed("keyless-ext-allowed", ReleaseWorkflow).ConfigureAwait(false);
        images.ExtensionMissing = await Signed("keyless-ext-missing", ReleaseWorkflow.WithExtension(SigningIdentity.GitHubWorkflowTriggerOid, null)).ConfigureAwait(false);
        images.ExtensionWrongRaw = await Signed("keyless-ext-wrong-raw", ReleaseWorkflow.WithExtension(SigningIdentity.GitHubWorkflowTriggerOid, "pull_request")).ConfigureAwait(false);
        images.ExtensionWrongDer = await Signed("keyless-ext-wrong-der", ReleaseWorkflow.WithExtension(SigningIdentity.SourceRepositoryUriOid, AttackerRepositoryUri)).ConfigureAwait(false);
        images.ExtensionWrongByOid = await Signed("keyless-ext-wrong-oid", ReleaseWorkflow.WithExtension(SigningIdentity.GitHubWorkflowShaOid, OtherSha)).ConfigureAwait(false);
        return images;
    }
}
