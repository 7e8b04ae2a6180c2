using System.Collections.Immutable;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>What happens to a resource that fails a rule: blocked, or admitted with a warning.</summary>
public enum FailureAction
{
    Enforce,
    Audit,
}

/// <summary>One <c>validationFailureActionOverrides</c> entry: <see cref="Action"/> for the namespaces <see cref="Applies"/> holds for.</summary>
public sealed class FailureActionOverride(FailureAction action, Func<AdmissionContext, bool> applies, bool readsNamespaceLabels = false)
{
    public FailureAction Action { get; } = action;

    /// <summary>The compiled namespace test (names with wildcards, then the namespace selector).</summary>
    public Func<AdmissionContext, bool> Applies { get; } = applies;

    public bool ReadsNamespaceLabels { get; } = readsNamespaceLabels;
}

/// <summary>What happens when verification cannot be carried out (registry down, deadline passed).</summary>
public enum FailurePolicy
{
    Fail,
    Ignore,
}

/// <summary><c>spec.applyRules</c>: whether every matching rule of a policy is applied, or only the first that applies.</summary>
public enum ApplyRules
{
    All,

    /// <summary>
    /// Rules are tried in order and the first whose images pass or fail ends the policy: as Kyverno's engine counts a
    /// rule as applied (<c>RulesAppliedCount</c>), a rule that is skipped (no image, preconditions not met) or ends in
    /// an error (context, registry outage) does not stop it.
    /// </summary>
    One,
}

/// <summary>
/// One of a policy's <c>webhookConfiguration.matchConditions</c>: a CEL expression that the API server evaluates before
/// it calls the policy's own webhook. Nothing in this process evaluates it; it is carried to the printed manifests.
/// </summary>
public sealed class MatchCondition(string name, string expression)
{
    public string Name { get; } = name;

    public string Expression { get; } = expression;
}

/// <summary>
/// A policy as the generator compiled it. Instances are created once, by generated code, and shared by all requests.
/// </summary>
public sealed class PolicyDefinition
{
    public PolicyDefinition(
        string name,
        string? @namespace,
        FailureAction failureAction,
        FailurePolicy failurePolicy,
        int webhookTimeoutSeconds,
        string sourcePath,
        ImmutableArray<RuleDefinition> rules,
        ImmutableArray<FailureActionOverride> failureActionOverrides = default,
        ApplyRules applyRules = ApplyRules.All,
        ImmutableArray<MatchCondition> matchConditions = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Namespace = @namespace;
        FailureAction = failureAction;
        FailurePolicy = failurePolicy;
        WebhookTimeoutSeconds = webhookTimeoutSeconds;
        SourcePath = sourcePath;
        Rules = rules;
        FailureActionOverrides = failureActionOverrides.IsDefault ? [] : failureActionOverrides;
        ApplyRules = applyRules;
        MatchConditions = matchConditions.IsDefault ? [] : matchConditions;
    }

    /// <summary>
    /// <c>webhookConfiguration.matchConditions</c>. A policy with any is served by a webhook of its own (the API server
    /// cannot apply one policy's conditions on a webhook shared with others), at <see cref="WebhookPathSegment"/>.
    /// </summary>
    public ImmutableArray<MatchCondition> MatchConditions { get; }

    /// <summary>Whether the policy has a webhook of its own; the shared webhook's path then leaves it out.</summary>
    public bool HasOwnWebhook => !MatchConditions.IsEmpty;

    /// <summary>
    /// Where the policy's own webhook is served below <c>/mutate/policy/</c> and <c>/validate/policy/</c>: its name for a
    /// ClusterPolicy, <c>namespace/name</c> for a Policy (names never contain '/', so the two cannot collide).
    /// </summary>
    public string WebhookPathSegment => Namespace is null ? Name : Namespace + "/" + Name;

    /// <summary><c>applyRules</c>: with <see cref="Engine.ApplyRules.One"/> the engine evaluates the rules one after another.</summary>
    public ApplyRules ApplyRules { get; }

    public string Name { get; }

    /// <summary>The namespace of a namespaced <c>Policy</c>; <see langword="null"/> for a <c>ClusterPolicy</c>.</summary>
    public string? Namespace { get; }

    public FailureAction FailureAction { get; }

    public FailurePolicy FailurePolicy { get; }

    public int WebhookTimeoutSeconds { get; }

    /// <summary>The YAML file the policy was compiled from, relative to the project.</summary>
    public string SourcePath { get; }

    public ImmutableArray<RuleDefinition> Rules { get; }

    /// <summary><c>validationFailureActionOverrides</c>: the first that applies to the request's namespace replaces <see cref="FailureAction"/>.</summary>
    public ImmutableArray<FailureActionOverride> FailureActionOverrides { get; }

    /// <summary>Whether an override reads namespace labels: the engine then needs them to tell the action of a failed rule.</summary>
    public bool OverridesReadNamespaceLabels => FailureActionOverrides.Any(o => o.ReadsNamespaceLabels);

    /// <summary>
    /// What a failure of <paramref name="rule"/> does, as Kyverno resolves it: the rule's own action (its verifyImages
    /// entries' <c>failureAction</c>), else the first override that applies to the namespace, else the policy's action.
    /// <paramref name="namespaceLabelsKnown"/> false means an override with a selector cannot be told: the failure
    /// then blocks rather than guess.
    /// </summary>
    public FailureAction ActionFor(RuleDefinition rule, AdmissionContext context, bool namespaceLabelsKnown)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule.FailureAction is { } own)
        {
            return own;
        }

        foreach (var item in FailureActionOverrides)
        {
            if (item.ReadsNamespaceLabels && !namespaceLabelsKnown)
            {
                return FailureAction.Enforce;
            }

            if (item.Applies(context))
            {
                return item.Action;
            }
        }

        return FailureAction;
    }

    /// <summary>A namespaced policy only sees requests in its own namespace.</summary>
    public bool AppliesToNamespace(string? requestNamespace) => Namespace is null || string.Equals(Namespace, requestNamespace, StringComparison.Ordinal);
}

/// <summary>A rule: which requests it covers and which images it verifies.</summary>
public sealed class RuleDefinition(
    string name,
    Func<AdmissionContext, bool> matches,
    ImmutableArray<ImageVerificationDefinition> verifyImages,
    WebhookRule? webhook = null,
    ImmutableArray<Images.ImageExtractorDefinition> imageExtractors = default,
    ImmutableArray<ConditionBlockDefinition> preconditions = default,
    RuleAutogen autogen = RuleAutogen.None,
    bool readsNamespaceLabels = false,
    ImmutableArray<string> kinds = default,
    ImmutableArray<ContextEntryDefinition> context = default,
    FailureAction? failureAction = null,
    RoleUse roles = RoleUse.None)
{
    public string Name { get; } = name;

    /// <summary><c>context</c>: entries loaded in order once the rule matches, before its preconditions.</summary>
    public ImmutableArray<ContextEntryDefinition> Context { get; } = context.IsDefault ? [] : context;

    /// <summary>
    /// The kinds a request must have for <see cref="Matches"/> to hold, which the generator reads from the match block;
    /// empty when any kind may match (a wildcard kind, or a definition built without them). The engine uses it to skip
    /// rules of other kinds without calling them. A pattern with wildcards makes the list meaningless, so it counts as empty.
    /// </summary>
    public ImmutableArray<string> Kinds { get; } = kinds.IsDefault || kinds.Any(k => k is null || Wildcard.HasWildcards(k)) ? [] : kinds;

    /// <summary>The match or exclude block has a <c>namespaceSelector</c>: the namespace's labels must be known before <see cref="Matches"/>.</summary>
    public bool ReadsNamespaceLabels { get; } = readsNamespaceLabels;

    /// <summary>
    /// The rule's own action from its verifyImages entries' <c>failureAction</c> (Kyverno 1.13+), which wins over the
    /// policy's; null when no entry sets one.
    /// </summary>
    public FailureAction? FailureAction { get; } = failureAction;

    /// <summary>What the match or exclude blocks read of the user's RBAC roles: the engine looks them up only then.</summary>
    public RoleUse Roles { get; } = roles;

    /// <summary>The compiled <c>preconditions</c>: the rule applies only when they hold.</summary>
    public ImmutableArray<ConditionBlockDefinition> Preconditions { get; } = preconditions.IsDefault ? [] : preconditions;

    /// <summary>Which auto-generated variant this is: it decides where <c>request.object.spec</c> and <c>.metadata</c> point.</summary>
    public RuleAutogen Autogen { get; } = autogen;

    /// <summary>Compiled <c>match</c> and <c>exclude</c> blocks.</summary>
    public Func<AdmissionContext, bool> Matches { get; } = matches;

    public ImmutableArray<ImageVerificationDefinition> VerifyImages { get; } = verifyImages;

    /// <summary>The requests the API server must send for this rule: what the webhook configuration registers.</summary>
    public WebhookRule? Webhook { get; } = webhook;

    /// <summary>Where the rule finds images in custom resources (<c>imageExtractors</c>); empty for Pod images.</summary>
    public ImmutableArray<Images.ImageExtractorDefinition> ImageExtractors { get; } = imageExtractors.IsDefault ? [] : imageExtractors;
}

/// <summary>Which of the requesting user's RBAC roles a rule's match or exclude blocks compare (<c>roles</c>, <c>clusterRoles</c>).</summary>
[Flags]
public enum RoleUse
{
    None = 0,

    /// <summary><c>roles</c>: <c>namespace:role</c> of the RoleBindings to Roles that name the user.</summary>
    Roles = 1,

    /// <summary><c>clusterRoles</c>: ClusterRoles bound to the user by ClusterRoleBindings or RoleBindings.</summary>
    ClusterRoles = 2,
}

/// <summary>
/// A rule Kyverno generated for Pod controllers. Kyverno rewrites the variables of such a rule so that the Pod's
/// <c>request.object.spec</c> and <c>request.object.metadata</c> name the controller's Pod template; the runtime gives
/// conditions the same view of the request instead of rewriting their text.
/// </summary>
public enum RuleAutogen
{
    /// <summary>A rule as written.</summary>
    None,

    /// <summary><c>autogen-*</c>: Deployment, DaemonSet, StatefulSet, ReplicaSet, ReplicationController, Job (<c>spec.template</c>).</summary>
    PodControllers,

    /// <summary><c>autogen-cronjob-*</c>: CronJob (<c>spec.jobTemplate.spec.template</c>).</summary>
    CronJob,
}

/// <summary>A resource of a webhook rule, as the API server names it (<c>apps</c>, <c>v1</c>, <c>deployments</c>).</summary>
public sealed record WebhookResource(string Group, string Version, string Resource);

/// <summary>The operations and resources a rule needs to see, decided by the generator from its match blocks.</summary>
public sealed record WebhookRule(ImmutableArray<string> Operations, ImmutableArray<WebhookResource> Resources);

/// <summary>The <c>type</c> of a verifyImages entry.</summary>
public enum SignatureFormat
{
    /// <summary>cosign's classic layout: <c>sha256-&lt;hex&gt;.sig</c> and <c>.att</c> tags.</summary>
    Cosign,

    /// <summary>Sigstore bundles attached as OCI 1.1 referrers (cosign v3's default).</summary>
    SigstoreBundle,

    /// <summary>Notary Project signatures (Notation) attached as OCI 1.1 referrers, trusted through <c>certificates</c> attestors.</summary>
    Notary,
}

/// <summary>One entry of a rule's <c>verifyImages</c>.</summary>
public sealed class ImageVerificationDefinition(
    string path,
    Func<string, bool> imageReferences,
    ImmutableArray<AttestorSetDefinition> attestors,
    bool mutateDigest,
    bool verifyDigest,
    bool required,
    string? repository,
    Func<string, bool>? skipImageReferences = null,
    bool useCache = true,
    ImmutableArray<AttestationDefinition> attestations = default,
    SignatureFormat format = SignatureFormat.Cosign,
    ValidationDefinition? validation = null,
    RegistryCredentialsDefinition? registryCredentials = null,
    bool cosignOci11 = false)
{
    /// <summary>
    /// <c>cosignOCI11</c>: cosign signatures are first looked for among the image's OCI 1.1 referrers (cosign's
    /// <c>--registry-referrers-mode=oci-1-1</c>), then at the <c>.sig</c> tag, as <c>cosign verify --experimental-oci11</c> does.
    /// </summary>
    public bool CosignOci11 { get; } = cosignOci11;

    /// <summary><c>imageRegistryCredentials</c>: how this entry's images are fetched.</summary>
    public RegistryCredentialsDefinition? RegistryCredentials { get; } = registryCredentials;

    /// <summary><c>validate</c>: checked after the attestations; the image is denied when its deny conditions hold.</summary>
    public ValidationDefinition? Validation { get; } = validation;

    /// <summary>How the signatures are stored: cosign's tags, or Sigstore bundles attached as OCI 1.1 referrers.</summary>
    public SignatureFormat Format { get; } = format;

    /// <summary>Where the entry sits in the rule, for messages (<c>verifyImages[0]</c>).</summary>
    public string Path { get; } = path;

    /// <summary>Compiled <c>imageReferences</c> patterns.</summary>
    public Func<string, bool> ImageReferences { get; } = imageReferences;

    /// <summary>Compiled <c>skipImageReferences</c> patterns: matching images are not verified by this entry.</summary>
    public Func<string, bool>? SkipImageReferences { get; } = skipImageReferences;

    public ImmutableArray<AttestorSetDefinition> Attestors { get; } = attestors;

    /// <summary>Whether the entry verifies anything (attestors or attestations), rather than only pinning digests.</summary>
    public bool VerifiesSignatures => !Attestors.IsDefaultOrEmpty || !Attestations.IsEmpty;

    /// <summary>In-toto attestations that must be signed by their attestors and satisfy their conditions.</summary>
    public ImmutableArray<AttestationDefinition> Attestations { get; } = attestations.IsDefault ? [] : attestations;

    public bool MutateDigest { get; } = mutateDigest;

    public bool VerifyDigest { get; } = verifyDigest;

    public bool Required { get; } = required;

    /// <summary>Whether verdicts for this entry may come from the verification cache (<c>useCache</c>).</summary>
    public bool UseCache { get; } = useCache;

    /// <summary>Whether a verdict may be reused: the policy allows caching and no condition reads the request.</summary>
    public bool VerdictIsReusable => UseCache && !_attestorsReadRequest && !Attestations.Any(a => a.ConditionsReadRequest) && Validation is not { ReadsRequest: true };

    // Worked out once: VerdictIsReusable is read on every cache lookup.
    private readonly bool _attestorsReadRequest = AttestorsReadRequest(attestors)
        || (!attestations.IsDefault && attestations.Any(a => AttestorsReadRequest(a.Attestors)));

    // The verdict cache's key holds the context's fingerprint, not the request: an attestor substituted from the request
    // (a key or a subject per namespace) gives a verdict for that request only.
    private static bool AttestorsReadRequest(ImmutableArray<AttestorSetDefinition> sets) =>
        !sets.IsDefaultOrEmpty && sets.Any(s => s.Entries.Any(e => e switch
        {
            VariableKeyAttestorDefinition variable => variable.ReadsRequest,
            TemplatedAttestorDefinition templated => templated.ReadsRequest,
            NestedAttestorDefinition nested => AttestorsReadRequest([nested.Set]),
            _ => false,
        }));

    /// <summary>A repository that holds the signatures instead of the image's own repository.</summary>
    public string? Repository { get; } = repository;

    public bool Matches(Images.ImageReference image)
    {
        ArgumentNullException.ThrowIfNull(image);

        // Skipping is matched against Kyverno's own spelling only, so that a pattern never skips more than Kyverno would.
        if (SkipImageReferences is { } skip && (skip(image.KyvernoForm) || skip(image.FullyQualified)))
        {
            return false;
        }

        foreach (var candidate in image.PatternCandidates)
        {
            if (ImageReferences(candidate))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// One entry of <c>attestations</c>: statements of <see cref="PredicateType"/> signed by the attestors, each of which
/// must satisfy the compiled conditions.
/// </summary>
public sealed class AttestationDefinition(
    string path,
    string predicateType,
    ImmutableArray<AttestorSetDefinition> attestors,
    ImmutableArray<ConditionBlockDefinition> conditions = default,
    bool conditionsReadRequest = false,
    string? name = null)
{
    /// <summary><c>name</c>: <c>validate.deny</c> reads the first verified statement's predicate under this variable, as Kyverno adds it to its context.</summary>
    public string? Name { get; } = name;

    /// <summary>Kyverno's path of the entry (<c>.attestations[0]</c>).</summary>
    public string Path { get; } = path;

    public string PredicateType { get; } = predicateType;

    public ImmutableArray<AttestorSetDefinition> Attestors { get; } = attestors;

    /// <summary>The compiled <c>conditions</c>; empty when the attestation only has to exist.</summary>
    public ImmutableArray<ConditionBlockDefinition> Conditions { get; } = conditions.IsDefault ? [] : conditions;

    /// <summary>
    /// Whether a condition may read the admission request (<c>request</c>, <c>images</c>, …) rather than only the
    /// predicate: a verdict that depends on the request must not be reused for another request.
    /// </summary>
    public bool ConditionsReadRequest { get; } = conditionsReadRequest;

    /// <summary>
    /// Null when a statement's predicate satisfies the conditions, otherwise why not. A variable that cannot be
    /// resolved, or a function given the wrong type, fails the check with the reason (Kyverno's rule error): it never
    /// admits the image.
    /// </summary>
    public string? CheckConditions(System.Text.Json.JsonElement predicate, AdmissionContext? request, JmesContext context, RuleAutogen autogen = RuleAutogen.None, JmesObject? contextValues = null)
    {
        try
        {
            var root = ConditionDocument.ForAttestation(predicate, request, ConditionsReadRequest, autogen, contextValues);
            return ConditionEvaluator.Evaluate(Conditions, root, context);
        }
        catch (JmesPathException e)
        {
            return "failed to evaluate the conditions: " + e.Message;
        }
    }
}

/// <summary>An attestor set: <c>count</c> of its <c>entries</c> must verify (all of them when no count is given).</summary>
public sealed class AttestorSetDefinition(string path, int? count, ImmutableArray<AttestorDefinition> entries)
{
    public string Path { get; } = path;

    public int? Count { get; } = count;

    public ImmutableArray<AttestorDefinition> Entries { get; } = entries;

    public int RequiredCount => Count is > 0 ? Count.Value : Entries.Length;
}

/// <summary>One way of trusting a signature.</summary>
public abstract class AttestorDefinition(string path)
{
    /// <summary>Kyverno's attestor path (<c>.attestors[0].entries[1].keys</c>), shown in failure messages.</summary>
    public string Path { get; } = path;
}

/// <summary>An attestor that accepts cosign signatures from one kind of signer, with extra requirements.</summary>
public class SignatureAttestorDefinition(string path, Sigstore.SignerPolicy signer, Sigstore.SignatureRequirements requirements, string? repository = null)
    : AttestorDefinition(path)
{
    public Sigstore.SignerPolicy Signer { get; } = signer;

    public Sigstore.SignatureRequirements Requirements { get; } = requirements;

    /// <summary>The attestor's own signature repository, overriding the entry's.</summary>
    public string? Repository { get; } = repository;
}

/// <summary>A static public key from <c>keys.publicKeys</c>.</summary>
public sealed class PublicKeyAttestorDefinition(string path, Sigstore.VerificationKey key, Sigstore.SignatureRequirements? requirements = null, string? repository = null)
    : SignatureAttestorDefinition(path, new Sigstore.StaticKeySigner(key), requirements ?? Sigstore.SignatureRequirements.None, repository)
{
    public Sigstore.VerificationKey Key { get; } = key;
}

/// <summary>
/// A public key kept in a Secret (<c>keys.secret</c>, or <c>publicKeys: k8s://namespace/name</c>): read at verification
/// time, then checked as a static key.
/// </summary>
public sealed class SecretKeyAttestorDefinition(string path, string @namespace, string name, System.Security.Cryptography.HashAlgorithmName hash, Sigstore.SignatureRequirements? requirements = null, string? repository = null)
    : AttestorDefinition(path)
{
    public string Namespace { get; } = @namespace;

    public string Name { get; } = name;

    public System.Security.Cryptography.HashAlgorithmName Hash { get; } = hash;

    public Sigstore.SignatureRequirements Requirements { get; } = requirements ?? Sigstore.SignatureRequirements.None;

    public string? Repository { get; } = repository;
}

/// <summary>
/// A public key written with variables (<c>publicKeys: "{{ keys.data.production }}"</c>): substituted from the rule's context
/// and the request at verification time, then parsed; several PEM blocks are several entries, as in Kyverno.
/// </summary>
public sealed class VariableKeyAttestorDefinition(string path, JmesFunc template, string text, System.Security.Cryptography.HashAlgorithmName hash, Sigstore.SignatureRequirements? requirements = null, string? repository = null, bool readsRequest = false)
    : AttestorDefinition(path)
{
    /// <summary>Whether the template reads the request, so that a verdict holds for this request only.</summary>
    public bool ReadsRequest { get; } = readsRequest;

    public JmesFunc Template { get; } = template;

    /// <summary>The template as written, for messages.</summary>
    public string Text { get; } = text;

    public System.Security.Cryptography.HashAlgorithmName Hash { get; } = hash;

    public Sigstore.SignatureRequirements Requirements { get; } = requirements ?? Sigstore.SignatureRequirements.None;

    public string? Repository { get; } = repository;
}

/// <summary>
/// A public key held in a KMS (<c>keys.kms</c>, or a KMS URI in <c>publicKeys</c>): fetched from the provider at
/// verification time (then kept), then checked as a static key. <see cref="Hash"/> is the policy's
/// <c>signatureAlgorithm</c>, which only Vault keys use; the other providers say which hash their key signs with.
/// </summary>
public sealed class KmsKeyAttestorDefinition(string path, string reference, System.Security.Cryptography.HashAlgorithmName hash, Sigstore.SignatureRequirements? requirements = null, string? repository = null)
    : AttestorDefinition(path)
{
    public string Reference { get; } = reference;

    public System.Security.Cryptography.HashAlgorithmName Hash { get; } = hash;

    public Sigstore.SignatureRequirements Requirements { get; } = requirements ?? Sigstore.SignatureRequirements.None;

    public string? Repository { get; } = repository;
}

/// <summary>
/// An attestor with variables in its keyless identity (<c>subject</c>, <c>issuer</c>, their regexes), its certificates
/// (<c>cert</c>, <c>certChain</c>) or its <c>rekor</c>/<c>ctlog</c> fields: each template is substituted from the rule's
/// context and the request at verification time, then <see cref="Build"/> makes the attestor from the texts, in the order
/// of <see cref="Templates"/>. A variable that does not resolve, an empty identity, or text that is no usable regex,
/// certificate or key fails this attestor only.
/// </summary>
/// <remarks>
/// The attestor built may itself still need its key at admission (a <see cref="SecretKeyAttestorDefinition"/>,
/// <see cref="KmsKeyAttestorDefinition"/> or <see cref="VariableKeyAttestorDefinition"/> whose log was substituted): the
/// verifier resolves that key afterwards, with the substituted requirements.
/// </remarks>
public sealed class TemplatedAttestorDefinition(string path, ImmutableArray<AttestorTemplate> templates, Func<string[], AttestorDefinition> build, bool readsRequest = false)
    : AttestorDefinition(path)
{
    public ImmutableArray<AttestorTemplate> Templates { get; } = templates;

    public Func<string[], AttestorDefinition> Build { get; } = build;

    /// <summary>Whether a template (or a key template of the attestor built) reads the request, so that a verdict holds for this request only.</summary>
    public bool ReadsRequest { get; } = readsRequest;

    /// <summary>
    /// The attestor a keyless identity or certificates template gives for this review. Every template must resolve to
    /// non-empty text (an empty subject or issuer would otherwise stop constraining the signer), and the texts must make
    /// an attestor (regexes that compile, PEM certificates); anything else fails this attestor only, with the reason.
    /// </summary>
    public AttestorDefinition Substitute(JmesValue root, JmesContext jmes)
    {
        var values = new string[Templates.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var template = Templates[i];
            try
            {
                values[i] = KyvernoVariables.ToText(template.Template(root, jmes));
            }
            catch (JmesPathException e)
            {
                return new UnavailableAttestorDefinition(Path, $"{template.Field} {template.Text}: {e.Message}");
            }

            if (values[i].Length == 0)
            {
                return new UnavailableAttestorDefinition(Path, $"{template.Field} {template.Text} is empty");
            }
        }

        try
        {
            return Build(values);
        }
        catch (Exception e) when (e is ArgumentException or System.Security.Cryptography.CryptographicException or FormatException or NotSupportedException)
        {
            var fields = string.Join(", ", Templates.Select(t => $"{t.Field} {t.Text}"));
            return new UnavailableAttestorDefinition(Path, $"{fields} gave no usable attestor ({e.Message})");
        }
    }
}

/// <summary>One field of a <see cref="TemplatedAttestorDefinition"/>: its name, its text as written, and its substitution.</summary>
public sealed class AttestorTemplate(string field, string text, JmesFunc template)
{
    public string Field { get; } = field;

    /// <summary>The template as written, for messages.</summary>
    public string Text { get; } = text;

    public JmesFunc Template { get; } = template;
}

/// <summary>An attestor whose key could not be obtained (a Secret without a usable key): it counts as not verified.</summary>
public sealed class UnavailableAttestorDefinition(string path, string reason) : AttestorDefinition(path)
{
    public string Reason { get; } = reason;
}

/// <summary>A nested attestor set (<c>entries[].attestor</c>): the entry counts when the nested set is satisfied.</summary>
public sealed class NestedAttestorDefinition(string path, AttestorSetDefinition set) : AttestorDefinition(path)
{
    public AttestorSetDefinition Set { get; } = set;
}

/// <summary>
/// <c>verifyImages[].validate</c>: after the attestations verified, the image is denied when the compiled deny conditions
/// hold. They read the named attestations' predicates beside <c>request</c> and <c>images</c>.
/// </summary>
public sealed class ValidationDefinition(
    string? message,
    ImmutableArray<ConditionBlockDefinition> deny,
    Func<JmesValue, JmesContext, JmesValue>? messageTemplate = null,
    bool readsRequest = false)
{
    /// <summary>Kyverno's words when the substituted message is a number, list, map or null rather than text.</summary>
    public const string NotAStringMessage = "the produced message didn't resolve to a string, check your policy definition.";

    public string? Message { get; } = message;

    public ImmutableArray<ConditionBlockDefinition> Deny { get; } = deny;

    /// <summary>Whether a deny condition may read the admission request: such verdicts are never reused.</summary>
    public bool ReadsRequest { get; } = readsRequest;

    /// <summary>Null when the image passes; otherwise the denial, worded as Kyverno words it.</summary>
    public string? Check(IReadOnlyList<(string Name, System.Text.Json.JsonElement Predicate)> named, AdmissionContext? request, JmesContext context, RuleAutogen autogen = RuleAutogen.None, JmesObject? contextValues = null)
    {
        ArgumentNullException.ThrowIfNull(named);
        var root = ConditionDocument.ForValidation(named, request, autogen, contextValues);
        try
        {
            // The deny conditions holding (no failure) is what denies.
            if (ConditionEvaluator.Evaluate(Deny, root, context) is not null)
            {
                return null;
            }
        }
        catch (JmesPathException e)
        {
            return "validation in verifyImages failed: failed to check deny conditions: " + e.Message;
        }

        if (messageTemplate is null)
        {
            return "validation in verifyImages failed: " + (string.IsNullOrEmpty(Message) ? "validation error: imageVerify  failed" : Message);
        }

        return "validation in verifyImages failed: " + SubstitutedMessage(root, context);
    }

    /// <summary>
    /// The message with its variables substituted, as Kyverno does once the deny conditions hold. A variable that does not
    /// resolve makes Kyverno fall back to the conditions' own failure messages, which are empty when the conditions
    /// hold: the denial then ends after its prefix. It still denies; only the wording is lost.
    /// </summary>
    private string SubstitutedMessage(JmesValue root, JmesContext context)
    {
        try
        {
            var value = messageTemplate!(root, context);
            return value.Type == JmesType.String ? value.GetString() : NotAStringMessage;
        }
        catch (JmesPathException)
        {
            return string.Empty;
        }
    }
}

/// <summary>
/// <c>imageRegistryCredentials</c> of an entry: <see cref="AllowInsecure"/> lets its registries be reached over plain HTTP;
/// <see cref="Secrets"/> are <c>kubernetes.io/dockerconfigjson</c> Secrets in the webhook's own namespace, as Kyverno reads
/// them from its namespace, used before the Pod's pull secrets and the host's files.
/// </summary>
public sealed class RegistryCredentialsDefinition(bool allowInsecure, ImmutableArray<string> secrets, ImmutableArray<string> providers = default)
{
    public bool AllowInsecure { get; } = allowInsecure;

    public ImmutableArray<string> Secrets { get; } = secrets.IsDefault ? [] : secrets;

    /// <summary>
    /// <c>providers</c>: cloud credential helpers asked for a registry they serve, after the Secrets and the Pod's pull
    /// secrets (<c>amazon</c>: ECR, <c>google</c>: GCR and Artifact Registry); <c>default</c> is the host's own files.
    /// </summary>
    public ImmutableArray<string> Providers { get; } = providers.IsDefault ? [] : providers;
}
