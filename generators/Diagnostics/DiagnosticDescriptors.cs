using Microsoft.CodeAnalysis;

namespace PolicyCompiler.Generators.Diagnostics;

/// <summary>
/// Every mistake a policy can contain, with a stable ID. The catalogue with examples and fixes is
/// generators/DIAGNOSTICS.md; the release tracking files list the same IDs.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "PolicyCompiler";

    public static readonly DiagnosticDescriptor InvalidYaml = Error(
        "PC0001",
        "Policy file is not valid YAML",
        "The policy file is not valid YAML: {0}. Fix the syntax at this position (indentation, quoting, or a missing ':').");

    public static readonly DiagnosticDescriptor UnknownField = Error(
        "PC0002",
        "Unknown field in policy",
        "'{0}' is not a field of {1}. Valid fields are: {2}.");

    public static readonly DiagnosticDescriptor WrongType = Error(
        "PC0003",
        "Policy field has the wrong type",
        "'{0}' must be {1}, but here it is {2}. Write {3}.");

    public static readonly DiagnosticDescriptor MissingField = Error(
        "PC0004",
        "Required policy field is missing",
        "{0} requires '{1}'. Add it, for example: {2}");

    public static readonly DiagnosticDescriptor UnsupportedDocument = Error(
        "PC0005",
        "Not a Kyverno policy",
        "This document is '{0}', not a Kyverno policy. Write 'apiVersion: kyverno.io/v1' with 'kind: ClusterPolicy' or 'kind: Policy'.");

    public static readonly DiagnosticDescriptor InvalidPublicKey = Error(
        "PC0006",
        "Public key cannot be used",
        "The public key {0} cannot be used: {1}. Paste a PEM 'PUBLIC KEY' block (ECDSA P-256/P-384/P-521 or RSA of at least 2048 bits), e.g. the cosign.pub written by 'cosign generate-key-pair'.");

    public static readonly DiagnosticDescriptor EmptyImageReferences = Error(
        "PC0007",
        "verifyImages entry has no image references",
        "This verifyImages entry matches no image: 'imageReferences' is empty. List at least one pattern, e.g. imageReferences: [\"ghcr.io/myorg/*\"].");

    public static readonly DiagnosticDescriptor CountExceedsEntries = Error(
        "PC0008",
        "Attestor count is larger than the number of entries",
        "'count' is {0} but the attestor set has only {1} entr{2}, so no image could ever pass. Lower 'count' or add entries.");

    public static readonly DiagnosticDescriptor InvalidPattern = Error(
        "PC0009",
        "Invalid wildcard pattern",
        "'{0}' is not a usable pattern: {1}. Use '*' for any run of characters and '?' for one character.");

    public static readonly DiagnosticDescriptor InvalidEnumValue = Error(
        "PC0010",
        "Invalid value",
        "'{0}' is not a valid value for '{1}'. Use one of: {2}.");

    public static readonly DiagnosticDescriptor TimeoutOutOfRange = Error(
        "PC0011",
        "webhook timeout out of range",
        "{0} is {1}; the Kubernetes API server accepts 1 to 30 seconds. Use a value in that range.");

    public static readonly DiagnosticDescriptor DuplicateRuleName = Error(
        "PC0012",
        "Duplicate rule name",
        "Rule name '{0}' is used twice in policy '{1}'. Give every rule of a policy its own name.");

    public static readonly DiagnosticDescriptor DuplicatePolicyName = Error(
        "PC0013",
        "Duplicate policy",
        "{0} '{1}' is defined more than once (also in {2}). Rename one of them or delete the copy.");

    public static readonly DiagnosticDescriptor InvalidKindSelector = Error(
        "PC0014",
        "Invalid resource kind",
        "'{0}' is not a resource kind selector: {1}. Write 'Kind', 'version/Kind', 'group/version/Kind' or 'Kind/subresource'.");

    public static readonly DiagnosticDescriptor InvalidName = Error(
        "PC0015",
        "Invalid name",
        "'{0}' is not a valid {1}: {2}.");

    public static readonly DiagnosticDescriptor EmptyList = Error(
        "PC0016",
        "List must not be empty",
        "'{0}' is empty. {1}");

    public static readonly DiagnosticDescriptor KeylessWithoutIdentity = Error(
        "PC0017",
        "Keyless attestor names no identity",
        "This keyless attestor would accept a signature from anyone who can obtain a Fulcio certificate. Add subject or subjectRegExp, and issuer or issuerRegExp (e.g. subject: \"https://github.com/org/repo/.github/workflows/release.yml@refs/tags/*\", issuer: \"https://token.actions.githubusercontent.com\").");

    public static readonly DiagnosticDescriptor InvalidCertificate = Error(
        "PC0018",
        "Certificate cannot be used",
        "The certificate in '{0}' cannot be used: {1}. Paste the PEM 'CERTIFICATE' blocks (the signing certificate for cert, the CA certificates down from the root for certChain and roots).");

    public static readonly DiagnosticDescriptor InvalidRegex = Error(
        "PC0019",
        "Invalid regular expression",
        "'{0}' is not a valid regular expression: {1}. Escape '.', '?', '+', '(' and '[' with '\\' where they are meant literally.");

    public static readonly DiagnosticDescriptor AttestorKind = Error(
        "PC0020",
        "Attestor entry must name exactly one kind",
        "This attestor entry names {0}. Give exactly one of keys, certificates, keyless or attestor.");

    public static readonly DiagnosticDescriptor PrivateRekorWithoutKey = Error(
        "PC0021",
        "Private Rekor without its public key",
        "rekor.url '{0}' is not the public Rekor, and PolicyCompiler verifies log entries offline. Add rekor.pubkey with that log's PEM public key, or set rekor.ignoreTlog: true.");

    public static readonly DiagnosticDescriptor InvalidAutogenControllers = Error(
        "PC0022",
        "Invalid auto-generation annotation",
        "'{0}' is not a valid value for pod-policies.kyverno.io/autogen-controllers: {1}. Write 'none' or a comma-separated list of DaemonSet, Deployment, Job, StatefulSet, ReplicaSet, ReplicationController, CronJob.");

    public static readonly DiagnosticDescriptor InvalidExpression = Error(
        "PC0023",
        "Invalid variable or JMESPath expression",
        "'{0}' has an invalid variable: {1}");

    public static readonly DiagnosticDescriptor ConflictingSettings = Error(
        "PC0024",
        "Settings that cannot be combined",
        "'{0}' cannot be combined with '{1}': {2}.");

    public static readonly DiagnosticDescriptor ContextSource = Error(
        "PC0025",
        "Context entry must name exactly one source",
        "'{0}' names {1}. Give exactly one of variable, configMap, apiCall or globalReference.");

    public static readonly DiagnosticDescriptor DuplicateContextName = Error(
        "PC0026",
        "Duplicate context entry name",
        "Context entry '{0}' is defined twice in this rule. Give every entry of a rule's context its own name.");

    public static readonly DiagnosticDescriptor InvalidUrl = Error(
        "PC0027",
        "Invalid service URL",
        "'{0}' cannot be used as '{1}': {2}. Write an absolute http:// or https:// URL, e.g. https://scanner.security.svc/check.");

    public static readonly DiagnosticDescriptor InvalidMatchConditions = Error(
        "PC0028",
        "Webhook match conditions the API server refuses",
        "{0}; the Kubernetes API server refuses such a webhook configuration. {1}");

    public static readonly DiagnosticDescriptor NotSupported = Error(
        "PC0099",
        "Kyverno field not supported",
        "'{0}' is valid Kyverno but PolicyCompiler does not compile it ({1}). Remove it, or keep this policy out of the build.");

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: null, customTags: WellKnownDiagnosticTags.NotConfigurable);
}
