using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// Decides admission reviews against the compiled policy set. The mutating pass verifies images and pins their
/// digests; the validating pass enforces <c>verifyDigest</c> and <c>required</c>.
/// </summary>
public sealed class AdmissionEngine(
    ImmutableArray<PolicyDefinition> policies,
    ImageVerifier verifier,
    AdmissionEngineServices? services = null)
{
    public const string VerifyImagesAnnotation = "kyverno.io/verify-images";

    /// <summary>
    /// Kyverno 1.19's per-policy form of <see cref="VerifyImagesAnnotation"/>, written beside it:
    /// <c>{"version":1,"policies":{"&lt;namespace&gt;/&lt;policy&gt;":{"&lt;rule&gt;":{"&lt;image&gt;":"pass"}}}}</c>, the namespace
    /// empty for a ClusterPolicy. It tells which policy and rule verified each image, where the older form only says that
    /// some rule did.
    /// </summary>
    public const string ScopedVerifyImagesAnnotation = "kyverno.io/verify-images-scoped";

    /// <summary>Kyverno's default when a policy does not set <c>webhookTimeoutSeconds</c>.</summary>
    public const int DefaultTimeoutSeconds = 10;

    public ImmutableArray<PolicyDefinition> Policies => policies;

    /// <summary>How long an <c>imageRegistry</c> context entry's answer is kept when the host gives no reader of its own.</summary>
    public static readonly TimeSpan ImageDataTimeToLive = TimeSpan.FromSeconds(30);

    private readonly AdmissionEngineServices _services = services ?? AdmissionEngineServices.None;

    private readonly IImageDataSource _imageData = services?.ImageData ?? new RegistryImageData(verifier.Registry, ImageDataTimeToLive, TimeProvider.System);

    // Built once: a review visits only the rules that could match its kind and namespace, so its cost follows the
    // policies that apply to it rather than every compiled policy (issue 8).
    private readonly RuleIndex _rules = new(policies);

    private ContextSources? _contextSources;

    // Made on first use: a field initializer cannot name the instance method that scopes image data credentials.
    private ContextSources ContextSourcesForRules =>
        _contextSources ??= new(_services.ContextData, _services.ServiceCalls, _services.GlobalContext, _imageData, ImageDataScopeAsync);

    /// <summary>The mutating pass of every compiled policy (<see cref="WebhookScope.All"/>).</summary>
    public Task<AdmissionResponse> MutateAsync(AdmissionRequest request, CancellationToken cancellationToken) =>
        DecideAsync(request, mutate: true, WebhookScope.All, outcomes: null, cancellationToken);

    /// <summary>The validating pass of every compiled policy (<see cref="WebhookScope.All"/>).</summary>
    public Task<AdmissionResponse> ValidateAsync(AdmissionRequest request, CancellationToken cancellationToken) =>
        DecideAsync(request, mutate: false, WebhookScope.All, outcomes: null, cancellationToken);

    /// <summary>The mutating pass of the policies one webhook serves.</summary>
    public Task<AdmissionResponse> MutateAsync(AdmissionRequest request, WebhookScope scope, CancellationToken cancellationToken) =>
        DecideAsync(request, mutate: true, scope ?? throw new ArgumentNullException(nameof(scope)), outcomes: null, cancellationToken);

    /// <summary>The validating pass of the policies one webhook serves.</summary>
    public Task<AdmissionResponse> ValidateAsync(AdmissionRequest request, WebhookScope scope, CancellationToken cancellationToken) =>
        DecideAsync(request, mutate: false, scope ?? throw new ArgumentNullException(nameof(scope)), outcomes: null, cancellationToken);

    /// <summary>
    /// The same decision as <see cref="MutateAsync"/> or <see cref="ValidateAsync"/>, with the verdict of every
    /// (policy, rule, image) behind it, for reports outside the admission path (<c>policy-compiler check</c>).
    /// </summary>
    public async Task<AdmissionDecision> DecideWithOutcomesAsync(AdmissionRequest request, bool mutate, CancellationToken cancellationToken)
    {
        var outcomes = new List<RuleOutcome>();
        // Outside the cluster no API server evaluates matchConditions, so every policy judges (the strict reading).
        var response = await DecideAsync(request, mutate, WebhookScope.All, outcomes, cancellationToken).ConfigureAwait(false);
        return new AdmissionDecision(response, outcomes);
    }

    // The webhook passes no outcome list: the admission path does not pay for a report nobody reads.
    private async Task<AdmissionResponse> DecideAsync(AdmissionRequest request, bool mutate, WebhookScope scope, List<RuleOutcome>? outcomes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return await DecideCoreAsync(request, mutate, scope, outcomes, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            // A string of the object that is not valid Unicode (a lone surrogate escape such as \uD800: valid JSON
            // syntax, which the API server never produces) only fails when it is read, here with
            // InvalidOperationException. The request cannot be judged, so it is refused with an answer; escaping as an
            // exception would make the host answer 500, which failurePolicy: Ignore turns into an admission.
            return new AdmissionResponse
            {
                Uid = request.Uid ?? string.Empty,
                Allowed = false,
                Status = new AdmissionStatus { Code = 400, Reason = "BadRequest", Message = "the admission request could not be read: " + e.Message },
            };
        }
    }

    private async Task<AdmissionResponse> DecideCoreAsync(AdmissionRequest request, bool mutate, WebhookScope scope, List<RuleOutcome>? outcomes, CancellationToken cancellationToken)
    {
        var uid = request.Uid ?? string.Empty;
        var context = new AdmissionContext(request);
        if (context.Operation is "DELETE" or "CONNECT")
        {
            return Allow(uid);
        }

        if (_services.Exclusions is { IsEmpty: false } && await IsExcludedAsync(context, _services.Exclusions, cancellationToken).ConfigureAwait(false))
        {
            return Allow(uid);
        }

        var applicable = new List<(PolicyDefinition Policy, RuleDefinition Rule)>();
        var podImages = new Lazy<IReadOnlyList<ExtractedImage>>(() => ImageExtractor.Extract(context));

        // Every rule sees the same images: each text is parsed once per review, not once per rule.
        var parsed = new Dictionary<string, (ImageReference? Image, string? Error)>(StringComparer.Ordinal);
        (ImageReference? Image, string? Error) Parse(string text)
        {
            if (!parsed.TryGetValue(text, out var parse))
            {
                parse = ImageReference.TryParse(text, out var image, out var error) ? (image, null) : (null, error);
                parsed[text] = parse;
            }

            return parse;
        }

        string? namespaceLookup = null;
        var checks = new List<Check>();

        // Whether the rule applies to the request, up to its preconditions: it goes to ruleApplicable when its images are
        // to be verified, or leaves its verdict (an error, a failed context or precondition) in ruleChecks.
        async Task AdmitAsync(PolicyDefinition policy, RuleDefinition rule, List<(PolicyDefinition Policy, RuleDefinition Rule)> ruleApplicable, List<Check> ruleChecks, CancellationToken token)
        {
            if (rule.ReadsNamespaceLabels)
            {
                namespaceLookup ??= await LoadNamespaceLabelsAsync(context, token).ConfigureAwait(false);
                if (namespaceLookup.Length > 0)
                {
                    // Whether the rule applies is unknown. When it would verify one of the request's images, that is
                    // an error, which failurePolicy turns into a denial or a warning; otherwise the rule is moot.
                    if (CoversAnImage(context, rule, podImages, Parse))
                    {
                        ruleChecks.Add(new Check(policy, rule, null, NamespaceSelectorPlaceholder, null, Task.FromResult(ImageVerificationResult.Error(namespaceLookup))));
                    }

                    return;
                }
            }

            if (rule.Roles != RoleUse.None)
            {
                var failure = await LoadRolesAsync(context, rule.Roles, token).ConfigureAwait(false);
                if (failure.Length > 0)
                {
                    // As for namespace labels: unknown roles are an error of the rules that would verify an image.
                    if (CoversAnImage(context, rule, podImages, Parse))
                    {
                        ruleChecks.Add(new Check(policy, rule, null, RolesPlaceholder, null, Task.FromResult(ImageVerificationResult.Error(failure))));
                    }

                    return;
                }
            }

            if (!rule.Matches(context))
            {
                return;
            }

            if (!rule.Context.IsEmpty)
            {
                // Kyverno loads an entry only when a variable reads it, which a rule that covers none of the images never
                // does: such a rule must not fail a review because its ConfigMap is missing.
                if (!CoversAnImage(context, rule, podImages, Parse))
                {
                    ruleApplicable.Add((policy, rule));
                    return;
                }

                if (await LoadContextAsync(context, policy, rule, token).ConfigureAwait(false) is { } failed)
                {
                    ruleChecks.Add(new Check(policy, rule, null, ContextPlaceholder, null, Task.FromResult(failed)));
                    return;
                }
            }

            switch (CheckPreconditions(context, rule))
            {
                case null:
                    ruleApplicable.Add((policy, rule));
                    break;
                case { } error when error.Length > 0:
                    ruleChecks.Add(new Check(policy, rule, null, PreconditionsPlaceholder, null, Task.FromResult(ImageVerificationResult.Fail(error))));
                    break;
                default:
                    // Preconditions not met: the rule does not apply, as in Kyverno (a skipped rule).
                    outcomes?.Add(new RuleOutcome(PolicyLabel(policy), rule.Name, null, null, RuleOutcomeStatus.Skip, "preconditions not met"));
                    break;
            }
        }

        // applyRules: One needs each rule's verdict before the next may be evaluated, so those policies wait until the
        // rules of the others are under way.
        var oneByOne = new List<(PolicyDefinition Policy, RuleDefinition Rule)>();
        foreach (var (policy, rule) in _rules.Candidates(context.Kind, request.Namespace))
        {
            if (!scope.Includes(policy))
            {
                continue;
            }

            if (policy.ApplyRules == ApplyRules.One)
            {
                oneByOne.Add((policy, rule));
                continue;
            }

            await AdmitAsync(policy, rule, applicable, checks, cancellationToken).ConfigureAwait(false);
        }

        if (applicable.Count == 0 && checks.Count == 0 && oneByOne.Count == 0)
        {
            return Allow(uid);
        }

        var timeout = TimeSpan.FromSeconds(applicable.Count == 0 && oneByOne.Count == 0
            ? DefaultTimeoutSeconds
            : applicable.Concat(oneByOne).Min(a => a.Policy.WebhookTimeoutSeconds > 0 ? a.Policy.WebhookTimeoutSeconds : DefaultTimeoutSeconds));

        // Leave the API server a margin to receive our answer before its own deadline.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout - TimeSpan.FromMilliseconds(Math.Min(500, timeout.TotalMilliseconds / 10)));

        // The Pod's pull secrets are its credentials for private registries, from here to the end of the review; then
        // the host's own pull secrets (Registry:PullSecrets, in the webhook's namespace, as Kyverno's --imagePullSecrets).
        if (_services.PullSecrets is not null)
        {
            var podScope = PullSecretNames.Of(context) is { Count: > 0 } secretNames
                ? await ReadPullSecretsAsync(context.Namespace, secretNames, deadline.Token).ConfigureAwait(false)
                : null;
            var hostScope = _services.HostPullSecrets is { Count: > 0 }
                ? await ReadPullSecretsAsync(_services.WebhookNamespace ?? "default", _services.HostPullSecrets, deadline.Token).ConfigureAwait(false)
                : null;
            if (podScope is not null || hostScope is not null)
            {
                RegistryCredentialScope.Enter(new RegistryCredentialScope.Scope(
                    $"{podScope?.Id};{hostScope?.Id}",
                    [.. podScope?.Entries ?? [], .. hostScope?.Entries ?? []]));
            }
        }

        var digests = new Dictionary<string, Task<string>>(StringComparer.Ordinal);

        // One verification per entry and image in a review: a Pod may name the same image in thousands of containers,
        // and without the verification cache (useCache: false, or the cache disabled) each would fetch and check the
        // signatures again, enough to push the review past its deadline. Each container still gets its own check.
        var verifications = new Dictionary<(PolicyDefinition, RuleDefinition, ImageVerificationDefinition, string), Task<ImageVerificationResult>>();
        void StartVerifications(PolicyDefinition policy, RuleDefinition rule, List<Check> ruleChecks)
        {
            var checksBefore = ruleChecks.Count;
            var images = rule.ImageExtractors.IsEmpty ? podImages.Value : ImageExtractor.Extract(context, rule.ImageExtractors);
            foreach (var extracted in images)
            {
                if (extracted.Error is { } extractionError)
                {
                    ruleChecks.Add(new Check(policy, rule, null, extracted, null, Task.FromResult(ImageVerificationResult.Fail(extractionError))));
                    continue;
                }

                var parse = Parse(extracted.Text);
                if (parse.Image is not { } image)
                {
                    ruleChecks.Add(new Check(policy, rule, null, extracted, null, Task.FromResult(ImageVerificationResult.Fail($"invalid image reference {extracted.Text}: {parse.Error}"))));
                    continue;
                }

                foreach (var entry in rule.VerifyImages)
                {
                    if (!entry.Matches(image))
                    {
                        continue;
                    }

                    var key = (policy, rule, entry, image.FullyQualified);
                    if (!verifications.TryGetValue(key, out var verification))
                    {
                        verification = mutate
                            ? VerifyForMutationAsync(context, policy, rule, entry, image, digests, deadline.Token)
                            : VerifyForValidationAsync(context, policy, rule, entry, image, digests, deadline.Token);
                        verifications[key] = verification;
                    }

                    ruleChecks.Add(new Check(policy, rule, entry, extracted, image, verification));
                }
            }

            if (ruleChecks.Count == checksBefore)
            {
                outcomes?.Add(new RuleOutcome(PolicyLabel(policy), rule.Name, null, null, RuleOutcomeStatus.Skip, "no image matches the rule's imageReferences"));
            }
        }

        foreach (var (policy, rule) in applicable)
        {
            StartVerifications(policy, rule, checks);
        }

        // Kyverno's engine evaluates the rules of an applyRules: One policy in order and stops once its count of applied
        // rules is above zero; only pass and fail responses count (engine/internal AddRuleResponse), so a skipped rule or
        // one that ended in an error lets the next one run.
        PolicyDefinition? ended = null;
        foreach (var (policy, rule) in oneByOne)
        {
            if (ReferenceEquals(policy, ended))
            {
                outcomes?.Add(new RuleOutcome(PolicyLabel(policy), rule.Name, null, null, RuleOutcomeStatus.Skip, "applyRules is One and an earlier rule applied"));
                continue;
            }

            var ruleApplicable = new List<(PolicyDefinition Policy, RuleDefinition Rule)>(1);
            var ruleChecks = new List<Check>();
            await AdmitAsync(policy, rule, ruleApplicable, ruleChecks, deadline.Token).ConfigureAwait(false);
            foreach (var (p, r) in ruleApplicable)
            {
                StartVerifications(p, r, ruleChecks);
            }

            await WhenAllCompletedAsync(ruleChecks).ConfigureAwait(false);
            checks.AddRange(ruleChecks);
            // In the validating pass Kyverno runs a verifyImages rule only when one of its entries checks something
            // there (verifyDigest or required, Rule.HasVerifyImageChecks); otherwise the rule gives no response at all.
            var answers = mutate || rule.VerifyImages.Any(static e => e.VerifyDigest || e.Required);
            if (answers && ruleChecks.Exists(static c => c.Entry is not null && c.Result.IsCompletedSuccessfully && c.Result.Result.Status is VerificationStatus.Pass or VerificationStatus.Fail))
            {
                ended = policy;
            }
        }

        if (checks.Count == 0)
        {
            return Allow(uid);
        }

        await WhenAllCompletedAsync(checks).ConfigureAwait(false);

        // An override with a namespace selector decides the action of a failure: the labels are read only when one could.
        if (checks.Any(static c => c.Policy.OverridesReadNamespaceLabels && c.Rule.FailureAction is null))
        {
            namespaceLookup ??= await LoadNamespaceLabelsAsync(context, cancellationToken).ConfigureAwait(false);
        }

        return BuildResponse(uid, context, scope, checks, mutate, deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested, outcomes, namespaceLabelsKnown: namespaceLookup is null or { Length: 0 });
    }

    private static async Task WhenAllCompletedAsync(List<Check> checks)
    {
        // With a warm cache every check is already complete: no need for the combined task and its arrays.
        if (checks.TrueForAll(static c => c.Result.IsCompleted))
        {
            return;
        }

        try
        {
            await Task.WhenAll(checks.Select(c => c.Result)).ConfigureAwait(false);
        }
        catch (Exception) when (checks.All(c => c.Result.IsCompleted))
        {
            // Each check's own failure is read when the response is built.
        }
    }

    private static bool IsPlaceholder(ExtractedImage extracted) => ReferenceEquals(extracted, PreconditionsPlaceholder) || ReferenceEquals(extracted, ContextPlaceholder);

    private static string PolicyLabel(PolicyDefinition policy) => policy.Namespace is null ? policy.Name : policy.Namespace + "/" + policy.Name;

    private static readonly ExtractedImage PreconditionsPlaceholder = new(string.Empty, "preconditions", string.Empty, string.Empty);

    private static readonly ExtractedImage ContextPlaceholder = new(string.Empty, "context", string.Empty, string.Empty);

    /// <summary>How long a rule's context may take to load; the source caches ConfigMaps, so this is paid on a miss only.</summary>
    public static readonly TimeSpan ContextLoadTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Loads the rule's <c>context</c> into the review; null when it loaded, otherwise the rule's verdict: an error (for
    /// failurePolicy) when the API server could not answer, a failure when an entry cannot be loaded (a missing ConfigMap,
    /// a variable that does not resolve), as Kyverno fails the rule with <c>failed to load context</c>.
    /// </summary>
    private async Task<ImageVerificationResult?> LoadContextAsync(AdmissionContext context, PolicyDefinition policy, RuleDefinition rule, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ContextLoadTimeout);
        try
        {
            var values = await ContextLoader.LoadAsync(rule.Context, ConditionDocument.AdmissionDataFor(context, rule.Autogen), policy.Namespace, ContextSourcesForRules, verifier.Conditions, timeout.Token).ConfigureAwait(false);
            var json = Conditions.JmesValue.FromObject(values).ToJsonString();
            var fingerprint = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(json)), 0, 16);
            context.RuleContext[rule] = (values, fingerprint);
            return null;
        }
        catch (ContextDataException e) when (e.IsTransient)
        {
            return ImageVerificationResult.Error("failed to load context: " + e.Message);
        }
        catch (ContextDataException e)
        {
            return ImageVerificationResult.Fail("failed to load context: " + e.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ImageVerificationResult.Error($"failed to load context: no answer within {ContextLoadTimeout.TotalSeconds}s");
        }
    }

    /// <summary>
    /// The credentials an <c>imageRegistry</c> context entry reads with, as Kyverno's registry client for it has them: the
    /// entry's Secrets, then the host's pull secrets (<c>Registry:PullSecrets</c>), then the host's files. Not the Pod's
    /// pull secrets: Kyverno does not lend them to context entries.
    /// </summary>
    private async Task<RegistryCredentialScope.Scope?> ImageDataScopeAsync(RegistryCredentialsDefinition? credentials, CancellationToken cancellationToken)
    {
        var host = _services.PullSecrets is not null && _services.HostPullSecrets is { Count: > 0 }
            ? await ReadPullSecretsAsync(_services.WebhookNamespace ?? "default", _services.HostPullSecrets, cancellationToken).ConfigureAwait(false)
            : null;
        return credentials is null ? host : await EntryScopeAsync(credentials, host, cancellationToken).ConfigureAwait(false);
    }

    private async Task<RegistryCredentialScope.Scope> EntryScopeAsync(RegistryCredentialsDefinition credentials, RegistryCredentialScope.Scope? review, CancellationToken cancellationToken)
    {
        var own = credentials.Secrets.IsEmpty || _services.PullSecrets is null
            ? new RegistryCredentialScope.Scope(string.Empty, [])
            : await ReadPullSecretsAsync(_services.WebhookNamespace ?? "default", credentials.Secrets, cancellationToken).ConfigureAwait(false);
        // The providers are part of the scope's name: a verdict or token obtained with a cloud identity is never lent to an
        // entry that did not ask for it.
        return new RegistryCredentialScope.Scope(
            $"{own.Id};{review?.Id};{(credentials.AllowInsecure ? "insecure" : "tls")};{string.Join(',', credentials.Providers)}",
            [.. own.Entries, .. review?.Entries ?? []],
            credentials.AllowInsecure)
        {
            Providers = credentials.Providers,
        };
    }

    /// <summary>
    /// The entries of the named Secrets that can be read. As for the kubelet, a missing pull secret is not an error of its
    /// own: a registry that needed it answers 401, which fails the verification.
    /// </summary>
    private async Task<RegistryCredentialScope.Scope> ReadPullSecretsAsync(string @namespace, IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        var entries = new List<DockerConfigEntry>();
        foreach (var name in names)
        {
            try
            {
                entries.AddRange(await _services.PullSecrets!.GetAsync(@namespace, name, cancellationToken).ConfigureAwait(false));
            }
            catch (SecretKeyException)
            {
                _services.Metrics?.PullSecretFailures.Inc();
            }
        }

        return new RegistryCredentialScope.Scope(string.Join(',', names.Select(n => @namespace + "/" + n)), entries);
    }

    private static readonly ExtractedImage NamespaceSelectorPlaceholder = new(string.Empty, "namespaceSelector", string.Empty, string.Empty);

    /// <summary>How long a review waits for its namespace's labels; the source caches them, so this is paid on a miss only.</summary>
    public static readonly TimeSpan NamespaceLookupTimeout = TimeSpan.FromSeconds(3);

    private static bool CoversAnImage(AdmissionContext context, RuleDefinition rule, Lazy<IReadOnlyList<ExtractedImage>> podImages, Func<string, (ImageReference? Image, string? Error)> parse)
    {
        foreach (var extracted in rule.ImageExtractors.IsEmpty ? podImages.Value : ImageExtractor.Extract(context, rule.ImageExtractors))
        {
            if (extracted.Error is null && parse(extracted.Text).Image is { } image && rule.VerifyImages.Any(entry => entry.Matches(image)))
            {
                return true;
            }
        }

        return false;
    }

    private static readonly ExtractedImage RolesPlaceholder = new(string.Empty, "roles", string.Empty, string.Empty);

    /// <summary>
    /// Empty when the roles <paramref name="use"/> asks for are in the context (read once per review; users Kyverno
    /// exempts need none); otherwise why the bindings could not be read.
    /// </summary>
    private async Task<string> LoadRolesAsync(AdmissionContext context, RoleUse use, CancellationToken cancellationToken)
    {
        var needsRoles = use.HasFlag(RoleUse.Roles) && !context.RolesLoaded;
        var needsClusterRoles = use.HasFlag(RoleUse.ClusterRoles) && !context.ClusterRolesLoaded;
        if (context.RoleLookupFailure is { } failed)
        {
            return failed;
        }

        if (!needsRoles && !needsClusterRoles)
        {
            return string.Empty;
        }

        if (_services.RoleBindings is null)
        {
            return "the roles of the requesting user are unknown: no Kubernetes API is configured for roles and clusterRoles";
        }

        // The same bound as a namespace lookup: both lists are cached, so a review pays it on a miss only.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(NamespaceLookupTimeout);
        try
        {
            var bindings = await _services.RoleBindings.GetRoleBindingsAsync(timeout.Token).ConfigureAwait(false);
            if (needsRoles)
            {
                context.Roles = UserRoles.Roles(context.Request.UserInfo, bindings);
                context.RolesLoaded = true;
            }

            if (needsClusterRoles)
            {
                var clusterBindings = await _services.RoleBindings.GetClusterRoleBindingsAsync(timeout.Token).ConfigureAwait(false);
                context.ClusterRoles = UserRoles.ClusterRoles(context.Request.UserInfo, bindings, clusterBindings);
                context.ClusterRolesLoaded = true;
            }

            return string.Empty;
        }
        catch (OperationCanceledException)
        {
            return context.RoleLookupFailure = $"failed to read the RBAC bindings of the requesting user: no answer within {NamespaceLookupTimeout.TotalSeconds}s";
        }
        catch (RoleBindingException e)
        {
            return context.RoleLookupFailure = $"failed to read the RBAC bindings of the requesting user: {e.Message}";
        }
    }

    /// <summary>
    /// Kyverno's configured exclusions: a rule never matches a review of an excluded user, so the review is admitted
    /// unjudged. When the patterns compare roles and the bindings cannot be read, nothing is excluded: the policies are
    /// then evaluated, which can only be stricter than the exclusion.
    /// </summary>
    private async Task<bool> IsExcludedAsync(AdmissionContext context, RequestExclusions configured, CancellationToken cancellationToken)
    {
        if (configured.RolesNeeded != RoleUse.None && (await LoadRolesAsync(context, configured.RolesNeeded, cancellationToken).ConfigureAwait(false)).Length > 0)
        {
            return false;
        }

        return configured.IsExcluded(context.Request.UserInfo, context.Roles, context.ClusterRoles);
    }

    /// <summary>Empty when <see cref="AdmissionContext.NamespaceLabels"/> is ready; otherwise why it could not be read.</summary>
    private async Task<string> LoadNamespaceLabelsAsync(AdmissionContext context, CancellationToken cancellationToken)
    {
        // Cluster-scoped resources have no namespace, and a Namespace under review carries its own labels.
        if (context.Namespace.Length == 0 || (context.Kind == "Namespace" && context.Group.Length == 0))
        {
            return string.Empty;
        }

        if (_services.Namespaces is null)
        {
            return $"the labels of namespace {context.Namespace} are unknown: no Kubernetes API is configured for namespaceSelector";
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(NamespaceLookupTimeout);
        try
        {
            context.NamespaceLabels = await _services.Namespaces.GetLabelsAsync(context.Namespace, timeout.Token).ConfigureAwait(false);
            return string.Empty;
        }
        catch (OperationCanceledException)
        {
            return $"failed to read the labels of namespace {context.Namespace}: no answer within {NamespaceLookupTimeout.TotalSeconds}s";
        }
        catch (NamespaceLabelException e)
        {
            return $"failed to read the labels of namespace {context.Namespace}: {e.Message}";
        }
    }

    /// <summary>
    /// Null when the rule applies; empty when its preconditions do not hold (the rule is skipped); otherwise why they
    /// could not be evaluated, which fails the rule: a rule that cannot tell whether it applies never lets an image by.
    /// </summary>
    private string? CheckPreconditions(AdmissionContext context, RuleDefinition rule)
    {
        if (rule.Preconditions.IsEmpty)
        {
            return null;
        }

        try
        {
            return ConditionEvaluator.Evaluate(rule.Preconditions, ConditionDocument.ForRequest(context, rule.Autogen, context.ContextFor(rule)?.Values), verifier.Conditions) is null ? null : string.Empty;
        }
        catch (Conditions.JmesPathException e)
        {
            return "failed to evaluate preconditions: " + e.Message;
        }
    }

    private async Task<ImageVerificationResult> VerifyForMutationAsync(
        AdmissionContext context,
        PolicyDefinition policy,
        RuleDefinition rule,
        ImageVerificationDefinition entry,
        ImageReference image,
        Dictionary<string, Task<string>> digests,
        CancellationToken cancellationToken)
    {
        try
        {
            if (entry.RegistryCredentials is { } credentials)
            {
                // This check's own scope (an async method's changes do not reach its caller): the entry's Secrets first,
                // then the Pod's pull secrets.
                RegistryCredentialScope.Enter(await EntryScopeAsync(credentials, RegistryCredentialScope.Current, cancellationToken).ConfigureAwait(false));
            }

            var digest = await ResolveOnceAsync(image, digests, cancellationToken).ConfigureAwait(false);
            return await verifier.VerifyAsync(policy, rule, entry, image, digest, cancellationToken, context).ConfigureAwait(false);
        }
        catch (RegistryException e) when (!e.IsTransient)
        {
            return ImageVerificationResult.Fail($"image verification failed for {image.FullyQualified}: {e.Message}");
        }
        catch (RegistryException e)
        {
            return ImageVerificationResult.Error($"failed to verify image {image.FullyQualified}: {e.Message}");
        }
        catch (OperationCanceledException)
        {
            return ImageVerificationResult.Error($"failed to verify image {image.FullyQualified}: deadline of {policy.WebhookTimeoutSeconds}s exceeded");
        }
    }

    private async Task<ImageVerificationResult> VerifyForValidationAsync(
        AdmissionContext context,
        PolicyDefinition policy,
        RuleDefinition rule,
        ImageVerificationDefinition entry,
        ImageReference image,
        Dictionary<string, Task<string>> digests,
        CancellationToken cancellationToken)
    {
        if (entry.VerifyDigest && image.Digest is null)
        {
            return ImageVerificationResult.Fail($"missing digest for {image.FullyQualified}");
        }

        if (!entry.Required || !entry.VerifiesSignatures)
        {
            return ImageVerificationResult.Pass("image verified", image.Digest);
        }

        // Kyverno trusts the verify-images annotation here; anyone who can write the Pod can write the annotation,
        // so the verdict is recomputed instead (a cache hit after the mutating pass).
        var result = await VerifyForMutationAsync(context, policy, rule, entry, image, digests, cancellationToken).ConfigureAwait(false);
        return result.Status == VerificationStatus.Fail
            ? ImageVerificationResult.Fail($"unverified image {image.FullyQualified}: {result.Message}", result.Digest)
            : result;
    }

    private Task<string> ResolveOnceAsync(ImageReference image, Dictionary<string, Task<string>> digests, CancellationToken cancellationToken)
    {
        // One review resolves each tag once, so every rule sees the same digest even if the tag moves meanwhile.
        lock (digests)
        {
            var key = image.FullyQualified;
            if (!digests.TryGetValue(key, out var task))
            {
                task = verifier.ResolveDigestAsync(image, cancellationToken);
                digests[key] = task;
            }

            return task;
        }
    }

    private AdmissionResponse BuildResponse(string uid, AdmissionContext context, WebhookScope scope, List<Check> checks, bool mutate, bool timedOut, List<RuleOutcome>? outcomes, bool namespaceLabelsKnown)
    {
        var blocked = false;

        // Every rule that did not pass, Audit and ignored errors included: once a review is blocked, Kyverno's message
        // lists them all (pkg/webhooks/utils/block.go, GetBlockedMessages), one message per policy and rule.
        var failures = new List<Failure>();
        var warnings = new List<string>();
        var patches = new List<JsonPatchOperation>();
        var patchedPointers = new HashSet<string>(StringComparer.Ordinal);
        var verdicts = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var scopedVerdicts = new List<ScopedVerdict>();

        for (var index = 0; index < checks.Count; index++)
        {
            var check = checks[index];
            var result = check.Result.IsCompletedSuccessfully
                ? check.Result.Result
                : ImageVerificationResult.Error($"failed to verify image {check.Extracted.Text}: {check.Result.Exception?.GetBaseException().Message ?? "cancelled"}");

            _services.Metrics?.Verdicts.Inc(check.Policy.Name, check.Rule.Name, result.Status switch
            {
                VerificationStatus.Pass => "pass",
                VerificationStatus.Fail => "fail",
                _ => "error",
            });

            switch (result.Status)
            {
                case VerificationStatus.Pass:
                    RecordVerdict("pass", result);
                    Report(RuleOutcomeStatus.Pass, result.Message);
                    break;
                case VerificationStatus.Fail when check.Policy.ActionFor(check.Rule, context, namespaceLabelsKnown) == FailureAction.Audit:
                    // Kyverno's image verifier pins the digest and records the verdict whatever the verification's outcome
                    // (pkg/engine/internal/imageverifier.go, Verify: handleMutateDigest, then ivm.Add with "fail"); under
                    // Audit nothing blocks, so the Pod is admitted with both.
                    RecordVerdict("fail", result);
                    warnings.Add($"policy {check.Policy.Name}.{check.Rule.Name}: {result.Message}");
                    failures.Add(new Failure(check, index, result.Message));
                    Report(RuleOutcomeStatus.Warn, result.Message);
                    break;
                case VerificationStatus.Fail:
                    blocked = true;
                    failures.Add(new Failure(check, index, result.Message));
                    Report(RuleOutcomeStatus.Fail, result.Message);
                    break;
                case VerificationStatus.Error when check.Policy.FailurePolicy == FailurePolicy.Ignore:
                    // Kyverno's warning for an error under failurePolicy: Ignore is the rule's message alone, as for Audit.
                    warnings.Add($"policy {check.Policy.Name}.{check.Rule.Name}: {result.Message}");
                    failures.Add(new Failure(check, index, result.Message));
                    Report(RuleOutcomeStatus.Warn, result.Message + " (ignored: failurePolicy is Ignore)");
                    break;
                default:
                    var message = timedOut && !result.Message.Contains("deadline", StringComparison.Ordinal) ? result.Message + " (deadline exceeded)" : result.Message;
                    blocked = true;
                    failures.Add(new Failure(check, index, message));
                    Report(RuleOutcomeStatus.Fail, message);
                    break;
            }

            void RecordVerdict(string status, ImageVerificationResult verdict)
            {
                if (!mutate || check.Entry is not { } entry || check.Image is not { } image || verdict.Digest is not { } digest)
                {
                    return;
                }

                // Kyverno records a verdict only for entries with attestors or attestations, keyed by the pinned image.
                if (entry.VerifiesSignatures)
                {
                    var pinned = image.WithDigest(digest).Canonical;
                    verdicts[pinned] = status;
                    scopedVerdicts.Add(new ScopedVerdict(check.Policy.Namespace, check.Policy.Name, check.Rule.Name, pinned, status));
                }

                if (entry.MutateDigest && image.Digest is null && !check.Extracted.Transformed && patchedPointers.Add(check.Extracted.Pointer))
                {
                    patches.Add(new JsonPatchOperation { Op = "replace", Path = check.Extracted.Pointer, Value = JsonString(image.WithDigest(digest).FullyQualified) });
                }
            }

            void Report(RuleOutcomeStatus status, string message) =>
                outcomes?.Add(new RuleOutcome(
                    PolicyLabel(check.Policy),
                    check.Rule.Name,
                    IsPlaceholder(check.Extracted) ? null : check.Extracted.Text,
                    IsPlaceholder(check.Extracted) ? null : check.Extracted.Pointer,
                    status,
                    message));
        }

        if (blocked)
        {
            // As Kyverno answers a blocked review: the message alone, no warnings and no patch.
            return new AdmissionResponse
            {
                Uid = uid,
                Allowed = false,
                Status = new AdmissionStatus { Code = 403, Reason = "Forbidden", Message = DenialMessage(context, failures) },
            };
        }

        if (mutate && verdicts.Count > 0)
        {
            AddVerdictAnnotation(context, scope, verdicts, scopedVerdicts, patches, warnings);
        }

        var response = Allow(uid);
        response.Warnings = warnings.Count > 0 ? warnings : null;
        if (patches.Count > 0)
        {
            response.Patch = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(patches, AdmissionJsonContext.Default.ListJsonPatchOperation));
            response.PatchType = "JSONPatch";
        }

        return response;
    }

    // Constant parts of every mutating answer, made once rather than per review.
    private static readonly JsonElement s_emptyObject = JsonDocument.Parse("{}").RootElement.Clone();
    private static readonly string s_verifyImagesPointer = "/metadata/annotations/" + EscapePointer(VerifyImagesAnnotation);
    private static readonly string s_scopedVerifyImagesPointer = "/metadata/annotations/" + EscapePointer(ScopedVerifyImagesAnnotation);

    private readonly record struct Failure(Check Check, int Order, string Message);

    private void AddVerdictAnnotation(AdmissionContext context, WebhookScope scope, SortedDictionary<string, string> verdicts, List<ScopedVerdict> scopedVerdicts, List<JsonPatchOperation> patches, List<string> warnings)
    {
        JsonElement annotations = default;
        var hasAnnotations = context.Resource.ValueKind == JsonValueKind.Object
            && context.Resource.TryGetProperty("metadata", out var metadata)
            && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("annotations", out annotations)
            && annotations.ValueKind == JsonValueKind.Object;

        if (!hasAnnotations)
        {
            patches.Add(new JsonPatchOperation { Op = "add", Path = "/metadata/annotations", Value = s_emptyObject });
        }

        // An earlier mutating webhook's verdicts (the shared one, or another policy's own) are on the object already:
        // they are merged, not overwritten. The values are whatever the object's author wrote, so they are records only;
        // nothing here or in the validating pass skips a verification because of them.
        var imageVerdicts = VerdictAnnotations.MergeImageVerdicts(Existing(VerifyImagesAnnotation, out var imageProblem), verdicts);
        var judgedHere = new HashSet<string>(
            policies.Where(scope.Includes).Select(p => VerdictAnnotations.PolicyKey(p.Namespace, p.Name)),
            StringComparer.Ordinal);
        var scoped = VerdictAnnotations.MergeScopedVerdicts(Existing(ScopedVerifyImagesAnnotation, out var scopedProblem), scopedVerdicts, judgedHere.Contains);

        Warn(VerifyImagesAnnotation, imageProblem ?? imageVerdicts.Problem);
        Warn(ScopedVerifyImagesAnnotation, scopedProblem ?? scoped.Problem);
        patches.Add(new JsonPatchOperation { Op = "add", Path = s_verifyImagesPointer, Value = JsonString(imageVerdicts.Value) });
        patches.Add(new JsonPatchOperation { Op = "add", Path = s_scopedVerifyImagesPointer, Value = JsonString(scoped.Value) });

        string? Existing(string name, out string? problem)
        {
            problem = null;
            if (!hasAnnotations || !annotations.TryGetProperty(name, out var value))
            {
                return null;
            }

            if (value.ValueKind != JsonValueKind.String)
            {
                problem = "not a string";
                return null;
            }

            return value.GetString();
        }

        void Warn(string name, string? problem)
        {
            if (problem is not null)
            {
                warnings.Add($"annotation {name} on the object could not be read ({problem}); it is replaced by this review's verdicts");
            }
        }
    }

    /// <summary>
    /// The value of <see cref="ScopedVerifyImagesAnnotation"/> for these verdicts alone: policies keyed
    /// <c>namespace/name</c> (<c>/name</c> for a ClusterPolicy), then rules, then images, each level in ordinal order as
    /// Go's encoder sorts map keys, so the same verdicts always give the same bytes.
    /// </summary>
    public static string ScopedVerdictAnnotation(IEnumerable<ScopedVerdict> verdicts) =>
        VerdictAnnotations.MergeScopedVerdicts(existing: null, verdicts ?? throw new ArgumentNullException(nameof(verdicts)), static _ => false).Value;

    /// <summary>
    /// Kyverno's denial message for these failures (<see cref="KyvernoMessages.Blocked"/>). Kyverno keeps one message per
    /// policy and rule, the last its engine produced: its rule responses come entry by entry, and image by image within an
    /// entry, so the last is the failure of the latest entry on the latest image.
    /// </summary>
    private static string DenialMessage(AdmissionContext context, List<Failure> failures)
    {
        var byPolicy = new Dictionary<string, Dictionary<string, (int Entry, int Order, string Message)>>(StringComparer.Ordinal);
        foreach (var failure in failures)
        {
            if (!byPolicy.TryGetValue(failure.Check.Policy.Name, out var rules))
            {
                rules = new Dictionary<string, (int, int, string)>(StringComparer.Ordinal);
                byPolicy[failure.Check.Policy.Name] = rules;
            }

            var entry = failure.Check.Entry is { } e ? failure.Check.Rule.VerifyImages.IndexOf(e) : -1;
            if (!rules.TryGetValue(failure.Check.Rule.Name, out var kept) || (entry, failure.Order).CompareTo((kept.Entry, kept.Order)) > 0)
            {
                rules[failure.Check.Rule.Name] = (entry, failure.Order, failure.Message);
            }
        }

        return KyvernoMessages.Blocked(
            context.Kind,
            context.Namespace,
            context.Name,
            byPolicy.ToDictionary(p => p.Key, p => (IReadOnlyDictionary<string, string>)p.Value.ToDictionary(r => r.Key, r => r.Value.Message, StringComparer.Ordinal), StringComparer.Ordinal));
    }

    public static string EscapePointer(string segment) => segment.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    private static JsonElement JsonString(string value) =>
        JsonSerializer.SerializeToElement(value, AdmissionJsonContext.Default.String);

    private static AdmissionResponse Allow(string uid) => new() { Uid = uid, Allowed = true };

    /// <summary>
    /// The rules with images to verify, grouped by the kinds they name and by the namespace of their policy. Rules are
    /// visited in the order of the policy set, so decisions, messages and outcome reports read as without the index.
    /// </summary>
    private sealed class RuleIndex
    {
        private static readonly Entry[] s_none = [];

        private readonly Dictionary<string, Bucket> _byKind = new(StringComparer.Ordinal);

        // Rules that may match any kind; for a kind no rule names, they are all there is.
        private readonly Bucket _anyKind;

        public RuleIndex(ImmutableArray<PolicyDefinition> policies)
        {
            var entries = new List<(Entry Entry, string? Namespace, ImmutableArray<string> Kinds)>();
            foreach (var policy in policies)
            {
                foreach (var rule in policy.Rules)
                {
                    // Nothing to verify: such a rule never affects a decision.
                    if (rule.VerifyImages.IsDefaultOrEmpty)
                    {
                        continue;
                    }

                    // Rules with a namespaceSelector are indexed by kind too: one that cannot match the review's kind
                    // must not fail it because the namespace's labels cannot be read.
                    entries.Add((new Entry(entries.Count, policy, rule), policy.Namespace, rule.Kinds));
                }
            }

            _anyKind = new Bucket(entries.Where(e => e.Kinds.IsEmpty));
            foreach (var kind in entries.SelectMany(e => e.Kinds).Distinct(StringComparer.Ordinal))
            {
                _byKind[kind] = new Bucket(entries.Where(e => e.Kinds.IsEmpty || e.Kinds.Contains(kind, StringComparer.Ordinal)));
            }
        }

        /// <summary>The rules a request of this kind in this namespace could match, in policy-set order.</summary>
        public IEnumerable<(PolicyDefinition Policy, RuleDefinition Rule)> Candidates(string kind, string? requestNamespace)
        {
            var bucket = _byKind.TryGetValue(kind, out var named) ? named : _anyKind;

            // PolicyDefinition.AppliesToNamespace: a namespaced policy sees requests of its own namespace only.
            var local = requestNamespace is not null && bucket.ByNamespace.TryGetValue(requestNamespace, out var own) ? own : s_none;
            var cluster = bucket.ClusterWide;
            int c = 0, l = 0;
            while (c < cluster.Length || l < local.Length)
            {
                var next = l == local.Length || (c < cluster.Length && cluster[c].Order < local[l].Order) ? cluster[c++] : local[l++];
                yield return (next.Policy, next.Rule);
            }
        }

        private sealed record Entry(int Order, PolicyDefinition Policy, RuleDefinition Rule);

        private sealed class Bucket
        {
            public Bucket(IEnumerable<(Entry Entry, string? Namespace, ImmutableArray<string> Kinds)> entries)
            {
                var list = entries.ToList();
                ClusterWide = [.. list.Where(e => e.Namespace is null).Select(e => e.Entry)];
                ByNamespace = list
                    .Where(e => e.Namespace is not null)
                    .GroupBy(e => e.Namespace!, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.Select(e => e.Entry).ToArray(), StringComparer.Ordinal);
            }

            public Entry[] ClusterWide { get; }

            public Dictionary<string, Entry[]> ByNamespace { get; }
        }
    }

    /// <summary>One image's verdict as a policy's rule reached it, for <see cref="ScopedVerdictAnnotation"/>.</summary>
    public sealed record ScopedVerdict(string? PolicyNamespace, string Policy, string Rule, string Image, string Status);

    private sealed record Check(
        PolicyDefinition Policy,
        RuleDefinition Rule,
        ImageVerificationDefinition? Entry,
        ExtractedImage Extracted,
        ImageReference? Image,
        Task<ImageVerificationResult> Result);
}
