using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using PolicyCompiler.Generators.Cel;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Parsing;
using PolicyCompiler.Generators.Yaml;

namespace PolicyCompiler.Generators.Validation;

/// <summary>
/// Gives the parsed policy its meaning: applies Kyverno's defaults and conversions, checks every value, and
/// produces the model the emitter compiles. Anything wrong is a diagnostic; a policy with errors yields no model.
/// </summary>
internal static class PolicyValidator
{
    private static readonly string[] s_operations = ["CREATE", "UPDATE", "DELETE", "CONNECT"];
    private static readonly string[] s_selectorOperators = ["In", "NotIn", "Exists", "DoesNotExist"];
    private static readonly string[] s_subjectKinds = ["User", "Group", "ServiceAccount"];
    private static readonly string[] s_hashes = ["sha224", "sha256", "sha384", "sha512"];

    /// <summary>The API server's limit on <c>matchConditions</c> per webhook.</summary>
    private const int MaxMatchConditions = 64;

    private static readonly Regex s_dnsSubdomain = new("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\z", RegexOptions.CultureInvariant);
    private static readonly Regex s_qualifiedNamePart = new("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\\z", RegexOptions.CultureInvariant);
    private static readonly Regex s_version = new("^v[0-9]+((alpha|beta)[0-9]+)?$", RegexOptions.CultureInvariant);

    public static PolicyModel? Validate(PolicySyntax syntax, YamlFile file, string sourcePath)
    {
        var errorsBefore = file.Diagnostics.Count;

        var kind = ValidateHeader(syntax, file);
        var name = ValidateName(syntax, file);
        var @namespace = ValidateNamespace(syntax, file, kind);

        if (syntax.Spec is not { } spec)
        {
            file.Report(DiagnosticDescriptors.MissingField, syntax.Location, "A Kyverno policy", "spec", "spec: { rules: [...] }");
            return null;
        }

        var failureAction = "Audit";
        if (spec.ValidationFailureAction is { } action)
        {
            switch (action.Value.ToLowerInvariant())
            {
                case "enforce": failureAction = "Enforce"; break;
                case "audit": failureAction = "Audit"; break;
                default: file.Report(DiagnosticDescriptors.InvalidEnumValue, action.Location, action.Value, "validationFailureAction", "Enforce, Audit"); break;
            }
        }

        // webhookConfiguration's values win over the older spec-level fields, as Kyverno's Spec getters have it; both
        // are checked, as the API server's schema checks both.
        var failurePolicy = "Fail";
        foreach (var (policy, field) in new[] { (spec.FailurePolicy, "failurePolicy"), (spec.WebhookFailurePolicy, "webhookConfiguration.failurePolicy") })
        {
            if (policy is null)
            {
                continue;
            }

            if (policy.Value is "Fail" or "Ignore")
            {
                failurePolicy = policy.Value;
            }
            else
            {
                file.Report(DiagnosticDescriptors.InvalidEnumValue, policy.Location, policy.Value, field, "Fail, Ignore");
            }
        }

        // The CRD declares the field as an enum (All;One), which the API server compares exactly, unlike
        // validationFailureAction's list of spellings: "one" would never reach Kyverno.
        var applyOne = false;
        if (spec.ApplyRules is { } applyRules)
        {
            if (applyRules.Value is "All" or "One")
            {
                applyOne = applyRules.Value == "One";
            }
            else
            {
                file.Report(DiagnosticDescriptors.InvalidEnumValue, applyRules.Location, applyRules.Value, "applyRules", "All, One");
            }
        }

        var overrides = new List<FailureActionOverrideModel>();
        foreach (var item in spec.FailureActionOverrides)
        {
            if (ValidateOverride(item, file) is { } model)
            {
                overrides.Add(model);
            }
        }

        var timeout = 10;
        foreach (var (seconds, field) in new[] { (spec.WebhookTimeoutSeconds, "webhookTimeoutSeconds"), (spec.WebhookConfigurationTimeoutSeconds, "webhookConfiguration.timeoutSeconds") })
        {
            if (seconds is null)
            {
                continue;
            }

            if (seconds.Value is < 1 or > 30)
            {
                file.Report(DiagnosticDescriptors.TimeoutOutOfRange, seconds.Location, field, seconds.Value.ToString(CultureInfo.InvariantCulture));
            }
            else
            {
                timeout = seconds.Value;
            }
        }

        var matchConditions = ValidateMatchConditions(spec, file);

        var rules = new List<RuleModel>();
        if (spec.Rules is null || spec.Rules.Count == 0)
        {
            file.Report(spec.Rules is null ? DiagnosticDescriptors.MissingField : DiagnosticDescriptors.EmptyList, spec.RulesLocation ?? spec.Location, spec.Rules is null ? "spec" : "spec.rules", spec.Rules is null ? "rules" : "A policy needs at least one rule.", "rules: [{ name: check-image, match: ..., verifyImages: ... }]");
        }
        else
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var rule in spec.Rules)
            {
                if (rule.Name is { } ruleName && !names.Add(ruleName.Value))
                {
                    file.Report(DiagnosticDescriptors.DuplicateRuleName, ruleName.Location, ruleName.Value, name ?? "?");
                }

                if (ValidateRule(rule, file) is { } model)
                {
                    rules.Add(model);
                }
            }
        }

        var controllers = Autogen.Controllers(syntax.Annotations, file);
        if (file.Diagnostics.Count > errorsBefore || kind is null || name is null || controllers is null)
        {
            return null;
        }

        rules = Autogen.Expand(rules, controllers);

        var className = CSharp.Identifier(@namespace is null ? name : @namespace + "-" + name) + "Policy";
        return new PolicyModel(kind, name, @namespace, className, sourcePath, failureAction, failurePolicy, timeout, syntax.Spec.Background?.Value ?? true, rules.ToEquatableArray())
        {
            FailureActionOverrides = overrides.ToEquatableArray(),
            ApplyOne = applyOne,
            MatchConditions = matchConditions.ToEquatableArray(),
        };
    }

    /// <summary>
    /// The checks the API server makes of a webhook's <c>matchConditions</c> (admissionregistration/v1): at most 64, each
    /// with a qualified name of its own and an expression that parses as CEL and names only the variables the API server
    /// declares. Types and functions are checked by the API server when the configuration is applied.
    /// </summary>
    private static List<MatchConditionModel> ValidateMatchConditions(SpecSyntax spec, YamlFile file)
    {
        var result = new List<MatchConditionModel>();
        if (spec.MatchConditions is not { } conditions)
        {
            return result;
        }

        if (conditions.Count > MaxMatchConditions)
        {
            file.Report(
                DiagnosticDescriptors.InvalidMatchConditions,
                spec.MatchConditionsLocation ?? spec.Location,
                $"webhookConfiguration.matchConditions has {conditions.Count.ToString(CultureInfo.InvariantCulture)} entries, more than {MaxMatchConditions.ToString(CultureInfo.InvariantCulture)}",
                "Combine conditions with && in one expression.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var condition in conditions)
        {
            var ok = true;
            if (condition.Name is not { } name)
            {
                file.Report(DiagnosticDescriptors.MissingField, condition.Location, "A webhookConfiguration.matchConditions entry", "name", "name: not-kube-system");
                ok = false;
            }
            else if (QualifiedNameError(name.Value) is { } error)
            {
                file.Report(DiagnosticDescriptors.InvalidName, name.Location, name.Value, "match condition name", error);
                ok = false;
            }
            else if (!names.Add(name.Value))
            {
                file.Report(DiagnosticDescriptors.InvalidMatchConditions, name.Location, $"match condition name '{name.Value}' is used twice", "Give every match condition of a policy its own name.");
                ok = false;
            }

            if (condition.Expression is not { } expression || expression.Value.Trim().Length == 0)
            {
                file.Report(DiagnosticDescriptors.MissingField, condition.Expression?.Location ?? condition.Location, "A webhookConfiguration.matchConditions entry", "expression", "expression: \"request.namespace != 'kube-system'\" (CEL, evaluated by the API server)");
                ok = false;
            }
            else if (CelSyntax.Check(expression.Value, CelSyntax.WebhookVariables) is { } cel)
            {
                var at = ConditionParser.LocateInside(file, expression.Location, null, expression.Value, cel.Start, cel.Length);
                file.Report(
                    DiagnosticDescriptors.InvalidMatchConditions,
                    at,
                    condition.Name is { } named ? $"match condition '{named.Value}': {cel.Message}" : $"match condition: {cel.Message}",
                    "Fix the expression (CEL: https://kubernetes.io/docs/reference/using-api/cel/).");
                ok = false;
            }

            if (ok)
            {
                result.Add(new MatchConditionModel(condition.Name!.Value, condition.Expression!.Value));
            }
        }

        return result;
    }

    /// <summary>
    /// Kubernetes' qualified name (as for label keys): an optional DNS subdomain prefix and '/', then a name of 1 to 63
    /// characters from letters, digits, '-', '_' and '.', starting and ending with a letter or digit.
    /// </summary>
    private static string? QualifiedNameError(string value)
    {
        var parts = value.Split('/');
        if (parts.Length > 2)
        {
            return "a qualified name has at most one '/', between an optional DNS prefix and the name, e.g. example.com/not-kube-system";
        }

        var local = parts[parts.Length - 1];
        if (parts.Length == 2)
        {
            if (parts[0].Length == 0)
            {
                return "the prefix before '/' is empty; write 'example.com/name' or just 'name'";
            }

            if (parts[0].Length > 253 || !s_dnsSubdomain.IsMatch(parts[0]))
            {
                return $"the prefix '{parts[0]}' is not a DNS subdomain (lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit, at most 253 characters)";
            }
        }

        if (local.Length == 0 || local.Length > 63)
        {
            return "the name must have 1 to 63 characters";
        }

        if (!s_qualifiedNamePart.IsMatch(local))
        {
            return "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
        }

        return null;
    }


    /// <summary>
    /// An override's action takes the spellings of <c>validationFailureAction</c> (Kyverno's enum: audit, enforce, Audit,
    /// Enforce); one without an action is skipped by Kyverno, which would leave it there doing nothing.
    /// </summary>
    private static FailureActionOverrideModel? ValidateOverride(FailureActionOverrideSyntax item, YamlFile file)
    {
        var ok = true;
        string? action = null;
        if (item.Action is not { } written)
        {
            file.Report(DiagnosticDescriptors.MissingField, item.Location, "A validationFailureActionOverrides entry", "action", "action: Enforce");
            ok = false;
        }
        else if (written.Value is "Enforce" or "enforce" or "Audit" or "audit")
        {
            action = written.Value.StartsWith("E", StringComparison.OrdinalIgnoreCase) ? "Enforce" : "Audit";
        }
        else
        {
            file.Report(DiagnosticDescriptors.InvalidEnumValue, written.Location, written.Value, "action", "Enforce, Audit");
            ok = false;
        }

        foreach (var pattern in item.Namespaces ?? [])
        {
            ok &= CheckPattern(pattern, file);
        }

        var selector = ValidateSelector(item.NamespaceSelector, file, ref ok);
        return ok
            ? new FailureActionOverrideModel(action!, item.Namespaces is not null, (item.Namespaces ?? []).Select(n => n.Value).ToEquatableArray(), selector)
            : null;
    }

    private static string? ValidateHeader(PolicySyntax syntax, YamlFile file)
    {
        if (syntax.ApiVersion is null || syntax.Kind is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, syntax.Location, "A Kyverno policy", syntax.ApiVersion is null ? "apiVersion" : "kind", "apiVersion: kyverno.io/v1 and kind: ClusterPolicy");
            return null;
        }

        if (syntax.ApiVersion.Value != "kyverno.io/v1" || syntax.Kind.Value is not ("ClusterPolicy" or "Policy"))
        {
            var location = syntax.ApiVersion.Value != "kyverno.io/v1" ? syntax.ApiVersion.Location : syntax.Kind.Location;
            file.Report(DiagnosticDescriptors.UnsupportedDocument, location, $"{syntax.ApiVersion.Value}/{syntax.Kind.Value}");
            return null;
        }

        return syntax.Kind.Value;
    }

    private static string? ValidateName(PolicySyntax syntax, YamlFile file)
    {
        if (syntax.Name is not { } name)
        {
            file.Report(DiagnosticDescriptors.MissingField, syntax.Location, "A Kyverno policy", "metadata.name", "metadata: { name: check-images }");
            return null;
        }

        if (DnsError(name.Value, 253, allowDots: true) is { } error)
        {
            file.Report(DiagnosticDescriptors.InvalidName, name.Location, name.Value, "policy name", error);
            return null;
        }

        return name.Value;
    }

    private static string? ValidateNamespace(PolicySyntax syntax, YamlFile file, string? kind)
    {
        if (kind == "ClusterPolicy")
        {
            if (syntax.Namespace is { } clusterNamespace)
            {
                file.Report(DiagnosticDescriptors.InvalidName, clusterNamespace.Location, clusterNamespace.Value, "field here", "a ClusterPolicy is cluster-scoped and has no namespace; remove metadata.namespace or use kind: Policy");
            }

            return null;
        }

        if (kind == "Policy")
        {
            if (syntax.Namespace is not { } ns)
            {
                file.Report(DiagnosticDescriptors.MissingField, syntax.Location, "A namespaced Policy", "metadata.namespace", "metadata: { namespace: team-a } (compiled policies have no kubectl context to take it from)");
                return null;
            }

            if (DnsError(ns.Value, 63, allowDots: false) is { } error)
            {
                file.Report(DiagnosticDescriptors.InvalidName, ns.Location, ns.Value, "namespace", error);
                return null;
            }

            return ns.Value;
        }

        return null;
    }

    private static RuleModel? ValidateRule(RuleSyntax rule, YamlFile file)
    {
        var ok = true;
        if (rule.Name is not { } name)
        {
            file.Report(DiagnosticDescriptors.MissingField, rule.Location, $"'{rule.Path}'", "name", "name: check-image");
            ok = false;
        }
        else if (name.Value.Length is 0 or > 63)
        {
            file.Report(DiagnosticDescriptors.InvalidName, name.Location, name.Value, "rule name", "a rule name has 1 to 63 characters");
            ok = false;
        }

        MatchModel? match = null;
        if (rule.Match is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, rule.Location, $"'{rule.Path}'", "match", "match: { any: [ { resources: { kinds: [Pod] } } ] }");
            ok = false;
        }
        else
        {
            match = ValidateMatch(rule.Match, file, requireKinds: true);
        }

        var exclude = rule.Exclude is null ? null : ValidateMatch(rule.Exclude, file, requireKinds: false);

        if (rule.VerifyImages.Count == 0)
        {
            // A rule of another type has its PC0099 already; asking for verifyImages on top would only add noise.
            if (!rule.IsOtherRuleType)
            {
                file.Report(DiagnosticDescriptors.MissingField, rule.Location, $"'{rule.Path}'", "verifyImages", "verifyImages: [ { imageReferences: [\"ghcr.io/org/*\"], attestors: [...] } ]");
            }

            ok = false;
        }

        var verifyImages = new List<ImageVerificationModel>();
        string? ruleAction = null;
        foreach (var entry in rule.VerifyImages)
        {
            // Kyverno's CRD admits exactly Audit and Enforce here (not the lower-case spellings of validationFailureAction).
            // Its engine reads one action per rule: Enforce if any entry enforces, else the first entry's Audit.
            if (entry.FailureAction is { } entryAction)
            {
                if (entryAction.Value is "Enforce" or "Audit")
                {
                    ruleAction = ruleAction == "Enforce" ? ruleAction : entryAction.Value;
                }
                else
                {
                    file.Report(DiagnosticDescriptors.InvalidEnumValue, entryAction.Location, entryAction.Value, "failureAction", "Enforce, Audit");
                    ok = false;
                }
            }


            if (ValidateVerifyImage(entry, file) is { } model)
            {
                verifyImages.Add(model);
            }
            else
            {
                ok = false;
            }
        }

        var extractors = new List<ImageExtractorModel>();
        foreach (var extractor in rule.ImageExtractors)
        {
            if (ValidateExtractor(extractor, file) is { } model)
            {
                extractors.Add(model);
            }
            else
            {
                ok = false;
            }
        }

        // A digest patch would replace the whole field with the bare reference, losing what jmesPath stripped.
        if (rule.ImageExtractors.FirstOrDefault(e => e.JmesPath is not null) is { JmesPath: { } transformed } && verifyImages.Any(v => v.MutateDigest))
        {
            file.Report(DiagnosticDescriptors.ConflictingSettings, transformed.Location, "jmesPath", "mutateDigest", "a digest patch would overwrite the field with the bare image reference. Set mutateDigest: false on the rule's verifyImages entries (Kyverno does not patch such images either)");
            ok = false;
        }

        ok &= !rule.PreconditionsInvalid && !rule.ContextInvalid;
        return ok && match is not null
            ? new RuleModel(rule.Name!.Value, match, exclude, verifyImages.ToEquatableArray())
            {
                ImageExtractors = extractors.ToEquatableArray(),
                Preconditions = rule.Preconditions ?? EquatableArray<ConditionBlockModel>.Empty,
                Context = rule.Context ?? EquatableArray<ContextEntryModel>.Empty,
                FailureAction = ruleAction,
            }
            : null;
    }

    /// <summary>
    /// An extractor names a kind and a JSON path (segments separated by '/', '*' for every item) to objects holding
    /// the image in <c>value</c> (default <c>image</c>) and, optionally, a name in <c>key</c>.
    /// </summary>
    private static ImageExtractorModel? ValidateExtractor(ImageExtractorSyntax extractor, YamlFile file)
    {
        var ok = true;
        if (ParseKind(extractor.Kind.Value, out _) is not { Group: null, Version: null, SubResource: null } || extractor.Kind.Value.Contains('*'))
        {
            file.Report(DiagnosticDescriptors.InvalidKindSelector, extractor.Kind.Location, extractor.Kind.Value, "imageExtractors are keyed by a plain kind name such as TaskRun");
            ok = false;
        }

        string[] segments = [];
        if (extractor.Path is not { } path)
        {
            file.Report(DiagnosticDescriptors.MissingField, extractor.Location, "An image extractor", "path", "path: /spec/steps/*");
            ok = false;
        }
        else
        {
            segments = path.Value.Trim('/').Split('/');
            if (!path.Value.StartsWith("/", StringComparison.Ordinal) || segments.Any(s => s.Length == 0))
            {
                file.Report(DiagnosticDescriptors.InvalidPattern, path.Location, path.Value, "an extractor path starts with '/' and names one field or '*' per segment, e.g. /spec/steps/*");
                ok = false;
            }
        }

        foreach (var field in new[] { extractor.Value, extractor.Key, extractor.Name })
        {
            if (field is not null && (field.Value.Length == 0 || field.Value.Contains('/')))
            {
                file.Report(DiagnosticDescriptors.InvalidName, field.Location, field.Value, "extractor field", "name a single field, without '/'");
                ok = false;
            }
        }

        Conditions.JmesNode? jmesPath = null;
        if (extractor.JmesPath is { } expression)
        {
            jmesPath = Parsing.ConditionParser.ParseExpression(file, expression, "imageExtractors." + extractor.Kind.Value + ".jmesPath");
            ok &= jmesPath is not null;
        }

        return ok
            ? new ImageExtractorModel(
                extractor.Kind.Value,
                extractor.Name?.Value ?? "custom",
                segments.Select(s => s.Replace("~1", "/").Replace("~0", "~")).ToEquatableArray(),
                extractor.Value?.Value ?? "image",
                extractor.Key?.Value)
            {
                JmesPath = jmesPath,
                JmesPathText = extractor.JmesPath?.Value,
            }
            : null;
    }

    private static MatchModel? ValidateMatch(MatchSyntax match, YamlFile file, bool requireKinds)
    {
        var any = new List<ResourceFilterModel>();
        var all = new List<ResourceFilterModel>();
        var ok = true;

        if (match.Resources is not null && (match.Any.Count > 0 || match.All.Count > 0))
        {
            file.Report(DiagnosticDescriptors.InvalidName, match.Location, match.Path, "block", "write either 'resources' or 'any'/'all', not both");
            return null;
        }

        // Kyverno rejects 'any' and 'all' in one block ("Can't specify any and all together").
        if (match.Any.Count > 0 && match.All.Count > 0)
        {
            file.Report(DiagnosticDescriptors.InvalidName, match.Location, match.Path, "block", "write either 'any' or 'all', not both; Kyverno rejects them together");
            return null;
        }

        if (match.Resources is null && match.Any.Count == 0 && match.All.Count == 0)
        {
            file.Report(DiagnosticDescriptors.MissingField, match.Location, $"'{match.Path}'", "any", "any: [ { resources: { kinds: [Pod] } } ]");
            return null;
        }

        foreach (var filter in match.Resources is null ? match.Any : [match.Resources])
        {
            ok &= Add(ValidateFilter(filter, file, requireKinds), any);
        }

        foreach (var filter in match.All)
        {
            ok &= Add(ValidateFilter(filter, file, requireKinds), all);
        }

        return ok ? new MatchModel(any.ToEquatableArray(), all.ToEquatableArray()) : null;

        static bool Add(ResourceFilterModel? model, List<ResourceFilterModel> target)
        {
            if (model is null)
            {
                return false;
            }

            target.Add(model);
            return true;
        }
    }

    private static readonly char[] s_roleWildcards = ['*', '?'];

    private static ResourceFilterModel? ValidateFilter(FilterSyntax filter, YamlFile file, bool requireKinds)
    {
        var ok = true;
        if (requireKinds && filter.Kinds.Count == 0)
        {
            file.Report(DiagnosticDescriptors.MissingField, filter.Location, "A match filter", "resources.kinds", "resources: { kinds: [Pod] }");
            ok = false;
        }

        var kinds = new List<KindSelectorModel>();
        foreach (var kind in filter.Kinds)
        {
            if (ParseKind(kind.Value, out var error) is { } selector)
            {
                kinds.Add(selector);
            }
            else
            {
                file.Report(DiagnosticDescriptors.InvalidKindSelector, kind.Location, kind.Value, error!);
                ok = false;
            }
        }

        foreach (var pattern in filter.Names.Concat(filter.Namespaces))
        {
            ok &= CheckPattern(pattern, file);
        }

        var operations = new List<string>();
        foreach (var operation in filter.Operations)
        {
            if (Array.IndexOf(s_operations, operation.Value) < 0)
            {
                file.Report(DiagnosticDescriptors.InvalidEnumValue, operation.Location, operation.Value, "operations", string.Join(", ", s_operations));
                ok = false;
            }
            else
            {
                operations.Add(operation.Value);
            }
        }

        var annotations = new List<KeyValueModel>();
        foreach (var pair in filter.Annotations ?? [])
        {
            if (pair.Key.Length == 0 || pair.Key.Contains("{{") || pair.Value.Value.Contains("{{"))
            {
                file.Report(DiagnosticDescriptors.InvalidPattern, pair.Value.Location, $"{pair.Key}: {pair.Value.Value}", "annotation keys must not be empty, and variables are not allowed in match filters");
                ok = false;
            }
            else
            {
                annotations.Add(new KeyValueModel(pair.Key, pair.Value.Value));
            }
        }

        var labelSelector = ValidateSelector(filter.Selector, file, ref ok);
        var namespaceSelector = ValidateSelector(filter.NamespaceSelector, file, ref ok);
        var subjects = new List<SubjectModel>();
        foreach (var subject in filter.Subjects)
        {
            if (ValidateSubject(subject, file) is { } model)
            {
                subjects.Add(model);
            }
            else
            {
                ok = false;
            }
        }

        // Kyverno compares roles as plain strings with the ones it derives from bindings ("namespace:role" for a
        // RoleBinding to a Role, the bare name for a ClusterRole): a wildcard or a role without its namespace is taken
        // literally and never matches, so both are mistakes worth a build error.
        foreach (var role in filter.Roles)
        {
            var colon = role.Value.IndexOf(':');
            if (colon <= 0 || colon == role.Value.Length - 1 || role.Value.IndexOfAny(s_roleWildcards) >= 0)
            {
                file.Report(DiagnosticDescriptors.InvalidName, role.Location, role.Value, "role", "a role is written namespace:name (the RoleBinding's namespace and the Role's name) and compared exactly, without wildcards");
                ok = false;
            }
        }

        foreach (var clusterRole in filter.ClusterRoles)
        {
            if (clusterRole.Value.Length == 0 || clusterRole.Value.IndexOfAny(s_roleWildcards) >= 0)
            {
                file.Report(DiagnosticDescriptors.InvalidName, clusterRole.Location, clusterRole.Value, "cluster role", "a cluster role is a ClusterRole's name, compared exactly, without wildcards");
                ok = false;
            }
        }

        return ok
            ? new ResourceFilterModel(
                kinds.ToEquatableArray(),
                filter.Names.Select(n => n.Value).ToEquatableArray(),
                filter.Namespaces.Select(n => n.Value).ToEquatableArray(),
                operations.ToEquatableArray())
            {
                Annotations = annotations.ToEquatableArray(),
                Selector = labelSelector,
                NamespaceSelector = namespaceSelector,
                Subjects = subjects.ToEquatableArray(),
                Roles = filter.Roles.Select(r => r.Value).ToEquatableArray(),
                ClusterRoles = filter.ClusterRoles.Select(r => r.Value).ToEquatableArray(),
            }
            : null;
    }

    private static LabelSelectorModel? ValidateSelector(LabelSelectorSyntax? selector, YamlFile file, ref bool ok)
    {
        if (selector is null)
        {
            return null;
        }

        var labels = new List<KeyValueModel>();
        foreach (var pair in selector.MatchLabels)
        {
            if (pair.Key.Length == 0)
            {
                file.Report(DiagnosticDescriptors.InvalidName, pair.Value.Location, $"{selector.Path}.matchLabels", "label key", "it is empty");
                ok = false;
            }
            else if (pair.Value.Value.Length > 0 && !CheckPattern(pair.Value, file))
            {
                ok = false;
            }
            else
            {
                labels.Add(new KeyValueModel(pair.Key, pair.Value.Value));
            }
        }

        var expressions = new List<LabelRequirementModel>();
        foreach (var requirement in selector.Expressions)
        {
            if (requirement.Key is not { Value.Length: > 0 } key)
            {
                file.Report(DiagnosticDescriptors.MissingField, requirement.Location, $"'{requirement.Path}'", "key", "key: app.kubernetes.io/name");
                ok = false;
                continue;
            }

            if (requirement.Operator is not { } op || Array.IndexOf(s_selectorOperators, op.Value) < 0)
            {
                if (requirement.Operator is { } wrong)
                {
                    file.Report(DiagnosticDescriptors.InvalidEnumValue, wrong.Location, wrong.Value, "operator", string.Join(", ", s_selectorOperators));
                }
                else
                {
                    file.Report(DiagnosticDescriptors.MissingField, requirement.Location, $"'{requirement.Path}'", "operator", "operator: In");
                }

                ok = false;
                continue;
            }

            // The API server's own rule for LabelSelectorRequirement: In/NotIn need values, Exists/DoesNotExist take none.
            var needsValues = op.Value is "In" or "NotIn";
            if (needsValues != (requirement.Values.Count > 0))
            {
                file.Report(DiagnosticDescriptors.InvalidName, op.Location, $"{requirement.Path}.values", "list here", needsValues ? $"operator {op.Value} needs at least one value" : $"operator {op.Value} takes no values");
                ok = false;
                continue;
            }

            expressions.Add(new LabelRequirementModel(key.Value, op.Value, requirement.Values.Select(v => v.Value).ToEquatableArray()));
        }

        return new LabelSelectorModel(labels.ToEquatableArray(), expressions.ToEquatableArray());
    }

    private static SubjectModel? ValidateSubject(SubjectSyntax subject, YamlFile file)
    {
        if (subject.Kind is not { } kind || Array.IndexOf(s_subjectKinds, kind.Value) < 0)
        {
            if (subject.Kind is { } wrong)
            {
                file.Report(DiagnosticDescriptors.InvalidEnumValue, wrong.Location, wrong.Value, "kind", string.Join(", ", s_subjectKinds));
            }
            else
            {
                file.Report(DiagnosticDescriptors.MissingField, subject.Location, $"'{subject.Path}'", "kind", "kind: User");
            }

            return null;
        }

        if (subject.Name is not { Value.Length: > 0 } name)
        {
            file.Report(DiagnosticDescriptors.MissingField, subject.Location, $"'{subject.Path}'", "name", kind.Value == "Group" ? "name: system:masters" : "name: alice@example.com");
            return null;
        }

        if (kind.Value == "ServiceAccount" && subject.Namespace is not { Value.Length: > 0 })
        {
            file.Report(DiagnosticDescriptors.MissingField, subject.Location, $"'{subject.Path}'", "namespace", "namespace: kube-system");
            return null;
        }

        if (kind.Value != "ServiceAccount" && subject.Namespace is { } stray)
        {
            file.Report(DiagnosticDescriptors.InvalidName, stray.Location, $"{subject.Path}.namespace", "field here", "only a ServiceAccount subject has a namespace");
            return null;
        }

        return new SubjectModel(kind.Value, name.Value, subject.Namespace?.Value);
    }

    /// <summary>Kyverno's kind selector forms: Kind, version/Kind, group/version/Kind, with an optional /subresource or .subresource.</summary>
    internal static KindSelectorModel? ParseKind(string text, out string? error)
    {
        error = null;
        if (text.Length == 0 || text.Any(char.IsWhiteSpace))
        {
            error = "it is empty or contains whitespace";
            return null;
        }

        var parts = text.Split('/');
        if (parts.Any(p => p.Length == 0))
        {
            error = "it has an empty segment";
            return null;
        }

        // A lowercase last segment after a kind is a subresource (Pod/status), and so is '*' after a kind (Pod/*: the pod
        // and all its subresources) or after '*' alone ('*/*': everything), as in Kyverno's ParseKindSelector.
        string? subResource = null;
        var last = parts.Length - 1;
        if (parts.Length >= 2
            && ((IsLowerStart(parts[last]) && !IsLowerStart(parts[last - 1]))
                || (parts[last] == "*" && ((parts.Length == 2 && parts[0] == "*") || !IsVersion(parts[last - 1])))))
        {
            subResource = parts[last];
            parts = parts.Take(last).ToArray();
        }

        string? group = null;
        string? version = null;
        string kind;
        switch (parts.Length)
        {
            case 1: kind = parts[0]; break;
            case 2: version = parts[0]; kind = parts[1]; break;
            case 3: group = parts[0]; version = parts[1]; kind = parts[2]; break;
            default:
                error = "it has too many '/' segments";
                return null;
        }

        var dot = kind.IndexOf('.');
        if (dot > 0 && subResource is null)
        {
            subResource = kind.Substring(dot + 1);
            kind = kind.Substring(0, dot);
        }

        if (!(kind == "*" || char.IsUpper(kind[0]) || kind.Contains('*') || kind.Contains('?')))
        {
            error = $"the kind '{kind}' must start with an uppercase letter (Kubernetes kinds are PascalCase)";
            return null;
        }

        return new KindSelectorModel(group, version, kind, subResource, text);

        static bool IsLowerStart(string segment) => segment.Length > 0 && char.IsLower(segment[0]);

        // Kyverno's version pattern: v1, v2beta1, v1alpha2, or '*'.
        static bool IsVersion(string segment) => segment == "*" || s_version.IsMatch(segment);
    }

    /// <summary>
    /// Kyverno has Notation verify Notary signatures against a trust store made of certificates, and refuses keys and
    /// keyless attestors on a Notary entry; here the rule also covers nested sets and the deprecated key/issuer forms,
    /// which Kyverno's check does not reach and whose signatures would never verify, and an attestation's own attestors.
    /// </summary>
    private static bool CheckNotaryEntry(VerifyImageSyntax entry, YamlFile file)
    {
        const string why = "Kyverno verifies Notary signatures with certificates attestors only: cert (the trusted root or CA certificate) and certChain";
        var ok = true;
        if (entry.Key is { } key)
        {
            file.Report(DiagnosticDescriptors.ConflictingSettings, key.Location, "key", "type: Notary", why);
            ok = false;
        }

        if (entry.Issuer is { } issuer)
        {
            file.Report(DiagnosticDescriptors.ConflictingSettings, issuer.Location, "issuer", "type: Notary", why);
            ok = false;
        }

        if (entry.CosignOci11 is { Value: true } oci11)
        {
            file.Report(DiagnosticDescriptors.ConflictingSettings, oci11.Location, "cosignOCI11", "type: Notary", "Notation signatures are always read from the OCI 1.1 referrers; cosignOCI11 applies to cosign signatures (type: Cosign)");
            ok = false;
        }

        ok &= CheckSets(entry.Attestors);
        foreach (var attestation in entry.Attestations)
        {
            ok &= CheckSets(attestation.Attestors);
        }

        return ok;

        bool CheckSets(IEnumerable<AttestorSetSyntax> sets)
        {
            var setsOk = true;
            foreach (var attestor in sets.SelectMany(s => s.Entries))
            {
                if (attestor.Keys is { } keys)
                {
                    file.Report(DiagnosticDescriptors.ConflictingSettings, keys.Location, "keys", "type: Notary", why);
                    setsOk = false;
                }

                if (attestor.Keyless is { } keyless)
                {
                    file.Report(DiagnosticDescriptors.ConflictingSettings, keyless.Location, "keyless", "type: Notary", why);
                    setsOk = false;
                }

                if (attestor.Nested is { } nested)
                {
                    setsOk &= CheckSets([nested]);
                }
            }

            return setsOk;
        }
    }

    private static ImageVerificationModel? ValidateVerifyImage(VerifyImageSyntax entry, YamlFile file)
    {
        var ok = true;
        if (entry.Type is { } type && type.Value is not ("Cosign" or "SigstoreBundle" or "Notary"))
        {
            file.Report(DiagnosticDescriptors.InvalidEnumValue, type.Location, type.Value, "type", "Cosign, SigstoreBundle, Notary");
            ok = false;
        }

        if (entry.Type?.Value == "Notary")
        {
            ok &= CheckNotaryEntry(entry, file);
        }

        // cosignOCI11 steers where cosign-format signatures are looked up; bundles are always referrers, so on a
        // SigstoreBundle entry the setting would silently do nothing.
        if (entry.CosignOci11 is { Value: true } oci11 && entry.Type?.Value == "SigstoreBundle")
        {
            file.Report(DiagnosticDescriptors.ConflictingSettings, oci11.Location, "cosignOCI11", "type: SigstoreBundle", "Sigstore bundles are always read from the OCI 1.1 referrers; cosignOCI11 applies to cosign signatures (type: Cosign)");
            ok = false;
        }

        // Kyverno's conversion of the deprecated single-image form: 'image' replaces imageReferences, and 'key' or
        // 'issuer' (with subject, roots, additionalExtensions) become the one attestor, carrying 'annotations'.
        var converted = entry.Image is not null || entry.Key is not null || entry.Issuer is not null;
        var references = entry.Image is { } image ? [image] : new List<Located<string>>(entry.ImageReferences ?? []);
        if (references.Count == 0)
        {
            file.Report(DiagnosticDescriptors.EmptyImageReferences, entry.ImageReferencesLocation ?? entry.Location);
            ok = false;
        }

        foreach (var reference in references.Concat(entry.SkipImageReferences ?? []))
        {
            ok &= CheckPattern(reference, file);
        }

        var attestors = new List<AttestorSetModel>();
        if (converted)
        {
            if (entry.Key is not null || entry.Issuer is not null)
            {
                var set = new AttestorSetSyntax { Location = entry.Location };
                var attestor = new AttestorSyntax { Location = entry.Location, Annotations = entry.Annotations };
                if (entry.Key is { } key)
                {
                    attestor.Keys = new KeysSyntax { Location = key.Location, PublicKeys = key };
                }
                else
                {
                    attestor.Keyless = new KeylessSyntax { Location = entry.Issuer!.Location, Issuer = entry.Issuer, Subject = entry.Subject, Roots = entry.Roots, AdditionalExtensions = entry.AdditionalExtensions };
                }

                set.Entries.Add(attestor);
                if (AttestorValidator.ValidateSet(set, ".attestors[0]", null, file) is { } model)
                {
                    attestors.Add(model);
                }
                else
                {
                    ok = false;
                }
            }
        }
        else
        {
            var setIndex = 0;
            foreach (var set in entry.Attestors)
            {
                var path = $".attestors[{setIndex.ToString(CultureInfo.InvariantCulture)}]";
                if (AttestorValidator.ValidateSet(set, path, entry.Annotations, file, entry.Type?.Value == "Notary") is { } model)
                {
                    attestors.Add(model);
                }
                else
                {
                    ok = false;
                }

                setIndex++;
            }
        }

        if (entry.Repository is { } repository && !IsRepositoryName(repository.Value))
        {
            file.Report(DiagnosticDescriptors.InvalidName, repository.Location, repository.Value, "signature repository", "write a repository without tag or digest, e.g. registry.io/signatures");
            ok = false;
        }

        var attestations = new List<AttestationModel>();
        foreach (var attestation in entry.Attestations)
        {
            if (ValidateAttestation(attestation, converted ? [] : entry.Attestors, entry.Type?.Value == "Notary", file) is { } model)
            {
                attestations.Add(model);
            }
            else
            {
                ok = false;
            }
        }

        ValidationModel? validation = null;
        if (entry.Validate is { } validate)
        {
            // Kyverno evaluates validate.deny after verifying the entry's attestations, and not at all without them: a
            // deny block on an entry without attestations would silently do nothing.
            if (entry.Attestations.Count == 0)
            {
                file.Report(DiagnosticDescriptors.ConflictingSettings, validate.Location, "validate", "an entry without attestations", "Kyverno evaluates validate.deny only after the entry's attestations are verified, so it would never run; add the attestations it reads (with a name) or remove validate");
                ok = false;
            }

            ok &= !validate.Invalid;
            validation = new ValidationModel(
                validate.MessageTemplate is null ? validate.Message?.Value : null,
                validate.MessageTemplate,
                validate.Deny ?? EquatableArray<ConditionBlockModel>.Empty)
            {
                MessageReadsRequest = validate.MessageTemplate is { } template && ConditionParser.ReadsRequest(template),
            };
        }

        RegistryCredentialsModel? registryCredentials = null;
        if (entry.RegistryCredentialsLocation is not null)
        {
            registryCredentials = ValidateRegistryCredentials(file, entry.AllowInsecureRegistry?.Value ?? false, entry.RegistrySecrets, entry.RegistryProviders, ref ok);
        }

        return ok
            ? new ImageVerificationModel(
                entry.Index,
                references.Select(r => r.Value).ToEquatableArray(),
                (entry.SkipImageReferences ?? []).Select(r => r.Value).ToEquatableArray(),
                attestors.ToEquatableArray(),
                entry.MutateDigest?.Value ?? true,
                entry.VerifyDigest?.Value ?? true,
                entry.Required?.Value ?? true,
                entry.UseCache?.Value ?? true,
                entry.Repository?.Value) { Attestations = attestations.ToEquatableArray(), Format = entry.Type?.Value ?? "Cosign", CosignOci11 = entry.CosignOci11?.Value ?? false, Validation = validation, RegistryCredentials = registryCredentials }
            : null;
    }

    /// <summary>
    /// <c>imageRegistryCredentials</c> of a verifyImages entry or an <c>imageRegistry</c> context entry: Secret names and
    /// the credential helpers Kyverno knows.
    /// </summary>
    internal static RegistryCredentialsModel ValidateRegistryCredentials(YamlFile file, bool allowInsecure, List<Located<string>>? secrets, List<Located<string>>? providers, ref bool ok)
    {
        foreach (var secret in secrets ?? [])
        {
            if (secret.Value.Length == 0 || secret.Value.Any(c => !(char.IsLower(c) || char.IsDigit(c) || c is '-' or '.')))
            {
                file.Report(DiagnosticDescriptors.InvalidName, secret.Location, secret.Value, "Secret name", "Secret names are lower-case letters, digits, '-' and '.'");
                ok = false;
            }
        }

        foreach (var provider in providers ?? [])
        {
            switch (provider.Value)
            {
                case "default" or "amazon" or "google" or "azure" or "github":
                    break;
                default:
                    file.Report(DiagnosticDescriptors.InvalidEnumValue, provider.Location, provider.Value, "imageRegistryCredentials.providers", "default, amazon, azure, google, github");
                    ok = false;
                    break;
            }
        }

        return new RegistryCredentialsModel(allowInsecure, (secrets ?? []).Select(s => s.Value).ToEquatableArray())
        {
            Providers = (providers ?? []).Select(p => p.Value).Distinct(StringComparer.Ordinal).ToEquatableArray(),
        };
    }

    /// <summary>
    /// An attestation needs a predicate type and its own attestors: Kyverno would otherwise read statements without
    /// verifying who signed them, which PolicyCompiler refuses to compile.
    /// </summary>
    private static AttestationModel? ValidateAttestation(AttestationSyntax attestation, List<AttestorSetSyntax> entryAttestors, bool notary, YamlFile file)
    {
        var path = $".attestations[{attestation.Index.ToString(CultureInfo.InvariantCulture)}]";
        var ok = true;
        var type = attestation.Type ?? attestation.PredicateType;
        if (type is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, attestation.Location, $"'{path.TrimStart('.')}'", "type", "type: https://slsa.dev/provenance/v0.2");
            ok = false;
        }
        else if (type.Value.Length == 0 || type.Value.Any(char.IsWhiteSpace))
        {
            file.Report(DiagnosticDescriptors.InvalidName, type.Location, type.Value, "predicate type", "write the predicate type URI, e.g. https://slsa.dev/provenance/v0.2");
            ok = false;
        }

        // Without attestors of its own, an attestation is trusted as the entry's signatures are (the form of the
        // reference page's code-review sample); with neither, nothing would vouch for the statements.
        var attestors = attestation.Attestors.Count > 0 ? attestation.Attestors : entryAttestors;
        if (attestors.Count == 0)
        {
            file.Report(DiagnosticDescriptors.MissingField, attestation.Location, $"'{path.TrimStart('.')}'", "attestors", "attestors: [ { entries: [ { keys: { publicKeys: ... } } ] } ] (statements are only trusted when their signer is)");
            ok = false;
        }

        var sets = new List<AttestorSetModel>();
        var index = 0;
        foreach (var set in attestors)
        {
            if (AttestorValidator.ValidateSet(set, $".attestors[{index.ToString(CultureInfo.InvariantCulture)}]", null, file, notary) is { } model)
            {
                sets.Add(model);
            }
            else
            {
                ok = false;
            }

            index++;
        }

        ok &= !attestation.ConditionsInvalid;
        return ok && type is not null
            ? new AttestationModel(path, type.Value, sets.ToEquatableArray()) { Conditions = attestation.Conditions ?? EquatableArray<ConditionBlockModel>.Empty, Name = attestation.Name?.Value is { Length: > 0 } name ? name : null }
            : null;
    }

    /// <summary>
    /// Points at the PEM block itself inside a block scalar: the block's BEGIN line is found in the file text after
    /// the scalar's start, so the error lands on the key that is wrong, not on the first line of the field.
    /// </summary>
    internal static LocationInfo LocateBlock(Located<string> value, PemBlock block, YamlFile file)
    {
        var firstLine = block.Base64.Trim().Split('\n')[0].Trim();
        var searchFrom = value.Location.Span.Start;
        var beginLine = "-----BEGIN " + block.Label + "-----";
        var position = searchFrom;
        for (var i = 0; ; i++)
        {
            var found = file.Text.IndexOf(beginLine, position, StringComparison.Ordinal);
            if (found < 0)
            {
                return value.Location;
            }

            var bodyStart = file.Text.IndexOf(firstLine, found, StringComparison.Ordinal);
            if (firstLine.Length > 0 && bodyStart >= 0 && bodyStart - found < beginLine.Length + 200)
            {
                return file.LocateOffset(found, beginLine.Length);
            }

            position = found + beginLine.Length;
            if (i > 100)
            {
                return value.Location;
            }
        }
    }

    private static bool CheckPattern(Located<string> pattern, YamlFile file)
    {
        string? error = null;
        if (pattern.Value.Length == 0)
        {
            error = "it is empty";
        }
        else if (pattern.Value.Any(char.IsWhiteSpace))
        {
            error = "it contains whitespace";
        }
        else if (pattern.Value.Contains("{{"))
        {
            error = "variables are not allowed in patterns";
        }

        if (error is null)
        {
            return true;
        }

        file.Report(DiagnosticDescriptors.InvalidPattern, pattern.Location, pattern.Value, error);
        return false;
    }

    /// <summary>A repository name without tag or digest: an optional registry host, then lowercase path components.</summary>
    internal static bool IsRepositoryName(string value)
    {
        if (value.Length == 0 || value.Any(char.IsWhiteSpace) || value.IndexOf('@') >= 0)
        {
            return false;
        }

        var parts = value.Split('/');
        var first = parts[0];
        var hasRegistry = parts.Length > 1 && (first.Contains('.') || first.Contains(':') || first == "localhost");
        return parts.Skip(hasRegistry ? 1 : 0).All(p => p.Length > 0 && p.All(c => char.IsLower(c) || char.IsDigit(c) || c is '.' or '_' or '-'));
    }

    private static string? DnsError(string value, int maxLength, bool allowDots)
    {
        if (value.Length == 0 || value.Length > maxLength)
        {
            return $"it must have 1 to {maxLength.ToString(CultureInfo.InvariantCulture)} characters";
        }

        if (!char.IsLetterOrDigit(value[0]) || !char.IsLetterOrDigit(value[value.Length - 1]) || value.Any(c => !(char.IsLower(c) || char.IsDigit(c) || c == '-' || (allowDots && c == '.'))))
        {
            return allowDots
                ? "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
                : "use lowercase letters, digits and '-', starting and ending with a letter or digit";
        }

        return null;
    }
}
