using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Model;

// The validated policy: everything the emitter needs and nothing else. Value-equatable and free of
// positions, so that an edit that does not change meaning (a comment, a blank line) leaves it equal.

internal sealed record PolicyModel(
    string Kind,
    string Name,
    string? Namespace,
    string ClassName,
    string SourcePath,
    string FailureAction,
    string FailurePolicy,
    int WebhookTimeoutSeconds,
    bool Background,
    EquatableArray<RuleModel> Rules)
{
    /// <summary><c>validationFailureActionOverrides</c>, in order: the first that applies to the namespace decides.</summary>
    public EquatableArray<FailureActionOverrideModel> FailureActionOverrides { get; init; } = EquatableArray<FailureActionOverrideModel>.Empty;

    /// <summary><c>applyRules: One</c>: rules are tried in order and the first that passes or fails ends the policy.</summary>
    public bool ApplyOne { get; init; }

    /// <summary>
    /// <c>webhookConfiguration.matchConditions</c>, in order: the API server evaluates them, on a webhook that serves this
    /// policy alone; empty when the policy is served by the shared webhook.
    /// </summary>
    public EquatableArray<MatchConditionModel> MatchConditions { get; init; } = EquatableArray<MatchConditionModel>.Empty;
}

/// <summary>One CEL match condition, passed through to the webhook configuration as written.</summary>
internal sealed record MatchConditionModel(string Name, string Expression);

/// <summary>
/// An override of the policy's action: it applies to a namespace that one of <see cref="Namespaces"/> matches (when
/// <see cref="HasNamespaces"/>) and that <see cref="NamespaceSelector"/> selects (when given); with neither, everywhere.
/// </summary>
internal sealed record FailureActionOverrideModel(string Action, bool HasNamespaces, EquatableArray<string> Namespaces, LabelSelectorModel? NamespaceSelector);

internal sealed record RuleModel(
    string Name,
    MatchModel Match,
    MatchModel? Exclude,
    EquatableArray<ImageVerificationModel> VerifyImages)
{
    /// <summary>The rules Kyverno's auto-generation derives from this one: same checks, controller kinds.</summary>
    public EquatableArray<AutogenRuleModel> Autogen { get; init; } = EquatableArray<AutogenRuleModel>.Empty;

    public EquatableArray<ImageExtractorModel> ImageExtractors { get; init; } = EquatableArray<ImageExtractorModel>.Empty;

    /// <summary>The rule applies only when these hold (Kyverno's precondition variables: unresolvable ones are empty).</summary>
    public EquatableArray<ConditionBlockModel> Preconditions { get; init; } = EquatableArray<ConditionBlockModel>.Empty;

    /// <summary><c>context</c>: entries loaded in order before the preconditions, each readable by the ones after it.</summary>
    public EquatableArray<ContextEntryModel> Context { get; init; } = EquatableArray<ContextEntryModel>.Empty;

    /// <summary>
    /// <c>Enforce</c> or <c>Audit</c> when a verifyImages entry sets <c>failureAction</c>: it decides for the whole rule
    /// over the policy's action (any entry that enforces makes the rule enforce); null when no entry sets one.
    /// </summary>
    public string? FailureAction { get; init; }
}

/// <summary>
/// One <c>context</c> entry: a <see cref="VariableSource"/> (value and/or jmesPath over the context, default), a
/// <see cref="ConfigMapSource"/> (name and namespace templates), an <see cref="ApiCallSource"/> (GET or POST on the
/// API server's urlPath, jmesPath over the answer, default) or an <see cref="ImageRegistrySource"/> (the reference
/// template, jmesPath over the image data, registry credentials).
/// </summary>
internal sealed record ContextEntryModel(string Name, string Source)
{
    public const string VariableSource = "variable";
    public const string ConfigMapSource = "configMap";
    public const string ApiCallSource = "apiCall";
    public const string ImageRegistrySource = "imageRegistry";
    public const string GlobalReferenceSource = "globalReference";

    public Conditions.KyvernoValue? Value { get; init; }

    public Conditions.JmesNode? JmesPath { get; init; }

    public string? JmesPathText { get; init; }

    /// <summary>The <c>jmesPath</c> holds <c>{{ }}</c> variables, which read the rule's context rather than the entry's data.</summary>
    public bool JmesPathHasVariables { get; init; }

    public Conditions.KyvernoValue? Default { get; init; }

    public Conditions.KyvernoTemplate? ConfigMapName { get; init; }

    public Conditions.KyvernoTemplate? ConfigMapNamespace { get; init; }

    public Conditions.KyvernoTemplate? UrlPath { get; init; }

    public string Method { get; init; } = "GET";

    public EquatableArray<ContextDataModel> Data { get; init; } = EquatableArray<ContextDataModel>.Empty;

    /// <summary><c>imageRegistry.reference</c>.</summary>
    public Conditions.KyvernoTemplate? ImageReference { get; init; }

    /// <summary><c>imageRegistry.imageRegistryCredentials</c>.</summary>
    public RegistryCredentialsModel? RegistryCredentials { get; init; }

    /// <summary><c>globalReference.name</c>: the GlobalContextEntry read, a template.</summary>
    public Conditions.KyvernoTemplate? GlobalName { get; init; }

    /// <summary><c>apiCall.service</c>: a call to a service outside the API server instead of <see cref="UrlPath"/>.</summary>
    public ServiceCallModel? Service { get; init; }
}

/// <summary><c>apiCall.service</c>: the URL, the PEM CAs trusted for it (system roots when null) and headers, all templates.</summary>
internal sealed record ServiceCallModel(Conditions.KyvernoTemplate Url, Conditions.KyvernoTemplate? CaBundle, EquatableArray<ServiceHeaderModel> Headers);

/// <summary>One <c>apiCall.service.headers</c> item: a literal name and a value template.</summary>
internal sealed record ServiceHeaderModel(string Key, Conditions.KyvernoTemplate Value, Conditions.KyvernoTemplate? KeyTemplate = null);

/// <summary>One <c>apiCall.data</c> item: a member of the POST body.</summary>
/// <summary>One <c>apiCall.data</c> item; <paramref name="KeyTemplate"/> when its <c>key</c> is written with variables.</summary>
internal sealed record ContextDataModel(string Key, Conditions.KyvernoValue Value, Conditions.KyvernoTemplate? KeyTemplate = null);

/// <summary>Where a kind keeps its images: path segments (<c>*</c> for every item), the image field and the name field.</summary>
internal sealed record ImageExtractorModel(string Kind, string Name, EquatableArray<string> Path, string Value, string? Key)
{
    /// <summary>The validated <c>jmesPath</c> applied to each image value, and its text.</summary>
    public Conditions.JmesNode? JmesPath { get; init; }

    public string? JmesPathText { get; init; }
}

/// <summary>An auto-generated variant of a rule: its name and its match/exclude with the controller kinds.</summary>
internal sealed record AutogenRuleModel(string Name, MatchModel Match, MatchModel? Exclude);

/// <summary>A match or exclude block: any of <see cref="Any"/> and all of <see cref="All"/>.</summary>
internal sealed record MatchModel(EquatableArray<ResourceFilterModel> Any, EquatableArray<ResourceFilterModel> All);

internal sealed record ResourceFilterModel(
    EquatableArray<KindSelectorModel> Kinds,
    EquatableArray<string> Names,
    EquatableArray<string> Namespaces,
    EquatableArray<string> Operations)
{
    /// <summary><c>annotations</c>: every wildcard key must be present with a value its wildcard matches.</summary>
    public EquatableArray<KeyValueModel> Annotations { get; init; } = EquatableArray<KeyValueModel>.Empty;

    public LabelSelectorModel? Selector { get; init; }

    public LabelSelectorModel? NamespaceSelector { get; init; }

    public EquatableArray<SubjectModel> Subjects { get; init; } = EquatableArray<SubjectModel>.Empty;

    /// <summary><c>roles</c> (<c>namespace:role</c>): one of them must be among the user's roles from RBAC bindings.</summary>
    public EquatableArray<string> Roles { get; init; } = EquatableArray<string>.Empty;

    /// <summary><c>clusterRoles</c>: one of them must be among the user's cluster roles from RBAC bindings.</summary>
    public EquatableArray<string> ClusterRoles { get; init; } = EquatableArray<string>.Empty;
}

/// <summary>A label selector: <c>matchLabels</c> (wildcards allowed, as Kyverno allows them) and requirements.</summary>
internal sealed record LabelSelectorModel(EquatableArray<KeyValueModel> MatchLabels, EquatableArray<LabelRequirementModel> Expressions);

/// <summary><c>In</c>, <c>NotIn</c>, <c>Exists</c> or <c>DoesNotExist</c> over one label key.</summary>
internal sealed record LabelRequirementModel(string Key, string Operator, EquatableArray<string> Values);

/// <summary>An RBAC subject compared with the request's user info.</summary>
internal sealed record SubjectModel(string Kind, string Name, string? Namespace);

/// <summary>A kind as Kyverno writes it, split: <c>apps/v1/Deployment</c>, <c>Pod/ephemeralcontainers</c>.</summary>
internal sealed record KindSelectorModel(string? Group, string? Version, string Kind, string? SubResource, string Text);

internal sealed record ImageVerificationModel(
    int Index,
    EquatableArray<string> ImageReferences,
    EquatableArray<string> SkipImageReferences,
    EquatableArray<AttestorSetModel> Attestors,
    bool MutateDigest,
    bool VerifyDigest,
    bool Required,
    bool UseCache,
    string? Repository)
{
    public EquatableArray<AttestationModel> Attestations { get; init; } = EquatableArray<AttestationModel>.Empty;

    public ValidationModel? Validation { get; init; }

    /// <summary><c>imageRegistryCredentials</c>: plain HTTP allowed, and dockerconfigjson Secrets of the webhook's namespace.</summary>
    public RegistryCredentialsModel? RegistryCredentials { get; init; }

    /// <summary><c>type</c>: <c>Cosign</c> (tags), <c>SigstoreBundle</c> or <c>Notary</c> (both OCI 1.1 referrers).</summary>
    public string Format { get; init; } = "Cosign";

    /// <summary><c>cosignOCI11</c>: cosign signatures are looked up among the OCI 1.1 referrers before the tag.</summary>
    public bool CosignOci11 { get; init; }
}

/// <summary>An attestation check: statements of <see cref="Type"/> vouched for by the attestor sets.</summary>
internal sealed record AttestationModel(string Path, string Type, EquatableArray<AttestorSetModel> Attestors)
{
    public EquatableArray<ConditionBlockModel> Conditions { get; init; } = EquatableArray<ConditionBlockModel>.Empty;

    /// <summary><c>name</c>: the variable under which <c>validate.deny</c> reads the predicate.</summary>
    public string? Name { get; init; }
}

internal sealed record RegistryCredentialsModel(bool AllowInsecure, EquatableArray<string> Secrets)
{
    /// <summary><c>providers</c>: <c>default</c>, <c>amazon</c>, <c>google</c>, in the order written.</summary>
    public EquatableArray<string> Providers { get; init; } = EquatableArray<string>.Empty;
}

/// <summary>
/// <c>validate</c>: the image is denied when <see cref="Deny"/> holds, with <see cref="Message"/> as written or, when it
/// has variables, <see cref="MessageTemplate"/> (then <see cref="Message"/> is null).
/// </summary>
internal sealed record ValidationModel(string? Message, Conditions.KyvernoTemplate? MessageTemplate, EquatableArray<ConditionBlockModel> Deny)
{
    public bool MessageReadsRequest { get; init; }
}

/// <summary>An element of a conditions list: <see cref="Any"/> (null when not written) and <see cref="All"/>.</summary>
internal sealed record ConditionBlockModel(EquatableArray<ConditionModel>? Any, EquatableArray<ConditionModel> All);

/// <summary>
/// One condition, parsed and checked: Kyverno's path (<c>conditions[0].all[1]</c>), the condition as written (for
/// messages), key/operator/value, and the message as a literal or as a template with variables.
/// </summary>
internal sealed record ConditionModel(
    string Path,
    string Text,
    Conditions.KyvernoCondition Condition,
    string? Message,
    Conditions.KyvernoTemplate? MessageTemplate,
    bool ReadsRequest);

internal sealed record AttestorSetModel(string Path, int? Count, EquatableArray<AttestorModel> Entries);

/// <summary>
/// One attestor entry: exactly one of <see cref="Key"/>, <see cref="Certificates"/>, <see cref="Keyless"/> or
/// <see cref="Nested"/>, with what its signatures must also satisfy.
/// </summary>
internal sealed record AttestorModel(
    string Path,
    PublicKeyModel? Key,
    CertificatesModel? Certificates,
    KeylessModel? Keyless,
    AttestorSetModel? Nested,
    RequirementsModel Requirements,
    string? Repository)
{
    /// <summary>A key read from a Secret at verification time, instead of <see cref="Key"/>.</summary>
    public SecretKeyModel? SecretKey { get; init; }

    /// <summary><c>publicKeys</c> with variables: substituted from the rule's context and the request at verification time.</summary>
    public VariableKeyModel? VariableKey { get; init; }

    /// <summary>A key fetched from a KMS at verification time, instead of <see cref="Key"/>.</summary>
    public KmsKeyModel? KmsKey { get; init; }

    /// <summary>
    /// <c>rekor.url</c>, <c>rekor.pubkey</c>, <c>ctlog.pubkey</c> and <c>ctlog.tsaCertChain</c> written with variables, in that
    /// order: substituted at admission into the requirements and CT logs (their literal counterparts stay null/empty).
    /// </summary>
    public EquatableArray<TemplateFieldModel> LogTemplates { get; init; } = EquatableArray<TemplateFieldModel>.Empty;
}

/// <summary>A <c>publicKeys</c> template (<c>{{ keys.data.production }}</c>), its text, and the signature's hash.</summary>
internal sealed record VariableKeyModel(Conditions.KyvernoTemplate Template, string Text, string Hash)
{
    public bool ReadsRequest { get; init; }
}

/// <summary><c>keys.kms</c> (or a KMS URI in <c>publicKeys</c>), its grammar checked, with the policy's signature hash.</summary>
internal sealed record KmsKeyModel(string Reference, string Hash);

/// <summary><c>keys.secret</c> or <c>publicKeys: k8s://namespace/name</c>, with the signature's hash.</summary>
internal sealed record SecretKeyModel(string Namespace, string Name, string Hash);

/// <summary>Annotations the payload must carry, the transparency log rule, and the timestamp authority (<c>ctlog.tsaCertChain</c>).</summary>
internal sealed record RequirementsModel(EquatableArray<KeyValueModel> Annotations, TransparencyLogModel Tlog)
{
    /// <summary>The TSA chain RFC 3161 timestamps must verify against; empty for the trusted root's authorities.</summary>
    public EquatableArray<CertificateModel> TsaChain { get; init; } = EquatableArray<CertificateModel>.Empty;
}

/// <summary><c>rekor</c>: ignored, the trusted root's logs (public-good Rekor by default), or a log known by its key.</summary>
internal sealed record TransparencyLogModel(bool Ignore, string? Url, PublicKeyModel? Key)
{
    /// <summary><c>rekor.url</c> or <c>rekor.pubkey</c> has variables: the log is known at admission (see <see cref="AttestorModel.LogTemplates"/>).</summary>
    public bool Substituted { get; init; }
}

/// <summary><c>ctlog</c>: whether embedded SCTs are checked, and against which log key (the trusted root's when null).</summary>
internal sealed record CtLogModel(bool IgnoreSct, PublicKeyModel? Key);

/// <summary><paramref name="CtLog"/> is what applies: without a chain cosign uses only the certificate's key, so SCTs are ignored.</summary>
internal sealed record CertificatesModel(CertificateModel? Certificate, EquatableArray<CertificateModel> Chain, string Hash, CtLogModel CtLog)
{
    /// <summary><c>cert</c>/<c>certChain</c> with variables (then <see cref="Certificate"/>/<see cref="Chain"/> stay empty for them).</summary>
    public EquatableArray<TemplateFieldModel> Templates { get; init; } = EquatableArray<TemplateFieldModel>.Empty;

    /// <summary>
    /// A Notary entry's attestor: every certificate of <c>cert</c> and <c>certChain</c> is one CA trust store (all in
    /// <see cref="Chain"/>, <c>cert</c>'s first), as Kyverno hands Notation both fields' PEM blocks together.
    /// </summary>
    public bool IsTrustStore { get; init; }
}

/// <summary>An attestor field written with variables: substituted from the rule's context and the request at admission.</summary>
internal sealed record TemplateFieldModel(string Field, Conditions.KyvernoTemplate Template, string Text, bool ReadsRequest);

internal sealed record KeylessModel(
    string? Subject,
    string? SubjectRegExp,
    string? Issuer,
    string? IssuerRegExp,
    EquatableArray<CertificateModel> Roots,
    EquatableArray<KeyValueModel> Extensions,
    CtLogModel CtLog)
{
    /// <summary>The field name of a templated <c>additionalExtensions</c> value: this prefix, then the extension's name.</summary>
    public const string ExtensionField = "additionalExtensions.";

    /// <summary>Fields with variables, in the order subject, subjectRegExp, issuer, issuerRegExp, roots, then extensions by name.</summary>
    public EquatableArray<TemplateFieldModel> Templates { get; init; } = EquatableArray<TemplateFieldModel>.Empty;
}

/// <summary>An X.509 certificate checked at build time (structure, key, chain names).</summary>
internal sealed record CertificateModel(string DerBase64, string Fingerprint);

internal sealed record KeyValueModel(string Key, string Value);

/// <summary>A public key checked at build time: the runtime only imports it.</summary>
internal sealed record PublicKeyModel(string Algorithm, string SubjectPublicKeyInfoBase64, string Hash, string Fingerprint);

/// <summary>What one policy file yields: its policies and its diagnostics.</summary>
internal sealed record PolicyFileResult(string Path, EquatableArray<PolicyModel> Policies, EquatableArray<DiagnosticInfo> Diagnostics);
