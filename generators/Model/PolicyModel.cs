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
    EquatableArray<RuleModel> Rules);

internal sealed record RuleModel(
    string Name,
    MatchModel Match,
    MatchModel? Exclude,
    EquatableArray<ImageVerificationModel> VerifyImages);

/// <summary>A match or exclude block: any of <see cref="Any"/> and all of <see cref="All"/>.</summary>
internal sealed record MatchModel(EquatableArray<ResourceFilterModel> Any, EquatableArray<ResourceFilterModel> All);

internal sealed record ResourceFilterModel(
    EquatableArray<KindSelectorModel> Kinds,
    EquatableArray<string> Names,
    EquatableArray<string> Namespaces,
    EquatableArray<string> Operations);

/// <summary>A kind as Kyverno writes it, split: <c>apps/v1/Deployment</c>, <c>Pod/ephemeralcontainers</c>.</summary>
internal sealed record KindSelectorModel(string? Group, string? Version, string Kind, string? SubResource, string Text);

internal sealed record ImageVerificationModel(
    int Index,
    EquatableArray<string> ImageReferences,
    EquatableArray<AttestorSetModel> Attestors,
    bool MutateDigest,
    bool VerifyDigest,
    bool Required,
    string? Repository);

internal sealed record AttestorSetModel(string Path, int? Count, EquatableArray<AttestorModel> Entries);

internal sealed record AttestorModel(string Path, PublicKeyModel Key);

/// <summary>A public key checked at build time: the runtime only imports it.</summary>
internal sealed record PublicKeyModel(string Algorithm, string SubjectPublicKeyInfoBase64, string Hash, string Fingerprint);

/// <summary>What one policy file yields: its policies and its diagnostics.</summary>
internal sealed record PolicyFileResult(string Path, EquatableArray<PolicyModel> Policies, EquatableArray<DiagnosticInfo> Diagnostics);
