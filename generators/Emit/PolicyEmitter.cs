using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Model;

namespace PolicyCompiler.Generators.Emit;

/// <summary>
/// Writes one C# class per policy: its keys as imported-once fields, its match blocks and image patterns as
/// methods, and a <c>Definition</c> that wires them into the runtime's types. Works only from the validated model.
/// </summary>
internal static class PolicyEmitter
{
    public const string Namespace = "PolicyCompiler.Generated";

    public static string Emit(PolicyModel policy)
    {
        var body = new SourceWriter();
        var fields = new TrustMaterial(body);
        body.WriteLine($"/// <summary>{Xml(policy.Kind)} <c>{Xml(policy.Name)}</c>, compiled from <c>{Xml(policy.SourcePath)}</c>.</summary>");
        body.WriteLine($"internal static class {policy.ClassName}");
        body.OpenBrace();

        // Trust material first: static fields initialise in text order and the definition refers to them.
        fields.WriteAll(policy);
        WriteSharedVerifyImages(body, policy, fields);
        WriteDefinition(body, policy, fields);

        for (var r = 0; r < policy.Rules.Count; r++)
        {
            var rule = policy.Rules[r];
            WriteMatch(body, rule.Name, rule.Match, rule.Exclude, MatchMethod(r));
            for (var a = 0; a < rule.Autogen.Count; a++)
            {
                WriteMatch(body, rule.Autogen[a].Name, rule.Autogen[a].Match, rule.Autogen[a].Exclude, MatchMethod(r, a));
            }

            for (var e = 0; e < rule.ImageExtractors.Count; e++)
            {
                if (rule.ImageExtractors[e] is { JmesPath: { } expression, JmesPathText: { } expressionText })
                {
                    body.WriteLine();
                    body.WriteLine($"// imageExtractors.{CSharp.CommentSafe(rule.ImageExtractors[e].Kind)}[].jmesPath: {CSharp.CommentSafe(expressionText)}");
                    body.WriteBlock(Conditions.JmesCompiler.EmitMethod(expression, Conditions.JmesDialect.Kyverno, ExtractorJmesPathMethod(r, e), expressionText, "private"));
                }
            }

            WriteContextMethods(body, rule, r);

            // Precondition variables that do not resolve are empty strings, as in Kyverno.
            ConditionEmitter.WriteMethods(body, PreconditionsField(r), rule.Preconditions, Conditions.KyvernoVariableMode.Precondition);
            for (var v = 0; v < rule.VerifyImages.Count; v++)
            {
                WriteImageReferences(body, rule, r, rule.VerifyImages[v], v);
                for (var a = 0; a < rule.VerifyImages[v].Attestations.Count; a++)
                {
                    // Attestation conditions are strict, as in Kyverno: an unresolvable variable fails the check.
                    ConditionEmitter.WriteMethods(body, AttestationPrefix(r, v, a), rule.VerifyImages[v].Attestations[a].Conditions, Conditions.KyvernoVariableMode.Strict);
                }

                if (rule.VerifyImages[v].Validation is { } validation)
                {
                    ConditionEmitter.WriteMethods(body, DenyField(r, v), validation.Deny, Conditions.KyvernoVariableMode.Strict);
                    if (validation.MessageTemplate is { } message)
                    {
                        // Strict, as Kyverno substitutes the message; the runtime decides what a failure reads as.
                        var methods = new SourceWriter();
                        Conditions.KyvernoEmitter.EmitTemplateMethod(methods, DenyField(r, v) + "Message", message, Conditions.KyvernoVariableMode.Strict, "private");
                        body.WriteLine();
                        body.WriteLine($"// spec.rules[{r.ToString(CultureInfo.InvariantCulture)}].verifyImages[{v.ToString(CultureInfo.InvariantCulture)}].validate.message");
                        body.WriteBlock(methods.ToString());
                    }
                }
            }
        }

        foreach (var (name, field, template, written) in fields.Templates)
        {
            // Strict, as Kyverno substitutes attestors: a variable that does not resolve fails the attestor.
            var methods = new SourceWriter();
            Conditions.KyvernoEmitter.EmitTemplateMethod(methods, name, template, Conditions.KyvernoVariableMode.Strict, "private");
            body.WriteLine();
            body.WriteLine($"// {field}: {CSharp.CommentSafe(written)}");
            body.WriteBlock(methods.ToString());
        }

        body.CloseBrace();

        var w = new SourceWriter();
        WriteHeader(w, $"{policy.Kind} \"{policy.Name}\"{(policy.Namespace is null ? string.Empty : $" in namespace \"{policy.Namespace}\"")}, compiled from {policy.SourcePath}.");
        var text = body.ToString();
        foreach (var (ns, markers) in s_usings)
        {
            if (markers.Any(text.Contains))
            {
                w.WriteLine($"using {ns};");
            }
        }

        w.WriteLine();
        w.WriteLine($"namespace {Namespace};");
        w.WriteLine();
        return w + text;
    }

    /// <summary>Each namespace the generated class may need, with tokens whose presence in the body proves it is used.</summary>
    private static readonly (string Namespace, string[] Markers)[] s_usings =
    [
        ("System", ["StringComparison.", "StringComparer.", "Convert.", "JmesValue "]),
        ("System.Collections.Generic", ["new Dictionary<"]),
        ("System.Collections.Immutable", ["ImmutableArray<"]),
        ("System.Security.Cryptography", ["HashAlgorithmName"]),
        ("System.Security.Cryptography.X509Certificates", ["X509Certificate"]),
        ("PolicyCompiler.Runtime", ["Wildcard."]),
        ("PolicyCompiler.Runtime.Admission", ["AdmissionContext "]),
        ("PolicyCompiler.Runtime.Conditions", ["JmesValue ", "JmesContext ", "GoRegex."]),
        ("PolicyCompiler.Runtime.Engine", ["PolicyDefinition "]),
        ("PolicyCompiler.Runtime.Images", ["ImageExtractorDefinition("]),
        ("PolicyCompiler.Runtime.Sigstore", ["VerificationKey ", "Signer(", "SignatureRequirements", "TransparencyLog"]),
    ];

    public static string EmitCatalog(IReadOnlyList<string> classNames)
    {
        var w = new SourceWriter();
        WriteHeader(w, "The catalogue of every policy compiled into this assembly.");
        w.WriteLine("using System.Collections.Immutable;");
        w.WriteLine("using PolicyCompiler.Runtime.Engine;");
        w.WriteLine();
        w.WriteLine($"namespace {Namespace};");
        w.WriteLine();
        w.WriteLine("/// <summary>Every compiled policy, ordered by class name.</summary>");
        w.WriteLine("internal static class PolicyCatalog");
        w.OpenBrace();
        if (classNames.Count == 0)
        {
            w.WriteLine("public static ImmutableArray<PolicyDefinition> All { get; } = [];");
        }
        else
        {
            w.WriteLine("public static ImmutableArray<PolicyDefinition> All { get; } =");
            w.WriteLine("[");
            w.Indentation++;
            foreach (var name in classNames)
            {
                w.WriteLine($"{name}.Definition,");
            }

            w.Indentation--;
            w.WriteLine("];");
        }

        w.CloseBrace();
        return w.ToString();
    }

    private static void WriteHeader(SourceWriter w, string description)
    {
        w.WriteLine("// <auto-generated/>");
        w.WriteLine($"// Generated by PolicyCompiler: {CSharp.CommentSafe(description)}");
        w.WriteLine("// Do not edit: change the policy YAML and rebuild.");
        w.WriteLine("#nullable enable");
        w.WriteLine();
    }

    private static void WriteDefinition(SourceWriter w, PolicyModel policy, TrustMaterial fields)
    {
        w.WriteLine("public static PolicyDefinition Definition { get; } = new(");
        w.Indentation++;
        w.WriteLine($"name: {CSharp.Literal(policy.Name)},");
        w.WriteLine($"@namespace: {CSharp.Literal(policy.Namespace)},");
        w.WriteLine($"failureAction: FailureAction.{policy.FailureAction},");
        w.WriteLine($"failurePolicy: FailurePolicy.{policy.FailurePolicy},");
        w.WriteLine($"webhookTimeoutSeconds: {CSharp.Literal(policy.WebhookTimeoutSeconds)},");
        w.WriteLine($"sourcePath: {CSharp.Literal(policy.SourcePath)},");
        w.WriteLine("rules:");
        w.WriteLine("[");
        w.Indentation++;
        for (var r = 0; r < policy.Rules.Count; r++)
        {
            var rule = policy.Rules[r];
            w.WriteLine("new RuleDefinition(");
            w.Indentation++;
            w.WriteLine($"name: {CSharp.Literal(rule.Name)},");
            w.WriteLine($"matches: {MatchMethod(r)},");
            if (rule.Autogen.IsEmpty)
            {
                WriteVerifyImages(w, rule, r, fields);
                w.WriteLine(",");
            }
            else
            {
                w.WriteLine($"verifyImages: {VerifyImagesField(r)},");
            }

            // The named arguments after the extractors, each on its line; the last one closes the rule.
            var hasPreconditions = !rule.Preconditions.IsEmpty;
            var tail = new List<string>();
            if (hasPreconditions)
            {
                tail.Add($"preconditions: {PreconditionsField(r)}");
            }

            tail.AddRange(RuleFlags(rule, rule.Match, rule.Exclude));
            if (!rule.Context.IsEmpty)
            {
                tail.Add($"context: {ContextField(r)}");
            }
            if (WebhookResources.KindsArgument(rule.Match) is { Length: > 0 } kinds)
            {
                w.WriteLine(kinds + ",");
            }

            w.WriteLine($"webhook: {WebhookResources.Expression(rule.Match)}" + (rule.ImageExtractors.IsEmpty && tail.Count == 0 ? ")," : ","));
            if (!rule.ImageExtractors.IsEmpty)
            {
                w.WriteLine("imageExtractors:");
                w.WriteLine("[");
                w.Indentation++;
                for (var e = 0; e < rule.ImageExtractors.Count; e++)
                {
                    var extractor = rule.ImageExtractors[e];
                    var path = "[" + string.Join(", ", extractor.Path.Select(CSharp.Literal)) + "]";
                    var jmesPath = extractor.JmesPath is null ? string.Empty : $", jmesPath: {ExtractorJmesPathMethod(r, e)}";
                    w.WriteLine($"new ImageExtractorDefinition({CSharp.Literal(extractor.Kind)}, {CSharp.Literal(extractor.Name)}, {path}, {CSharp.Literal(extractor.Value)}, {CSharp.Literal(extractor.Key)}{jmesPath}),");
                }

                w.Indentation--;
                w.WriteLine(tail.Count == 0 ? "])," : "],");
            }

            for (var t = 0; t < tail.Count; t++)
            {
                w.WriteLine(tail[t] + (t == tail.Count - 1 ? ")," : ","));
            }

            w.Indentation--;
            for (var a = 0; a < rule.Autogen.Count; a++)
            {
                var variant = rule.Autogen[a];
                var preconditions = !rule.Preconditions.IsEmpty ? $"preconditions: {PreconditionsField(r)}, " : string.Empty;
                var context = rule.Context.IsEmpty ? string.Empty : $"context: {ContextField(r)}, ";
                var autogen = variant.Name.StartsWith("autogen-cronjob-", System.StringComparison.Ordinal) ? "CronJob" : "PodControllers";
                var flags = string.Concat(RuleFlags(rule, variant.Match, variant.Exclude).Select(f => f + ", "));
                var variantKinds = WebhookResources.KindsArgument(variant.Match) is { Length: > 0 } k ? k + ", " : string.Empty;
                w.WriteLine($"new RuleDefinition({CSharp.Literal(variant.Name)}, {MatchMethod(r, a)}, {VerifyImagesField(r)}, {WebhookResources.Expression(variant.Match)}, {variantKinds}{preconditions}{flags}{context}autogen: RuleAutogen.{autogen}),");
            }
        }

        w.Indentation--;
        // Optional named arguments after the rules, each closing the call when nothing follows it.
        var hasOverrides = !policy.FailureActionOverrides.IsEmpty;
        var hasConditions = !policy.MatchConditions.IsEmpty;
        w.WriteLine(hasOverrides || policy.ApplyOne || hasConditions ? "]," : "]);");
        if (hasOverrides)
        {
            w.WriteLine("failureActionOverrides:");
            w.WriteLine("[");
            w.Indentation++;
            foreach (var item in policy.FailureActionOverrides)
            {
                var readsLabels = item.NamespaceSelector is null ? string.Empty : ", readsNamespaceLabels: true";
                w.WriteLine($"new FailureActionOverride(FailureAction.{item.Action}, static request => {OverrideCondition(item)}{readsLabels}),");
            }

            w.Indentation--;
            w.WriteLine(policy.ApplyOne || hasConditions ? "]," : "]);");
        }

        if (policy.ApplyOne)
        {
            w.WriteLine(hasConditions ? "applyRules: ApplyRules.One," : "applyRules: ApplyRules.One);");
        }

        if (hasConditions)
        {
            // Evaluated by the API server before it calls this policy's own webhook; carried here for the manifests.
            w.WriteLine("matchConditions:");
            w.WriteLine("[");
            w.Indentation++;
            foreach (var condition in policy.MatchConditions)
            {
                w.WriteLine($"new MatchCondition({CSharp.Literal(condition.Name)}, {CSharp.Literal(condition.Expression)}),");
            }

            w.Indentation--;
            w.WriteLine("]);");
        }

        w.Indentation--;
    }

    /// <summary>The value of a template without variables (escapes resolved), else null; RBAC is printed from it.</summary>
    private static string? LiteralText(Conditions.KyvernoTemplate? template) =>
        template is null || template.HasVariables ? null : string.Concat(template.Parts.Select(p => p.Literal));

    /// <summary>The rule's <c>context</c> entries as a field of runtime definitions, in the order Kyverno loads them.</summary>
    private static void WriteContextField(SourceWriter w, RuleModel rule, int r)
    {
        w.WriteLine($"/// <summary>The context of rule <c>{Xml(rule.Name)}</c>, loaded in this order before its preconditions.</summary>");
        w.WriteLine($"private static readonly ImmutableArray<ContextEntryDefinition> {ContextField(r)} =");
        w.WriteLine("[");
        w.Indentation++;
        for (var c = 0; c < rule.Context.Count; c++)
        {
            var entry = rule.Context[c];
            var prefix = ContextField(r) + c.ToString(CultureInfo.InvariantCulture);
            var name = CSharp.Literal(entry.Name);
            var jmesPath = entry.JmesPath is null ? string.Empty : entry.JmesPathHasVariables ? $", jmesPathWithVariables: {prefix}JmesPath" : $", jmesPath: {prefix}JmesPath";
            var @default = entry.Default is null ? string.Empty : $", @default: {prefix}Default";
            switch (entry.Source)
            {
                case ContextEntryModel.VariableSource:
                    var value = entry.Value is null ? "null" : prefix + "Value";
                    w.WriteLine($"new VariableContextEntry({name}, {value}{jmesPath}{@default}),");
                    break;
                case ContextEntryModel.GlobalReferenceSource:
                    w.WriteLine($"new GlobalReferenceContextEntry({name}, {prefix}GlobalName{jmesPath}),");
                    break;
                case ContextEntryModel.ConfigMapSource:
                    var ns = entry.ConfigMapNamespace is null ? "null" : prefix + "Namespace";
                    var literalName = LiteralText(entry.ConfigMapName) is { } cmName ? $", literalName: {CSharp.Literal(cmName)}" : string.Empty;
                    var literalNamespace = LiteralText(entry.ConfigMapNamespace) is { } cmNamespace ? $", literalNamespace: {CSharp.Literal(cmNamespace)}" : string.Empty;
                    w.WriteLine($"new ConfigMapContextEntry({name}, {prefix}Name, {ns}{literalName}{literalNamespace}),");
                    break;
                case ContextEntryModel.ImageRegistrySource:
                    var credentials = entry.RegistryCredentials is { } entryCredentials
                        ? $", registryCredentials: {RegistryCredentialsDefinition(entryCredentials)}"
                        : string.Empty;
                    w.WriteLine($"new ImageRegistryContextEntry({name}, {prefix}Reference{jmesPath}{credentials}),");
                    break;
                default:
                    var data = entry.Data.IsEmpty
                        ? string.Empty
                        : ", data: [" + string.Join(", ", entry.Data.Select((d, i) => Keyed("ApiCallData", d.Key, prefix + "Data", i, d.KeyTemplate is not null))) + "]";
                    var urlPath = entry.UrlPath is null ? "null" : prefix + "UrlPath";
                    var service = entry.Service is not { } call
                        ? string.Empty
                        : $", service: new ServiceCallDefinition({prefix}ServiceUrl, {(call.CaBundle is null ? "null" : prefix + "CaBundle")}"
                            + (call.Headers.IsEmpty ? string.Empty : ", [" + string.Join(", ", call.Headers.Select((h, i) => Keyed("ServiceHeader", h.Key, prefix + "Header", i, h.KeyTemplate is not null))) + "]")
                            + ")";
                    var urlPathText = entry.UrlPath is { } path ? $", urlPathText: {CSharp.Literal(path.Text)}" : string.Empty;
                    w.WriteLine($"new ApiCallContextEntry({name}, {urlPath}, {CSharp.Literal(entry.Method)}{data}{jmesPath}{@default}{service}{urlPathText}),");
                    break;
            }
        }

        w.Indentation--;
        w.WriteLine("];");
        w.WriteLine();
    }

    /// <summary>
    /// A keyed item of an <c>apiCall</c> (a <c>data</c> member, a service header): its key as written, the value method
    /// <paramref name="method"/>N, and the key method <paramref name="method"/>KeyN when the key has variables.
    /// </summary>
    private static string Keyed(string type, string key, string method, int index, bool templatedKey)
    {
        var n = index.ToString(CultureInfo.InvariantCulture);
        return $"new {type}({CSharp.Literal(key)}, {method}{n}{(templatedKey ? $", {method}Key{n}" : string.Empty)})";
    }

    /// <summary>The templates and JMESPaths of the rule's context entries, one method each.</summary>
    private static void WriteContextMethods(SourceWriter body, RuleModel rule, int r)
    {
        for (var c = 0; c < rule.Context.Count; c++)
        {
            var entry = rule.Context[c];
            var prefix = ContextField(r) + c.ToString(CultureInfo.InvariantCulture);
            var methods = new SourceWriter();

            // Strict, as Kyverno substitutes context entries: a variable that does not resolve fails the entry.
            void Value(string suffix, Conditions.KyvernoValue? value)
            {
                if (value is not null)
                {
                    Conditions.KyvernoEmitter.EmitValueMethod(methods, prefix + suffix, value, Conditions.KyvernoVariableMode.Strict, "private");
                }
            }

            Value("Value", entry.Value);
            Value("Default", entry.Default);
            Value("Name", entry.ConfigMapName is { } cmName ? new Conditions.KyvernoStringValue(cmName) : null);
            Value("Namespace", entry.ConfigMapNamespace is { } cmNamespace ? new Conditions.KyvernoStringValue(cmNamespace) : null);
            Value("UrlPath", entry.UrlPath is { } urlPath ? new Conditions.KyvernoStringValue(urlPath) : null);
            Value("Reference", entry.ImageReference is { } reference ? new Conditions.KyvernoStringValue(reference) : null);
            Value("GlobalName", entry.GlobalName is { } globalName ? new Conditions.KyvernoStringValue(globalName) : null);
            for (var d = 0; d < entry.Data.Count; d++)
            {
                Value("Data" + d.ToString(CultureInfo.InvariantCulture), entry.Data[d].Value);
                Value("DataKey" + d.ToString(CultureInfo.InvariantCulture), entry.Data[d].KeyTemplate is { } keyTemplate ? new Conditions.KyvernoStringValue(keyTemplate) : null);
            }

            if (entry.Service is { } serviceCall)
            {
                Value("ServiceUrl", new Conditions.KyvernoStringValue(serviceCall.Url));
                Value("CaBundle", serviceCall.CaBundle is { } caBundle ? new Conditions.KyvernoStringValue(caBundle) : null);
                for (var h = 0; h < serviceCall.Headers.Count; h++)
                {
                    Value("Header" + h.ToString(CultureInfo.InvariantCulture), new Conditions.KyvernoStringValue(serviceCall.Headers[h].Value));
                    Value("HeaderKey" + h.ToString(CultureInfo.InvariantCulture), serviceCall.Headers[h].KeyTemplate is { } headerKey ? new Conditions.KyvernoStringValue(headerKey) : null);
                }
            }

            if (entry.JmesPath is { } expression)
            {
                methods.WriteBlock(entry.JmesPathHasVariables
                    ? Conditions.JmesEmitter.EmitContextMethod(expression, Conditions.JmesDialect.Kyverno, prefix + "JmesPath", entry.JmesPathText ?? string.Empty, "private")
                    : Conditions.JmesCompiler.EmitMethod(expression, Conditions.JmesDialect.Kyverno, prefix + "JmesPath", entry.JmesPathText ?? string.Empty, "private"));
            }

            body.WriteLine();
            body.WriteLine($"// context[{c.ToString(CultureInfo.InvariantCulture)}] {CSharp.CommentSafe(entry.Name)} ({entry.Source}) of rule {CSharp.CommentSafe(rule.Name)}");
            body.WriteBlock(methods.ToString());
        }
    }

    /// <summary>
    /// Kyverno's override test: with <c>namespaces</c>, one must match the request's namespace (an empty list matches
    /// none) and the selector, if any, must hold too; without them, the selector alone decides, or nothing limits it.
    /// </summary>
    private static string OverrideCondition(FailureActionOverrideModel item)
    {
        var parts = new List<Condition>();
        if (item.HasNamespaces)
        {
            parts.Add(item.Namespaces.IsEmpty ? Condition.Call("false") : Condition.Join(Condition.Or, item.Namespaces.Select(n => Pattern(n, "request.Namespace"))));
        }

        if (item.NamespaceSelector is { } selector)
        {
            parts.Add(Selector(selector, "request.NamespaceLabels"));
        }

        return Condition.Join(Condition.And, parts).ToString();
    }

    /// <summary>Writes <c>verifyImages: [ … ]</c> without the closing parenthesis of the rule.</summary>
    private static void WriteVerifyImages(SourceWriter w, RuleModel rule, int ruleIndex, TrustMaterial fields)
    {
        w.WriteLine("verifyImages:");
        w.WriteLine("[");
        w.Indentation++;
        for (var v = 0; v < rule.VerifyImages.Count; v++)
        {
            WriteVerifyImage(w, rule.VerifyImages[v], ruleIndex, v, fields, !rule.Context.IsEmpty);
        }

        w.Indentation--;
        w.Append("]");
    }

    /// <summary>
    /// Rules with auto-generated variants keep their checks in one field that every variant shares; preconditions are
    /// a field too, shared the same way.
    /// </summary>
    private static void WriteSharedVerifyImages(SourceWriter w, PolicyModel policy, TrustMaterial fields)
    {
        for (var r = 0; r < policy.Rules.Count; r++)
        {
            var rule = policy.Rules[r];
            for (var v = 0; v < rule.VerifyImages.Count; v++)
            {
                if (rule.VerifyImages[v].Validation is { } validation)
                {
                    w.WriteLine($"/// <summary>Rule <c>{Xml(rule.Name)}</c>, verifyImages[{rule.VerifyImages[v].Index.ToString(CultureInfo.InvariantCulture)}].validate.deny.conditions.</summary>");
                    w.WriteLine($"private static readonly ImmutableArray<ConditionBlockDefinition> {DenyField(r, v)} =");
                    ConditionEmitter.WriteDefinitions(w, DenyField(r, v), validation.Deny);
                    w.WriteLine(";");
                    w.WriteLine();
                }
            }

            if (!rule.Context.IsEmpty)
            {
                WriteContextField(w, rule, r);
            }

            if (!rule.Preconditions.IsEmpty)
            {
                w.WriteLine($"/// <summary>The preconditions of rule <c>{Xml(rule.Name)}</c>.</summary>");
                w.WriteLine($"private static readonly ImmutableArray<ConditionBlockDefinition> {PreconditionsField(r)} =");
                ConditionEmitter.WriteDefinitions(w, PreconditionsField(r), rule.Preconditions);
                w.WriteLine(";");
                w.WriteLine();
            }

            if (rule.Autogen.IsEmpty)
            {
                continue;
            }

            w.WriteLine($"/// <summary>The checks of rule <c>{Xml(rule.Name)}</c>, shared with {Xml(string.Join(" and ", rule.Autogen.Select(a => a.Name)))}.</summary>");
            w.WriteLine($"private static readonly ImmutableArray<ImageVerificationDefinition> {VerifyImagesField(r)} =");
            w.WriteLine("[");
            w.Indentation++;
            for (var v = 0; v < rule.VerifyImages.Count; v++)
            {
                WriteVerifyImage(w, rule.VerifyImages[v], r, v, fields, !rule.Context.IsEmpty);
            }

            w.Indentation--;
            w.WriteLine("];");
            w.WriteLine();
        }
    }

    /// <param name="readsContext">
    /// The rule has context entries: its conditions may read them, so they are given the full document (as when they read
    /// the request) and their verdicts are never reused.
    /// </param>
    private static void WriteVerifyImage(SourceWriter w, ImageVerificationModel entry, int ruleIndex, int entryIndex, TrustMaterial fields, bool readsContext)
    {
        w.WriteLine("new ImageVerificationDefinition(");
        w.Indentation++;
        w.WriteLine($"path: \"verifyImages[{entry.Index.ToString(CultureInfo.InvariantCulture)}]\",");
        w.WriteLine($"imageReferences: {ImagesMethod(ruleIndex, entryIndex)},");
        if (entry.Attestors.IsEmpty)
        {
            w.WriteLine("attestors: [],");
        }
        else
        {
            w.WriteLine("attestors:");
            w.WriteLine("[");
            w.Indentation++;
            foreach (var set in entry.Attestors)
            {
                WriteAttestorSet(w, set, fields);
                w.WriteLine(",");
            }

            w.Indentation--;
            w.WriteLine("],");
        }

        w.WriteLine($"mutateDigest: {CSharp.Literal(entry.MutateDigest)},");
        w.WriteLine($"verifyDigest: {CSharp.Literal(entry.VerifyDigest)},");
        w.WriteLine($"required: {CSharp.Literal(entry.Required)},");
        var optional = new List<string>();
        if (!entry.SkipImageReferences.IsEmpty)
        {
            optional.Add($"skipImageReferences: {SkipImagesMethod(ruleIndex, entryIndex)}");
        }

        if (!entry.UseCache)
        {
            optional.Add("useCache: false");
        }

        if (entry.Format != "Cosign")
        {
            optional.Add($"format: SignatureFormat.{entry.Format}");
        }

        if (entry.CosignOci11)
        {
            optional.Add("cosignOci11: true");
        }

        if (entry.RegistryCredentials is { } credentials)
        {
            optional.Add($"registryCredentials: {RegistryCredentialsDefinition(credentials)}");
        }

        if (entry.Validation is { } validation)
        {
            var readsRequest = readsContext || ConditionEmitter.ReadsRequest(validation.Deny) || validation.MessageReadsRequest ? ", readsRequest: true" : string.Empty;
            var messageTemplate = validation.MessageTemplate is null ? string.Empty : $", messageTemplate: {DenyField(ruleIndex, entryIndex)}Message";
            optional.Add($"validation: new ValidationDefinition({CSharp.Literal(validation.Message)}, {DenyField(ruleIndex, entryIndex)}{messageTemplate}{readsRequest})");
        }

        var hasAttestations = !entry.Attestations.IsEmpty;

        w.WriteLine($"repository: {CSharp.Literal(entry.Repository)}" + (optional.Count == 0 && !hasAttestations ? ")," : ","));
        for (var i = 0; i < optional.Count; i++)
        {
            w.WriteLine(optional[i] + (i == optional.Count - 1 && !hasAttestations ? ")," : ","));
        }

        if (hasAttestations)
        {
            w.WriteLine("attestations:");
            w.WriteLine("[");
            w.Indentation++;
            for (var a = 0; a < entry.Attestations.Count; a++)
            {
                var attestation = entry.Attestations[a];
                w.WriteLine("new AttestationDefinition(");
                w.Indentation++;
                w.WriteLine($"{CSharp.Literal(attestation.Path)},");
                w.WriteLine($"{CSharp.Literal(attestation.Type)},");
                w.WriteLine("[");
                w.Indentation++;
                foreach (var set in attestation.Attestors)
                {
                    WriteAttestorSet(w, set, fields);
                    w.WriteLine(",");
                }

                w.Indentation--;
                var name = attestation.Name is null ? null : $"name: {CSharp.Literal(attestation.Name)}";
                if (attestation.Conditions.IsEmpty)
                {
                    w.WriteLine(name is null ? "])," : "],");
                }
                else
                {
                    w.WriteLine("],");
                    w.WriteLine("conditions:");
                    ConditionEmitter.WriteDefinitions(w, AttestationPrefix(ruleIndex, entryIndex, a), attestation.Conditions);
                    var conditionsReadRequest = readsContext || ConditionEmitter.ReadsRequest(attestation.Conditions);
                    w.WriteLine(conditionsReadRequest || name is not null ? "," : "),");
                    if (conditionsReadRequest)
                    {
                        w.WriteLine(name is null ? "conditionsReadRequest: true)," : "conditionsReadRequest: true,");
                    }
                }

                if (name is not null)
                {
                    w.WriteLine(name + "),");
                }

                w.Indentation--;
            }

            w.Indentation--;
            w.WriteLine("]),");
        }

        w.Indentation--;
    }

    /// <summary>Writes <c>new AttestorSetDefinition(…)</c> without a trailing separator (the caller adds it).</summary>
    private static void WriteAttestorSet(SourceWriter w, AttestorSetModel set, TrustMaterial fields)
    {
        w.WriteLine("new AttestorSetDefinition(");
        w.Indentation++;
        w.WriteLine($"path: {CSharp.Literal(set.Path)},");
        w.WriteLine($"count: {(set.Count is { } count ? CSharp.Literal(count) : "null")},");
        w.WriteLine("entries:");
        w.WriteLine("[");
        w.Indentation++;
        foreach (var attestor in set.Entries)
        {
            WriteAttestor(w, attestor, fields);
        }

        w.Indentation--;
        w.Append("])");
        w.Indentation--;
    }

    /// <param name="values">The substituted fields of a templated attestor: a substituted <c>ctlog.pubkey</c> replaces the literal one.</param>
    private static string CtLogs(CtLogModel ctlog, TrustMaterial fields, Dictionary<string, string>? values = null) =>
        !ctlog.IgnoreSct && values is not null && values.TryGetValue("ctlog.pubkey", out var substituted) ? $"[TransparencyLog.FromKey(\"ctlog\", {substituted})]"
        : ctlog.Key is { } key ? $"[TransparencyLog.FromKey(\"ctlog\", {fields.Key(key)})]"
        : "null";

    /// <summary>
    /// The requirements of a templated attestor for one review: the static ones, with the transparency log and the
    /// timestamp authorities replaced by what <c>rekor.url</c>, <c>rekor.pubkey</c> and <c>ctlog.tsaCertChain</c> gave.
    /// </summary>
    private static string Requirements(AttestorModel attestor, string requirements, Dictionary<string, string> values, TrustMaterial fields)
    {
        var arguments = new List<string>();
        var tlog = attestor.Requirements.Tlog;
        if (!tlog.Ignore && (values.ContainsKey("rekor.url") || values.ContainsKey("rekor.pubkey")))
        {
            var url = values.TryGetValue("rekor.url", out var substitutedUrl) ? substitutedUrl : CSharp.Literal(tlog.Url ?? string.Empty);
            var key = values.TryGetValue("rekor.pubkey", out var substitutedKey) ? substitutedKey : tlog.Key is { } literal ? fields.Key(literal) : null;
            // Without a key only the public-good Rekor may be named: ForUrl refuses any other URL at admission.
            arguments.Add(key is null ? $"tlog: TransparencyLogPolicy.ForUrl({url})" : $"tlog: TransparencyLogPolicy.WithKey({url}, {key})");
        }

        if (values.TryGetValue("ctlog.tsaCertChain", out var chain))
        {
            arguments.Add($"timestampAuthorities: [CertificateAuthority.ForTimestampChain({chain})]");
        }

        return arguments.Count == 0 ? requirements : $"{requirements}.With({string.Join(", ", arguments)})";
    }

    private static void WriteAttestor(SourceWriter w, AttestorModel attestor, TrustMaterial fields)
    {
        var path = CSharp.Literal(attestor.Path);
        var requirements = fields.Requirements(attestor.Requirements);
        var repository = attestor.Repository is null ? string.Empty : $", repository: {CSharp.Literal(attestor.Repository)}";
        if (attestor.SecretKey is { } templatedSecret && !attestor.LogTemplates.IsEmpty)
        {
            WriteTemplated(w, attestor.Path, attestor.LogTemplates, fields, values =>
                $"new SecretKeyAttestorDefinition({path}, {CSharp.Literal(templatedSecret.Namespace)}, {CSharp.Literal(templatedSecret.Name)}, {HashName(templatedSecret.Hash)}, {Requirements(attestor, requirements, values, fields)}{repository})");
        }
        else if (attestor.SecretKey is { } secret)
        {
            var requirementsArgument = requirements == "SignatureRequirements.None" && repository.Length == 0 ? string.Empty : ", " + requirements;
            w.WriteLine($"new SecretKeyAttestorDefinition({path}, {CSharp.Literal(secret.Namespace)}, {CSharp.Literal(secret.Name)}, {HashName(secret.Hash)}{requirementsArgument}{repository}),");
        }
        else if (attestor.VariableKey is { } templatedVariable && !attestor.LogTemplates.IsEmpty)
        {
            // The key template is substituted after the log's, from the same review; the verdict is per request when either reads it.
            WriteTemplated(w, attestor.Path, attestor.LogTemplates, fields, values =>
                $"new VariableKeyAttestorDefinition({path}, {fields.KeyTemplate(templatedVariable)}, {CSharp.Literal(templatedVariable.Text)}, {HashName(templatedVariable.Hash)}, {Requirements(attestor, requirements, values, fields)}{repository}{(templatedVariable.ReadsRequest ? ", readsRequest: true" : string.Empty)})",
                readsRequest: templatedVariable.ReadsRequest);
        }
        else if (attestor.VariableKey is { } variable)
        {
            var requirementsArgument = requirements == "SignatureRequirements.None" && repository.Length == 0 ? string.Empty : ", " + requirements;
            var readsRequest = variable.ReadsRequest ? ", readsRequest: true" : string.Empty;
            w.WriteLine($"new VariableKeyAttestorDefinition({path}, {fields.KeyTemplate(variable)}, {CSharp.Literal(variable.Text)}, {HashName(variable.Hash)}{requirementsArgument}{repository}{readsRequest}),");
        }
        else if (attestor.KmsKey is { } templatedKms && !attestor.LogTemplates.IsEmpty)
        {
            WriteTemplated(w, attestor.Path, attestor.LogTemplates, fields, values =>
                $"new KmsKeyAttestorDefinition({path}, {CSharp.Literal(templatedKms.Reference)}, {HashName(templatedKms.Hash)}, {Requirements(attestor, requirements, values, fields)}{repository})");
        }
        else if (attestor.KmsKey is { } kms)
        {
            var requirementsArgument = requirements == "SignatureRequirements.None" && repository.Length == 0 ? string.Empty : ", " + requirements;
            w.WriteLine($"new KmsKeyAttestorDefinition({path}, {CSharp.Literal(kms.Reference)}, {HashName(kms.Hash)}{requirementsArgument}{repository}),");
        }
        else if (attestor.Key is { } templatedKey && !attestor.LogTemplates.IsEmpty)
        {
            WriteTemplated(w, attestor.Path, attestor.LogTemplates, fields, values =>
                $"new PublicKeyAttestorDefinition({path}, {fields.Key(templatedKey)}, {Requirements(attestor, requirements, values, fields)}{repository})");
        }
        else if (attestor.Key is { } key)
        {
            var requirementsArgument = requirements == "SignatureRequirements.None" && repository.Length == 0 ? string.Empty : ", " + requirements;
            w.WriteLine($"new PublicKeyAttestorDefinition({path}, {fields.Key(key)}{requirementsArgument}{repository}),");
        }
        else if (attestor.Certificates is { IsTrustStore: true } templatedStore && !(templatedStore.Templates.IsEmpty && attestor.LogTemplates.IsEmpty))
        {
            WriteTemplated(w, attestor.Path, [.. templatedStore.Templates, .. attestor.LogTemplates], fields, values =>
            {
                var substituted = templatedStore.Templates.Select(t => values[t.Field]);
                var parts = templatedStore.Chain.Select(fields.Certificate).Concat(substituted.Select(v => ".. " + v));
                return $"new SignatureAttestorDefinition({path}, CertificateSigner.NotaryTrustStore([{string.Join(", ", parts)}]), {Requirements(attestor, requirements, values, fields)}{repository})";
            }, allCertificates: true);
        }
        else if (attestor.Certificates is { IsTrustStore: true } store)
        {
            w.WriteLine($"new SignatureAttestorDefinition({path}, CertificateSigner.NotaryTrustStore([{string.Join(", ", store.Chain.Select(fields.Certificate))}]), {requirements}{repository}),");
        }
        else if (attestor.Certificates is { } templatedCertificates && !(templatedCertificates.Templates.IsEmpty && attestor.LogTemplates.IsEmpty))
        {
            WriteTemplated(w, attestor.Path, [.. templatedCertificates.Templates, .. attestor.LogTemplates], fields, values =>
            {
                string Value(string field, string literal) => values.TryGetValue(field, out var value) ? value : literal;
                var certificate = Value("cert", templatedCertificates.Certificate is null ? "null" : fields.Certificate(templatedCertificates.Certificate));
                var chain = Value("certChain", "[" + string.Join(", ", templatedCertificates.Chain.Select(fields.Certificate)) + "]");
                // Without a chain cosign checks no SCT (as for a literal bare cert); a substituted chain is never empty.
                var ignoreSct = CSharp.Literal(templatedCertificates.CtLog.IgnoreSct || (templatedCertificates.Chain.IsEmpty && !values.ContainsKey("certChain")));
                return $"new SignatureAttestorDefinition({path}, new CertificateSigner({certificate}, {chain}, {HashName(templatedCertificates.Hash)}, ignoreSct: {ignoreSct}, ctLogs: {CtLogs(templatedCertificates.CtLog, fields, values)}), {Requirements(attestor, requirements, values, fields)}{repository})";
            });
        }
        else if (attestor.Keyless is { } templatedKeyless && !(templatedKeyless.Templates.IsEmpty && attestor.LogTemplates.IsEmpty))
        {
            WriteTemplated(w, attestor.Path, [.. templatedKeyless.Templates, .. attestor.LogTemplates], fields, values =>
            {
                string Text(string field, string? literal) => values.TryGetValue(field, out var value) ? value : CSharp.Literal(literal);
                string Pattern(string field, string? literal) => values.TryGetValue(field, out var value) ? $"GoRegex.Create({value})" : Regex(literal);
                var substitutedExtensions = values
                    .Where(v => v.Key.StartsWith(KeylessModel.ExtensionField, StringComparison.Ordinal))
                    .Select(v => (v.Key.Substring(KeylessModel.ExtensionField.Length), v.Value));
                var identity = $"new KeylessIdentity({Text("subject", templatedKeyless.Subject)}, {Pattern("subjectRegExp", templatedKeyless.SubjectRegExp)}, {Text("issuer", templatedKeyless.Issuer)}, {Pattern("issuerRegExp", templatedKeyless.IssuerRegExp)}, {Extensions(templatedKeyless.Extensions, substitutedExtensions)})";
                var roots = values.TryGetValue("roots", out var substituted)
                    ? substituted
                    : templatedKeyless.Roots.IsEmpty ? "null" : "[" + string.Join(", ", templatedKeyless.Roots.Select(fields.Certificate)) + "]";
                return $"new SignatureAttestorDefinition({path}, new KeylessSigner({identity}, roots: {roots}, ignoreSct: {CSharp.Literal(templatedKeyless.CtLog.IgnoreSct)}, ctLogs: {CtLogs(templatedKeyless.CtLog, fields, values)}), {Requirements(attestor, requirements, values, fields)}{repository})";
            });
        }
        else if (attestor.Certificates is { } certificates)
        {
            var certificate = certificates.Certificate is null ? "null" : fields.Certificate(certificates.Certificate);
            var chain = "[" + string.Join(", ", certificates.Chain.Select(fields.Certificate)) + "]";
            w.WriteLine($"new SignatureAttestorDefinition({path}, new CertificateSigner({certificate}, {chain}, {HashName(certificates.Hash)}, ignoreSct: {CSharp.Literal(certificates.CtLog.IgnoreSct)}, ctLogs: {CtLogs(certificates.CtLog, fields)}), {requirements}{repository}),");
        }
        else if (attestor.Keyless is { } keyless)
        {
            w.WriteLine("new SignatureAttestorDefinition(");
            w.Indentation++;
            w.WriteLine($"{path},");
            w.WriteLine("new KeylessSigner(");
            w.Indentation++;
            w.WriteLine($"new KeylessIdentity({CSharp.Literal(keyless.Subject)}, {Regex(keyless.SubjectRegExp)}, {CSharp.Literal(keyless.Issuer)}, {Regex(keyless.IssuerRegExp)}, {Extensions(keyless.Extensions)}),");
            w.WriteLine($"roots: {(keyless.Roots.IsEmpty ? "null" : "[" + string.Join(", ", keyless.Roots.Select(fields.Certificate)) + "]")},");
            w.WriteLine($"ignoreSct: {CSharp.Literal(keyless.CtLog.IgnoreSct)},");
            w.WriteLine($"ctLogs: {CtLogs(keyless.CtLog, fields)}),");
            w.Indentation--;
            w.WriteLine($"{requirements}{repository}),");
            w.Indentation--;
        }
        else if (attestor.Nested is { } nested)
        {
            w.WriteLine("new NestedAttestorDefinition(");
            w.Indentation++;
            w.WriteLine($"{path},");
            WriteAttestorSet(w, nested, fields);
            w.WriteLine("),");
            w.Indentation--;
        }
    }

    /// <summary>
    /// Writes a <c>TemplatedAttestorDefinition</c>: the templates in order, and a lambda building the attestor from their
    /// texts. <paramref name="build"/> is given each templated field's C# expression for its substituted text
    /// (<c>values[0]</c>, …, or the PEM parsed from it) and returns the lambda's body.
    /// </summary>
    /// <param name="allCertificates">A Notary trust store: <c>cert</c> may hold several certificates, as <c>certChain</c> may.</param>
    /// <param name="readsRequest">The attestor built reads the request itself (a key template), besides what the templates read.</param>
    private static void WriteTemplated(SourceWriter w, string attestorPath, IReadOnlyList<TemplateFieldModel> templates, TrustMaterial fields, Func<Dictionary<string, string>, string> build, bool allCertificates = false, bool readsRequest = false)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < templates.Count; i++)
        {
            var value = $"values[{i.ToString(CultureInfo.InvariantCulture)}]";
            values[templates[i].Field] = templates[i].Field switch
            {
                "cert" => allCertificates ? $"PemCertificates.All({value})" : $"PemCertificates.One({value})",
                "certChain" or "roots" or "ctlog.tsaCertChain" => $"PemCertificates.All({value})",
                "rekor.pubkey" or "ctlog.pubkey" => $"PemPublicKeys.One({value}, {CSharp.Literal(templates[i].Field)})",
                "rekor.url" => $"TransparencyLogPolicy.CheckUrl({value})",
                _ => value,
            };
        }

        w.WriteLine("new TemplatedAttestorDefinition(");
        w.Indentation++;
        w.WriteLine($"{CSharp.Literal(attestorPath)},");
        w.WriteLine("[");
        w.Indentation++;
        foreach (var template in templates)
        {
            w.WriteLine($"new AttestorTemplate({CSharp.Literal(template.Field)}, {CSharp.Literal(template.Text)}, {fields.Template(template.Field, template.Template, template.Text)}),");
        }

        w.Indentation--;
        w.WriteLine("],");
        readsRequest |= templates.Any(t => t.ReadsRequest);
        w.WriteLine($"values => {build(values)}{(readsRequest ? "," : "),")}");
        if (readsRequest)
        {
            w.WriteLine("readsRequest: true),");
        }

        w.Indentation--;
    }

    // subjectRegExp and issuerRegExp are Go regexes (cosign compiles them); GoRegex gives them Go's meaning.
    private static string Regex(string? pattern) => pattern is null ? "null" : $"GoRegex.Create({CSharp.Literal(pattern)})";

    /// <param name="substituted">Extensions whose values are substituted at admission: their names and C# expressions.</param>
    private static string Extensions(EquatableArray<KeyValueModel> extensions, IEnumerable<(string Name, string Expression)>? substituted = null)
    {
        var entries = extensions.Select(e => (Name: e.Key, Expression: CSharp.Literal(e.Value)))
            .Concat(substituted ?? [])
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .Select(e => $"[{CSharp.Literal(e.Name)}] = {e.Expression}")
            .ToList();
        return entries.Count == 0 ? "null" : "new Dictionary<string, string>(StringComparer.Ordinal) { " + string.Join(", ", entries) + " }";
    }

    private static void WriteMatch(SourceWriter w, string ruleName, MatchModel matchBlock, MatchModel? excludeBlock, string method)
    {
        w.WriteLine();
        w.WriteLine($"/// <summary>Rule <c>{Xml(ruleName)}</c>: its match{(excludeBlock is null ? string.Empty : " and exclude")} blocks.</summary>");
        w.WriteLine($"private static bool {method}(AdmissionContext request) =>");
        w.Indentation++;
        var match = Block(matchBlock);
        if (excludeBlock is { } exclude)
        {
            w.WriteLine(match.AsOperandOf(Condition.And));
            w.WriteLine("&& " + Block(exclude).Negated() + ";");
        }
        else
        {
            WriteAlternatives(w, match);
        }

        w.Indentation--;
    }

    /// <summary>A match or exclude block holds when one of its <c>any</c> filters and all of its <c>all</c> filters do.</summary>
    private static Condition Block(MatchModel block)
    {
        var conditions = new List<Condition>();
        if (!block.Any.IsEmpty)
        {
            conditions.Add(Condition.Join(Condition.Or, block.Any.Select(Filter)));
        }

        conditions.AddRange(block.All.Select(Filter));
        return Condition.Join(Condition.And, conditions);
    }

    private static Condition Filter(ResourceFilterModel filter)
    {
        var parts = new List<Condition>();
        if (!filter.Kinds.IsEmpty)
        {
            parts.Add(Condition.Join(Condition.Or, filter.Kinds.Select(k => Condition.Call($"request.KindIs({CSharp.Literal(k.Group)}, {CSharp.Literal(k.Version)}, {CSharp.Literal(k.Kind)}, {CSharp.Literal(k.SubResource)})"))));
        }

        if (!filter.Names.IsEmpty)
        {
            parts.Add(Condition.Join(Condition.Or, filter.Names.Select(n => Pattern(n, "request.Name"))));
        }

        if (!filter.Namespaces.IsEmpty)
        {
            parts.Add(Condition.Join(Condition.Or, filter.Namespaces.Select(n => Pattern(n, "request.Namespace"))));
        }

        if (!filter.Operations.IsEmpty)
        {
            parts.Add(Condition.Join(Condition.Or, filter.Operations.Select(o => Condition.Comparison($"request.Operation == {CSharp.Literal(o)}"))));
        }

        // Kyverno: every annotation pair must meet a resource annotation whose key and value its wildcards match.
        parts.AddRange(filter.Annotations.Select(a => Condition.Call($"request.Annotations.Matches({CSharp.Literal(a.Key)}, {CSharp.Literal(a.Value)})")));
        if (filter.Selector is { } selector)
        {
            parts.Add(Selector(selector, "request.Labels"));
        }

        if (filter.NamespaceSelector is { } namespaceSelector)
        {
            parts.Add(Selector(namespaceSelector, "request.NamespaceLabels"));
        }

        if (!filter.Subjects.IsEmpty)
        {
            parts.Add(Condition.Join(Condition.Or, filter.Subjects.Select(Subject)));
        }

        // Kyverno: one of the listed roles must be the user's; users of its excluded groups skip the check (RoleBook).
        if (!filter.Roles.IsEmpty)
        {
            parts.Add(Condition.Join(Condition.Or, filter.Roles.Select(r => Condition.Call($"request.HasRole({CSharp.Literal(r)})"))));
        }

        if (!filter.ClusterRoles.IsEmpty)
        {
            parts.Add(Condition.Join(Condition.Or, filter.ClusterRoles.Select(r => Condition.Call($"request.HasClusterRole({CSharp.Literal(r)})"))));
        }

        return Condition.Join(Condition.And, parts);
    }

    /// <summary>
    /// A label selector over <paramref name="labels"/>: exact <c>matchLabels</c> are one dictionary lookup; Kyverno's
    /// wildcards in keys or values scan the labels; requirements follow the Kubernetes operators.
    /// </summary>
    private static Condition Selector(LabelSelectorModel selector, string labels)
    {
        var parts = new List<Condition>();
        foreach (var pair in selector.MatchLabels)
        {
            var wildcard = pair.Key.IndexOfAny(s_wildcards) >= 0 || pair.Value.IndexOfAny(s_wildcards) >= 0;
            parts.Add(Condition.Call($"{labels}.{(wildcard ? "Matches" : "Is")}({CSharp.Literal(pair.Key)}, {CSharp.Literal(pair.Value)})"));
        }

        foreach (var requirement in selector.Expressions)
        {
            var key = CSharp.Literal(requirement.Key);
            var values = string.Concat(requirement.Values.Select(v => ", " + CSharp.Literal(v)));
            parts.Add(requirement.Operator switch
            {
                "In" => Condition.Call($"{labels}.In({key}{values})"),
                "NotIn" => Condition.Call($"!{labels}.In({key}{values})"),
                "Exists" => Condition.Call($"{labels}.Has({key})"),
                _ => Condition.Call($"!{labels}.Has({key})"),
            });
        }

        return Condition.Join(Condition.And, parts);
    }

    /// <summary>Kyverno compares a ServiceAccount with the username's <c>system:serviceaccount:</c> suffix, a User or Group with the username and every group.</summary>
    private static Condition Subject(SubjectModel subject) =>
        subject.Kind == "ServiceAccount"
            ? Condition.Call($"request.ServiceAccountMatches({CSharp.Literal(subject.Namespace + ":" + subject.Name)})")
            : Condition.Call($"request.UserOrGroupMatches({CSharp.Literal(subject.Name)})");

    private static readonly char[] s_wildcards = ['*', '?'];

    /// <summary>The rule's optional named arguments that follow from its match blocks and entries, in parameter order.</summary>
    private static IEnumerable<string> RuleFlags(RuleModel rule, MatchModel match, MatchModel? exclude)
    {
        if (ReadsNamespaceLabels(match, exclude))
        {
            yield return "readsNamespaceLabels: true";
        }

        if (rule.FailureAction is { } action)
        {
            yield return $"failureAction: FailureAction.{action}";
        }

        var filters = match.Any.Concat(match.All).Concat(exclude is null ? [] : exclude.Any.Concat(exclude.All)).ToList();
        var roles = new List<string>();
        if (filters.Any(f => !f.Roles.IsEmpty))
        {
            roles.Add("RoleUse.Roles");
        }

        if (filters.Any(f => !f.ClusterRoles.IsEmpty))
        {
            roles.Add("RoleUse.ClusterRoles");
        }

        if (roles.Count > 0)
        {
            yield return "roles: " + string.Join(" | ", roles);
        }
    }

    /// <summary>Rules whose match or exclude reads namespace labels make the engine look them up before matching.</summary>
    internal static bool ReadsNamespaceLabels(MatchModel match, MatchModel? exclude) =>
        match.Any.Concat(match.All).Concat(exclude is null ? [] : exclude.Any.Concat(exclude.All)).Any(f => f.NamespaceSelector is not null);

    private static void WriteImageReferences(SourceWriter w, RuleModel rule, int ruleIndex, ImageVerificationModel entry, int entryIndex)
    {
        w.WriteLine();
        w.WriteLine($"/// <summary>Rule <c>{Xml(rule.Name)}</c>, verifyImages[{entry.Index.ToString(CultureInfo.InvariantCulture)}].imageReferences: {Xml(string.Join(", ", entry.ImageReferences))}.</summary>");
        w.WriteLine($"private static bool {ImagesMethod(ruleIndex, entryIndex)}(string image) =>");
        w.Indentation++;
        WriteAlternatives(w, Condition.Join(Condition.Or, entry.ImageReferences.Select(p => Pattern(p, "image"))));
        w.Indentation--;
        if (!entry.SkipImageReferences.IsEmpty)
        {
            w.WriteLine();
            w.WriteLine($"/// <summary>Rule <c>{Xml(rule.Name)}</c>, verifyImages[{entry.Index.ToString(CultureInfo.InvariantCulture)}].skipImageReferences: {Xml(string.Join(", ", entry.SkipImageReferences))}.</summary>");
            w.WriteLine($"private static bool {SkipImagesMethod(ruleIndex, entryIndex)}(string image) =>");
            w.Indentation++;
            WriteAlternatives(w, Condition.Join(Condition.Or, entry.SkipImageReferences.Select(p => Pattern(p, "image"))));
            w.Indentation--;
        }
    }

    /// <summary>Writes an expression body, one line per top-level alternative.</summary>
    private static void WriteAlternatives(SourceWriter w, Condition condition)
    {
        if (condition.Operator != Condition.Or)
        {
            w.WriteLine(condition + ";");
            return;
        }

        for (var i = 0; i < condition.Operands.Count; i++)
        {
            w.WriteLine((i == 0 ? string.Empty : "|| ") + condition.Operands[i].AsOperandOf(Condition.Or) + (i == condition.Operands.Count - 1 ? ";" : string.Empty));
        }
    }

    /// <summary>
    /// Compiles a Kyverno wildcard to the cheapest equivalent test: equality, prefix, suffix, prefix-and-suffix,
    /// containment, and the general matcher only for patterns with '?' or several stars.
    /// </summary>
    internal static Condition Pattern(string pattern, string subject)
    {
        if (pattern.Trim('*').Length == 0)
        {
            return Condition.True;
        }

        if (pattern.IndexOf('?') >= 0)
        {
            return Condition.Call($"Wildcard.Match({CSharp.Literal(pattern)}, {subject})");
        }

        var stars = pattern.Count(c => c == '*');
        if (stars == 0)
        {
            return Condition.Comparison($"{subject} == {CSharp.Literal(pattern)}");
        }

        if (stars == 1)
        {
            var star = pattern.IndexOf('*');
            var prefix = pattern.Substring(0, star);
            var suffix = pattern.Substring(star + 1);
            if (suffix.Length == 0)
            {
                return Condition.Call($"{subject}.StartsWith({CSharp.Literal(prefix)}, StringComparison.Ordinal)");
            }

            if (prefix.Length == 0)
            {
                return Condition.Call($"{subject}.EndsWith({CSharp.Literal(suffix)}, StringComparison.Ordinal)");
            }

            return Condition.Join(
                Condition.And,
                [
                    Condition.Comparison($"{subject}.Length >= {CSharp.Literal(prefix.Length + suffix.Length)}"),
                    Condition.Call($"{subject}.StartsWith({CSharp.Literal(prefix)}, StringComparison.Ordinal)"),
                    Condition.Call($"{subject}.EndsWith({CSharp.Literal(suffix)}, StringComparison.Ordinal)"),
                ]);
        }

        if (stars == 2 && pattern[0] == '*' && pattern[pattern.Length - 1] == '*')
        {
            return Condition.Call($"{subject}.Contains({CSharp.Literal(pattern.Substring(1, pattern.Length - 2))}, StringComparison.Ordinal)");
        }

        return Condition.Call($"Wildcard.Match({CSharp.Literal(pattern)}, {subject})");
    }

    private static string MatchMethod(int ruleIndex) => "MatchRule" + ruleIndex.ToString(CultureInfo.InvariantCulture);

    private static string MatchMethod(int ruleIndex, int autogenIndex) => MatchMethod(ruleIndex) + "Autogen" + autogenIndex.ToString(CultureInfo.InvariantCulture);

    private static string AttestationPrefix(int ruleIndex, int entryIndex, int attestationIndex) =>
        "Rule" + ruleIndex.ToString(CultureInfo.InvariantCulture) + "Image" + entryIndex.ToString(CultureInfo.InvariantCulture)
        + "Attestation" + attestationIndex.ToString(CultureInfo.InvariantCulture);

    private static string ExtractorJmesPathMethod(int ruleIndex, int extractorIndex) =>
        "Rule" + ruleIndex.ToString(CultureInfo.InvariantCulture) + "Extractor" + extractorIndex.ToString(CultureInfo.InvariantCulture) + "JmesPath";

    private static string DenyField(int ruleIndex, int entryIndex) =>
        "Rule" + ruleIndex.ToString(CultureInfo.InvariantCulture) + "Image" + entryIndex.ToString(CultureInfo.InvariantCulture) + "Deny";

    private static string RegistryCredentialsDefinition(RegistryCredentialsModel credentials)
    {
        var secrets = "[" + string.Join(", ", credentials.Secrets.Select(CSharp.Literal)) + "]";
        var providers = credentials.Providers.IsEmpty ? string.Empty : ", [" + string.Join(", ", credentials.Providers.Select(CSharp.Literal)) + "]";
        return $"new RegistryCredentialsDefinition({CSharp.Literal(credentials.AllowInsecure)}, {secrets}{providers})";
    }

    private static string ContextField(int ruleIndex) => "Rule" + ruleIndex.ToString(CultureInfo.InvariantCulture) + "Context";

    private static string PreconditionsField(int ruleIndex) => "Rule" + ruleIndex.ToString(CultureInfo.InvariantCulture) + "Preconditions";

    private static string VerifyImagesField(int ruleIndex) => "Rule" + ruleIndex.ToString(CultureInfo.InvariantCulture) + "VerifyImages";

    private static string ImagesMethod(int ruleIndex, int entryIndex) =>
        $"ImageReferencesRule{ruleIndex.ToString(CultureInfo.InvariantCulture)}Entry{entryIndex.ToString(CultureInfo.InvariantCulture)}";

    private static string SkipImagesMethod(int ruleIndex, int entryIndex) =>
        $"SkipImageReferencesRule{ruleIndex.ToString(CultureInfo.InvariantCulture)}Entry{entryIndex.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The C# for a <c>signatureAlgorithm</c>: .NET names no SHA-224, so that one is constructed by name.</summary>
    internal static string HashName(string hash) =>
        hash == "sha224" ? "new HashAlgorithmName(\"SHA224\")" : "HashAlgorithmName." + hash.ToUpperInvariant();

    internal static string DescribeAlgorithm(string algorithm) => algorithm switch
    {
        "EcdsaP256" => "ECDSA P-256",
        "EcdsaP384" => "ECDSA P-384",
        "EcdsaP521" => "ECDSA P-521",
        "Rsa" => "RSA",
        "Ed25519" => "Ed25519",
        _ => algorithm,
    };

    internal static string Xml(string text) => CSharp.CommentSafe(text).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
