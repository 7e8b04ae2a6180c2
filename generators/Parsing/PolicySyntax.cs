using System.Collections.Generic;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Yaml;

namespace PolicyCompiler.Generators.Parsing;

// The policy as written: typed values with their YAML positions, before any meaning is checked.
// These objects live only inside one pipeline step; the validator turns them into the equatable model.

internal sealed class PolicySyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? ApiVersion { get; set; }

    public Located<string>? Kind { get; set; }

    public Located<string>? Name { get; set; }

    public Located<string>? Namespace { get; set; }

    public Dictionary<string, Located<string>> Annotations { get; set; } = [];

    public SpecSyntax? Spec { get; set; }
}

internal sealed class SpecSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? ValidationFailureAction { get; set; }

    public Located<string>? FailurePolicy { get; set; }

    public Located<int>? WebhookTimeoutSeconds { get; set; }

    /// <summary><c>webhookConfiguration.failurePolicy</c>: when set, it wins over <c>failurePolicy</c>, as in Kyverno.</summary>
    public Located<string>? WebhookFailurePolicy { get; set; }

    /// <summary><c>webhookConfiguration.timeoutSeconds</c>: when set, it wins over <c>webhookTimeoutSeconds</c>.</summary>
    public Located<int>? WebhookConfigurationTimeoutSeconds { get; set; }

    /// <summary>
    /// <c>webhookConfiguration.matchConditions</c>: CEL that the API server evaluates before calling the policy's own
    /// webhook. Null when absent; an empty list gives the policy no webhook of its own, as in Kyverno.
    /// </summary>
    public List<MatchConditionSyntax>? MatchConditions { get; set; }

    public LocationInfo? MatchConditionsLocation { get; set; }

    public Located<bool>? Background { get; set; }

    /// <summary><c>applyRules</c>: <c>All</c> (the default) or <c>One</c>.</summary>
    public Located<string>? ApplyRules { get; set; }

    public List<RuleSyntax>? Rules { get; set; }

    /// <summary><c>validationFailureActionOverrides</c>: per namespace (names or selector), another action.</summary>
    public List<FailureActionOverrideSyntax> FailureActionOverrides { get; } = [];

    public LocationInfo? RulesLocation { get; set; }
}

internal sealed class MatchConditionSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? Name { get; set; }

    public Located<string>? Expression { get; set; }
}

internal sealed class FailureActionOverrideSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? Action { get; set; }

    /// <summary>Null when the field is absent, which Kyverno tells apart from an empty list.</summary>
    public List<Located<string>>? Namespaces { get; set; }

    public LabelSelectorSyntax? NamespaceSelector { get; set; }
}

internal sealed class RuleSyntax
{
    public required LocationInfo Location { get; init; }

    public required string Path { get; init; }

    public Located<string>? Name { get; set; }

    public MatchSyntax? Match { get; set; }

    public MatchSyntax? Exclude { get; set; }

    public List<VerifyImageSyntax> VerifyImages { get; } = [];

    /// <summary>The rule is a mutate, validate or generate rule, already reported as not supported (PC0099).</summary>
    public bool IsOtherRuleType { get; set; }

    /// <summary><c>imageExtractors</c>: per kind, where that kind keeps its images.</summary>
    public List<ImageExtractorSyntax> ImageExtractors { get; } = [];

    /// <summary>The compiled <c>preconditions</c>, already checked (their mistakes are reported by the parser).</summary>
    public EquatableArray<ConditionBlockModel>? Preconditions { get; set; }

    public bool PreconditionsInvalid { get; set; }

    /// <summary>The compiled <c>context</c> entries, already checked (their mistakes are reported by the parser).</summary>
    public EquatableArray<ContextEntryModel>? Context { get; set; }

    public bool ContextInvalid { get; set; }
}

internal sealed class ImageExtractorSyntax
{
    public required LocationInfo Location { get; init; }

    public required Located<string> Kind { get; init; }

    public Located<string>? Name { get; set; }

    public Located<string>? Path { get; set; }

    public Located<string>? Value { get; set; }

    public Located<string>? Key { get; set; }

    /// <summary>A JMESPath applied to the image value (<c>trim_prefix(@, 'docker://')</c>).</summary>
    public Located<string>? JmesPath { get; set; }
}

internal sealed class MatchSyntax
{
    public required LocationInfo Location { get; init; }

    public required string Path { get; init; }

    public List<FilterSyntax> Any { get; } = [];

    public List<FilterSyntax> All { get; } = [];

    /// <summary>The deprecated form <c>match.resources</c> without any/all.</summary>
    public FilterSyntax? Resources { get; set; }
}

internal sealed class FilterSyntax
{
    public required LocationInfo Location { get; init; }

    public List<Located<string>> Kinds { get; set; } = [];

    public List<Located<string>> Names { get; set; } = [];

    public List<Located<string>> Namespaces { get; set; } = [];

    public List<Located<string>> Operations { get; set; } = [];

    /// <summary><c>resources.annotations</c>: wildcard key to wildcard value, all must be on the resource.</summary>
    public Dictionary<string, Located<string>>? Annotations { get; set; }

    public LabelSelectorSyntax? Selector { get; set; }

    public LabelSelectorSyntax? NamespaceSelector { get; set; }

    /// <summary>The filter's <c>subjects</c> (user info beside <c>resources</c>).</summary>
    public List<SubjectSyntax> Subjects { get; } = [];

    /// <summary><c>roles</c>: <c>namespace:role</c> names, compared with the roles the user's RoleBindings give.</summary>
    public List<Located<string>> Roles { get; set; } = [];

    /// <summary><c>clusterRoles</c>: ClusterRole names, compared with those the user's bindings give.</summary>
    public List<Located<string>> ClusterRoles { get; set; } = [];
}

/// <summary>A Kubernetes <c>LabelSelector</c>: <c>matchLabels</c> and <c>matchExpressions</c>.</summary>
internal sealed class LabelSelectorSyntax
{
    public required LocationInfo Location { get; init; }

    public required string Path { get; init; }

    public Dictionary<string, Located<string>> MatchLabels { get; set; } = [];

    public List<LabelRequirementSyntax> Expressions { get; } = [];
}

internal sealed class LabelRequirementSyntax
{
    public required LocationInfo Location { get; init; }

    public required string Path { get; init; }

    public Located<string>? Key { get; set; }

    public Located<string>? Operator { get; set; }

    public List<Located<string>> Values { get; set; } = [];
}

/// <summary>An RBAC subject: <c>User</c>, <c>Group</c> or <c>ServiceAccount</c> (with its namespace).</summary>
internal sealed class SubjectSyntax
{
    public required LocationInfo Location { get; init; }

    public required string Path { get; init; }

    public Located<string>? Kind { get; set; }

    public Located<string>? Name { get; set; }

    public Located<string>? Namespace { get; set; }
}

internal sealed class VerifyImageSyntax
{
    /// <summary><c>failureAction</c> (Kyverno 1.13+): Enforce or Audit for the rule, over the policy's <c>validationFailureAction</c>.</summary>
    public Located<string>? FailureAction { get; set; }

    /// <summary><c>imageRegistryCredentials</c>: <c>allowInsecureRegistry</c> and the Secret names (null when absent).</summary>
    public Located<bool>? AllowInsecureRegistry { get; set; }

    public List<Located<string>>? RegistrySecrets { get; set; }

    /// <summary><c>imageRegistryCredentials.providers</c>: the cloud credential helpers to use.</summary>
    public List<Located<string>>? RegistryProviders { get; set; }

    public LocationInfo? RegistryCredentialsLocation { get; set; }

    public ValidationSyntax? Validate { get; set; }

    public required LocationInfo Location { get; init; }

    public required int Index { get; init; }

    public List<Located<string>>? ImageReferences { get; set; }

    public LocationInfo? ImageReferencesLocation { get; set; }

    /// <summary>Deprecated single <c>image</c>, converted to one image reference.</summary>
    public Located<string>? Image { get; set; }

    /// <summary>Deprecated single <c>key</c>, converted to one attestor.</summary>
    public Located<string>? Key { get; set; }

    public Located<string>? Type { get; set; }

    public List<AttestorSetSyntax> Attestors { get; } = [];

    public Located<bool>? MutateDigest { get; set; }

    public Located<bool>? VerifyDigest { get; set; }

    public Located<bool>? Required { get; set; }

    public Located<string>? Repository { get; set; }

    public List<Located<string>>? SkipImageReferences { get; set; }

    public Located<bool>? UseCache { get; set; }

    /// <summary><c>cosignOCI11</c>: look for cosign signatures among the image's OCI 1.1 referrers first.</summary>
    public Located<bool>? CosignOci11 { get; set; }

    /// <summary>Deprecated rule-level <c>annotations</c>: required on every attestor's signatures.</summary>
    public Dictionary<string, Located<string>>? Annotations { get; set; }

    /// <summary>Deprecated keyless fields at the entry level, converted to one keyless attestor as Kyverno does.</summary>
    public Located<string>? Subject { get; set; }

    public Located<string>? Issuer { get; set; }

    public Located<string>? Roots { get; set; }

    public Dictionary<string, Located<string>>? AdditionalExtensions { get; set; }

    public List<AttestationSyntax> Attestations { get; } = [];
}

/// <summary>One entry of <c>attestations</c>: statements of a predicate type, their attestors and conditions.</summary>
/// <summary><c>verifyImages[].validate</c>: a message and the compiled <c>deny.conditions</c>.</summary>
internal sealed class ValidationSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? Message { get; set; }

    /// <summary>The message parsed, when it has variables.</summary>
    public Conditions.KyvernoTemplate? MessageTemplate { get; set; }

    public EquatableArray<ConditionBlockModel>? Deny { get; set; }

    /// <summary>Something in the block was reported: the entry must not compile.</summary>
    public bool Invalid { get; set; }
}

internal sealed class AttestationSyntax
{
    public required LocationInfo Location { get; init; }

    public required int Index { get; init; }

    public Located<string>? Name { get; set; }

    public Located<string>? Type { get; set; }

    /// <summary>Deprecated spelling of <see cref="Type"/>.</summary>
    public Located<string>? PredicateType { get; set; }

    public List<AttestorSetSyntax> Attestors { get; } = [];

    /// <summary>The compiled <c>conditions</c>, already checked (their mistakes are reported by the parser).</summary>
    public EquatableArray<ConditionBlockModel>? Conditions { get; set; }

    /// <summary>The conditions had mistakes: the attestation must not compile.</summary>
    public bool ConditionsInvalid { get; set; }
}

internal sealed class AttestorSetSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<int>? Count { get; set; }

    public List<AttestorSyntax> Entries { get; } = [];

    public LocationInfo? EntriesLocation { get; set; }
}

internal sealed class AttestorSyntax
{
    public required LocationInfo Location { get; init; }

    public KeysSyntax? Keys { get; set; }

    public CertificatesSyntax? Certificates { get; set; }

    public KeylessSyntax? Keyless { get; set; }

    /// <summary>A nested attestor set (<c>attestor:</c>).</summary>
    public AttestorSetSyntax? Nested { get; set; }

    public Dictionary<string, Located<string>>? Annotations { get; set; }

    public Located<string>? Repository { get; set; }

    /// <summary>
    /// The entry's own <c>signatureAlgorithm</c> (Kyverno's v1 API has it beside <c>keys</c> since the release that
    /// deprecated <c>keys.signatureAlgorithm</c>); see <c>AttestorValidator</c> for what it does, which is nothing.
    /// </summary>
    public Located<string>? SignatureAlgorithm { get; set; }

    /// <summary>How many of keys, certificates, keyless and attestor the entry names (Kyverno wants exactly one).</summary>
    public int KindCount => (Keys is null ? 0 : 1) + (Certificates is null ? 0 : 1) + (Keyless is null ? 0 : 1) + (Nested is null ? 0 : 1);
}

internal sealed class KeysSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? PublicKeys { get; set; }

    public Located<string>? SignatureAlgorithm { get; set; }

    /// <summary><c>kms</c>: a cosign KMS key reference (<c>awskms://</c>, <c>gcpkms://</c>, <c>hashivault://</c>, <c>azurekms://</c>).</summary>
    public Located<string>? Kms { get; set; }

    /// <summary>The key comes from a variable (see <see cref="PublicKeysTemplate"/>).</summary>
    public bool IsOtherKeySource { get; set; }

    /// <summary><c>publicKeys</c> with variables, parsed; null when it has none or when its mistakes were reported.</summary>
    public Conditions.KyvernoTemplate? PublicKeysTemplate { get; set; }

    public string? PublicKeysText { get; set; }

    /// <summary><c>secret</c>: the Secret holding <c>cosign.pub</c>.</summary>
    public Located<string>? SecretName { get; set; }

    public Located<string>? SecretNamespace { get; set; }

    public LocationInfo? SecretLocation { get; set; }

    public RekorSyntax? Rekor { get; set; }

    public CtLogSyntax? CtLog { get; set; }
}

internal sealed class CertificatesSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? Cert { get; set; }

    public Located<string>? CertChain { get; set; }

    public RekorSyntax? Rekor { get; set; }

    public CtLogSyntax? CtLog { get; set; }

    /// <summary><c>cert</c> and <c>certChain</c> written with variables, by field name; substituted at admission.</summary>
    public Dictionary<string, Conditions.KyvernoTemplate> Templates { get; } = new(System.StringComparer.Ordinal);

    /// <summary>A field's variables did not parse (already reported).</summary>
    public bool HasTemplateError { get; set; }
}

internal sealed class KeylessSyntax
{
    public required LocationInfo Location { get; init; }

    public Located<string>? Subject { get; set; }

    public Located<string>? SubjectRegExp { get; set; }

    public Located<string>? Issuer { get; set; }

    public Located<string>? IssuerRegExp { get; set; }

    public Located<string>? Roots { get; set; }

    public Dictionary<string, Located<string>>? AdditionalExtensions { get; set; }

    /// <summary>Where <c>additionalExtensions</c> keys are, for diagnostics about unknown names.</summary>
    public Dictionary<string, LocationInfo> ExtensionKeyLocations { get; } = [];

    /// <summary><c>subject</c>, <c>issuer</c> and their regexes written with variables, by field name; substituted at admission.</summary>
    public Dictionary<string, Conditions.KyvernoTemplate> Templates { get; } = new(System.StringComparer.Ordinal);

    /// <summary>A field's variables did not parse (already reported).</summary>
    public bool HasTemplateError { get; set; }

    public RekorSyntax? Rekor { get; set; }

    public CtLogSyntax? CtLog { get; set; }
}

internal sealed class RekorSyntax
{
    public required LocationInfo Location { get; init; }

    /// <summary>The block's path in the policy (<c>spec.rules[0]…keyless.rekor</c>), for diagnostics about its fields.</summary>
    public string Path { get; init; } = string.Empty;

    public Located<string>? Url { get; set; }

    public Located<string>? PubKey { get; set; }

    public Located<bool>? IgnoreTlog { get; set; }

    /// <summary><c>url</c> and <c>pubkey</c> written with variables, keyed <c>rekor.url</c>, <c>rekor.pubkey</c>; substituted at admission.</summary>
    public Dictionary<string, Conditions.KyvernoTemplate> Templates { get; } = new(System.StringComparer.Ordinal);

    /// <summary>A field's variables did not parse (already reported).</summary>
    public bool HasTemplateError { get; set; }
}

internal sealed class CtLogSyntax
{
    public required LocationInfo Location { get; init; }

    /// <summary>The block's path in the policy (<c>spec.rules[0]…keyless.rekor</c>), for diagnostics about its fields.</summary>
    public string Path { get; init; } = string.Empty;

    public Located<bool>? IgnoreSct { get; set; }

    public Located<string>? PubKey { get; set; }

    /// <summary>PEM chain of the RFC 3161 timestamp authority whose tokens the signatures may carry.</summary>
    public Located<string>? TsaCertChain { get; set; }

    /// <summary><c>pubkey</c> and <c>tsaCertChain</c> written with variables, keyed <c>ctlog.pubkey</c>, <c>ctlog.tsaCertChain</c>.</summary>
    public Dictionary<string, Conditions.KyvernoTemplate> Templates { get; } = new(System.StringComparer.Ordinal);

    /// <summary>A field's variables did not parse (already reported).</summary>
    public bool HasTemplateError { get; set; }
}
