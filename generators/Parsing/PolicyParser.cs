using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Yaml;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PolicyCompiler.Generators.Parsing;

/// <summary>
/// Reads policy YAML into <see cref="PolicySyntax"/>: structure and types only. Every field of the Kyverno v1 API
/// is known here; the ones this version cannot compile yet are reported as such (PC0099) rather than as unknown.
/// </summary>
internal static class PolicyParser
{
    private static readonly string[] s_policyFields = ["apiVersion", "kind", "metadata", "spec", "status"];
    private static readonly string[] s_metadataFields = ["name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers", "managedFields", "selfLink"];
    private static readonly string[] s_specFields = ["rules", "applyRules", "failurePolicy", "validationFailureAction", "validationFailureActionOverrides", "emitWarning", "admission", "background", "schemaValidation", "webhookTimeoutSeconds", "mutateExistingOnPolicyUpdate", "generateExisting", "generateExistingOnPolicyUpdate", "useServerSideApply", "webhookConfiguration"];
    private static readonly string[] s_ruleFields = ["name", "context", "reportProperties", "match", "exclude", "imageExtractors", "preconditions", "celPreconditions", "mutate", "validate", "generate", "verifyImages", "skipBackgroundRequests"];
    private static readonly string[] s_webhookConfigurationFields = ["failurePolicy", "timeoutSeconds", "matchConditions"];
    private static readonly string[] s_matchConditionFields = ["name", "expression"];
    private static readonly string[] s_overrideFields = ["action", "namespaces", "namespaceSelector"];
    private static readonly string[] s_matchFields = ["any", "all", "resources", "subjects", "roles", "clusterRoles"];
    private static readonly string[] s_filterFields = ["resources", "subjects", "roles", "clusterRoles"];
    private static readonly string[] s_registryCredentialFields = ["allowInsecureRegistry", "providers", "secrets"];
    private static readonly string[] s_secretFields = ["name", "namespace"];
    private static readonly string[] s_validationFields = ["message", "deny"];
    private static readonly string[] s_denyFields = ["conditions"];
    private static readonly string[] s_subjectFields = ["kind", "name", "namespace", "apiGroup"];
    private static readonly string[] s_selectorFields = ["matchLabels", "matchExpressions"];
    private static readonly string[] s_requirementFields = ["key", "operator", "values"];
    private static readonly string[] s_resourceFields = ["kinds", "name", "names", "namespaces", "annotations", "selector", "namespaceSelector", "operations"];
    private static readonly string[] s_verifyImageFields = ["failureAction", "type", "image", "imageReferences", "skipImageReferences", "key", "roots", "subject", "issuer", "additionalExtensions", "attestors", "attestations", "annotations", "repository", "cosignOCI11", "mutateDigest", "verifyDigest", "validate", "required", "imageRegistryCredentials", "useCache"];
    private static readonly string[] s_attestorSetFields = ["count", "entries"];
    private static readonly string[] s_imageExtractorFields = ["name", "path", "value", "key", "jmesPath"];
    private static readonly string[] s_attestationFields = ["name", "type", "predicateType", "attestors", "conditions"];
    private static readonly string[] s_attestorFields = ["keys", "certificates", "keyless", "attestor", "annotations", "repository", "signatureAlgorithm"];
    private static readonly string[] s_keysFields = ["publicKeys", "signatureAlgorithm", "kms", "secret", "rekor", "ctlog"];
    private static readonly string[] s_certificatesFields = ["cert", "certChain", "rekor", "ctlog"];
    private static readonly string[] s_keylessFields = ["subject", "subjectRegExp", "issuer", "issuerRegExp", "roots", "additionalExtensions", "rekor", "ctlog"];
    private static readonly string[] s_rekorFields = ["url", "pubkey", "ignoreTlog"];
    private static readonly string[] s_ctlogFields = ["ignoreSCT", "pubkey", "tsaCertChain"];

    /// <summary>Parses every YAML document of a file; a syntax error stops the file at that point.</summary>
    public static List<PolicySyntax> Parse(YamlFile file)
    {
        var result = new List<PolicySyntax>();
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(file.Text));
        try
        {
            stream.Load(parser);
        }
        catch (YamlException e)
        {
            file.Report(DiagnosticDescriptors.InvalidYaml, file.Locate(e.Start, e.End), CleanMessage(e));
            return result;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet 16.3 throws these instead of a YamlException for some malformed input (a plain scalar cut
            // by a flow indicator, an event its node loader does not expect: found by build/fuzz.sh). Escaping the
            // generator they would be warning CS8785 and a build that silently compiles no policy.
            var at = parser.Current?.Start ?? Mark.Empty;
            file.Report(DiagnosticDescriptors.InvalidYaml, file.Locate(at, parser.Current?.End ?? at), "the YAML reader cannot read the document from here on");
            return result;
        }

        foreach (var document in stream.Documents)
        {
            var root = document.RootNode;
            if (MappingReader.IsNull(root))
            {
                continue;
            }

            if (root is not YamlMappingNode mapping)
            {
                file.Report(DiagnosticDescriptors.WrongType, file.Locate(root), "document", "a mapping", MappingReader.Describe(root), "a Kubernetes object with apiVersion, kind, metadata and spec");
                continue;
            }

            result.Add(ParsePolicy(new MappingReader(file, mapping, string.Empty, "a Kyverno policy")));
        }

        return result;
    }

    private static string CleanMessage(YamlException e)
    {
        var message = e.Message;

        // YamlDotNet prefixes positions ("(Line: 3, Col: 5, Idx: 20) - (…): "); the diagnostic carries its own.
        var dash = message.IndexOf("): ", StringComparison.Ordinal);
        if (message.StartsWith("(Line", StringComparison.Ordinal) && dash > 0)
        {
            message = message.Substring(dash + 3);
        }

        return message.TrimEnd('.');
    }

    private static PolicySyntax ParsePolicy(MappingReader reader)
    {
        var policy = new PolicySyntax
        {
            Location = reader.Location,
            ApiVersion = reader.TakeString("apiVersion"),
            Kind = reader.TakeString("kind"),
        };
        reader.Ignore("status");

        if (reader.TakeMapping("metadata", "ObjectMeta") is { } metadata)
        {
            policy.Name = metadata.TakeString("name");
            policy.Namespace = metadata.TakeString("namespace");
            policy.Annotations = metadata.TakeStringMap("annotations") ?? [];
            metadata.TakeStringMap("labels");
            metadata.NotSupported("generateName", "a policy needs a fixed name");
            metadata.Ignore("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers", "managedFields", "selfLink");
            metadata.RejectUnknown(s_metadataFields);
        }

        if (reader.TakeMapping("spec", "Spec") is { } spec)
        {
            policy.Spec = ParseSpec(spec);
        }

        reader.RejectUnknown(s_policyFields);
        return policy;
    }

    private static SpecSyntax ParseSpec(MappingReader reader)
    {
        var spec = new SpecSyntax
        {
            Location = reader.Location,
            ValidationFailureAction = reader.TakeString("validationFailureAction"),
            FailurePolicy = reader.TakeString("failurePolicy"),
            WebhookTimeoutSeconds = reader.TakeInt("webhookTimeoutSeconds"),
            Background = reader.TakeBool("background"),
            ApplyRules = reader.TakeString("applyRules"),
        };

        // Fields that only concern other rule types or background scans.
        reader.TakeBool("mutateExistingOnPolicyUpdate");
        reader.TakeBool("generateExisting");
        reader.TakeBool("generateExistingOnPolicyUpdate");
        reader.TakeBool("useServerSideApply");
        reader.TakeBool("schemaValidation");
        reader.TakeBool("emitWarning");
        reader.TakeBool("admission");
        foreach (var (item, _) in reader.TakeMappingList("validationFailureActionOverrides", "ValidationFailureActionOverride", "'- action: Enforce' with namespaces or a namespaceSelector") ?? [])
        {
            spec.FailureActionOverrides.Add(new FailureActionOverrideSyntax
            {
                Location = item.Location,
                Action = item.TakeString("action"),
                Namespaces = item.Has("namespaces") ? item.TakeStringList("namespaces") ?? [] : null,
                NamespaceSelector = ParseSelector(item, "namespaceSelector"),
            });
            item.RejectUnknown(s_overrideFields);
        }
        if (reader.TakeMapping("webhookConfiguration", "WebhookConfiguration") is { } webhook)
        {
            spec.WebhookFailurePolicy = webhook.TakeString("failurePolicy");
            spec.WebhookConfigurationTimeoutSeconds = webhook.TakeInt("timeoutSeconds");
            if (webhook.Has("matchConditions"))
            {
                spec.MatchConditionsLocation = webhook.KeyLocation("matchConditions");
            }

            if (webhook.TakeMappingList("matchConditions", "MatchCondition", "'- name: not-kube-system' with expression: \"request.namespace != 'kube-system'\"") is { } conditions)
            {
                spec.MatchConditions = [];
                foreach (var (item, _) in conditions)
                {
                    spec.MatchConditions.Add(new MatchConditionSyntax
                    {
                        Location = item.Location,
                        Name = item.TakeString("name"),
                        Expression = item.TakeString("expression"),
                    });
                    item.RejectUnknown(s_matchConditionFields);
                }
            }

            webhook.RejectUnknown(s_webhookConfigurationFields);
        }

        if (reader.Has("rules"))
        {
            spec.RulesLocation = reader.KeyLocation("rules");
        }

        if (reader.TakeMappingList("rules", "Rule", "a rule with name, match and verifyImages") is { } rules)
        {
            spec.Rules = [.. rules.Select(rule => ParseRule(rule.Item))];
        }

        reader.RejectUnknown(s_specFields);
        return spec;
    }

    private static RuleSyntax ParseRule(MappingReader reader)
    {
        var rule = new RuleSyntax
        {
            Location = reader.Location,
            Path = reader.Path,
            Name = reader.TakeString("name"),
            IsOtherRuleType = reader.Has("mutate") || reader.Has("validate") || reader.Has("generate"),
        };
        if (reader.TakeMapping("match", "MatchResources") is { } match)
        {
            rule.Match = ParseMatch(match);
        }

        if (reader.TakeMapping("exclude", "MatchResources") is { } exclude)
        {
            rule.Exclude = ParseMatch(exclude);
        }

        foreach (var (item, index) in reader.TakeMappingList("verifyImages", "ImageVerification", "an entry with imageReferences and attestors") ?? [])
        {
            rule.VerifyImages.Add(ParseVerifyImage(item, index));
        }

        if (reader.Has("context"))
        {
            rule.Context = ContextParser.Parse(reader);
            rule.ContextInvalid = rule.Context is null;
        }

        if (reader.TakeRaw("preconditions") is { } preconditions && !MappingReader.IsNull(preconditions))
        {
            rule.Preconditions = ConditionParser.ParsePreconditions(reader.File, preconditions, reader.FieldPath("preconditions"));
            rule.PreconditionsInvalid = rule.Preconditions is null;
        }

        // Kyverno evaluates celPreconditions only in validate.cel rules: its image verification never reads them
        // (kyverno#13381), and since 1.15 a policy that puts them on any other rule is refused (kyverno#13514). Compiling
        // them here would enforce a condition Kyverno never enforces, on a policy Kyverno rejects.
        if (reader.Has("celPreconditions"))
        {
            var location = reader.KeyLocation("celPreconditions");
            reader.TakeRaw("celPreconditions");
            if (reader.Has("verifyImages"))
            {
                reader.File.Report(
                    DiagnosticDescriptors.ConflictingSettings,
                    location,
                    reader.FieldPath("celPreconditions"),
                    "verifyImages",
                    "Kyverno evaluates celPreconditions only in validate.cel rules and refuses them on any other rule since 1.15; write the condition as 'preconditions' (JMESPath), e.g. key: \"{{ request.object.metadata.labels.app || '' }}\", operator: Equals, value: nginx");
            }
        }

        if (reader.TakeMapping("imageExtractors", "ImageExtractorConfigs") is { } extractors)
        {
            foreach (var kind in extractors.FieldNames)
            {
                var kindLocation = extractors.KeyLocation(kind);
                foreach (var (extractor, _) in extractors.TakeMappingList(kind, "ImageExtractorConfig", "an entry with path and value") ?? [])
                {
                    rule.ImageExtractors.Add(new ImageExtractorSyntax
                    {
                        Location = extractor.Location,
                        Kind = new Located<string>(kind, kindLocation),
                        Name = extractor.TakeString("name"),
                        Path = extractor.TakeString("path"),
                        Value = extractor.TakeString("value"),
                        Key = extractor.TakeString("key"),
                        JmesPath = extractor.TakeString("jmesPath"),
                    });
                    extractor.RejectUnknown(s_imageExtractorFields);
                }
            }
        }
        reader.NotSupported("mutate", "PolicyCompiler compiles verifyImages rules only");
        reader.NotSupported("validate", "PolicyCompiler compiles verifyImages rules only");
        reader.NotSupported("generate", "PolicyCompiler compiles verifyImages rules only");
        reader.TakeBool("skipBackgroundRequests");
        reader.Ignore("reportProperties");
        reader.RejectUnknown(s_ruleFields);
        return rule;
    }

    private static MatchSyntax ParseMatch(MappingReader reader)
    {
        var match = new MatchSyntax { Location = reader.Location, Path = reader.Path };
        ParseFilters(reader, "any", match.Any);
        ParseFilters(reader, "all", match.All);
        if (reader.TakeMapping("resources", "ResourceDescription") is { } resources)
        {
            match.Resources = ParseResources(resources);
        }

        // The older form puts user info beside 'resources' in the block itself: one filter of both.
        if (match.Resources is null && reader.KeyLocationOrNull("subjects") is { } location)
        {
            reader.File.Report(DiagnosticDescriptors.InvalidName, location, $"{match.Path}.subjects", "place", "write subjects inside an 'any' or 'all' filter, beside its 'resources'");
            reader.Take("subjects");
        }

        ParseUserInfo(reader, match.Resources ?? new FilterSyntax { Location = reader.Location });
        reader.RejectUnknown(s_matchFields);
        return match;
    }

    private static void ParseFilters(MappingReader reader, string field, List<FilterSyntax> target)
    {
        foreach (var (filter, _) in reader.TakeMappingList(field, "ResourceFilter", "'- resources:' with kinds") ?? [])
        {
            var parsed = filter.TakeMapping("resources", "ResourceDescription") is { } resources
                ? ParseResources(resources)
                : new FilterSyntax { Location = filter.Location };
            ParseUserInfo(filter, parsed);
            target.Add(parsed);
            filter.RejectUnknown(s_filterFields);
        }
    }

    /// <summary>The user info beside <c>resources</c>: <c>subjects</c>, <c>roles</c> and <c>clusterRoles</c>.</summary>
    private static void ParseUserInfo(MappingReader reader, FilterSyntax target)
    {
        foreach (var (subject, _) in reader.TakeMappingList("subjects", "Subject", "'- kind: User' with name") ?? [])
        {
            target.Subjects.Add(new SubjectSyntax
            {
                Location = subject.Location,
                Path = subject.Path,
                Kind = subject.TakeString("kind"),
                Name = subject.TakeString("name"),
                Namespace = subject.TakeString("namespace"),
            });
            subject.TakeString("apiGroup");
            subject.RejectUnknown(s_subjectFields);
        }

        target.Roles = reader.TakeStringList("roles") ?? [];
        target.ClusterRoles = reader.TakeStringList("clusterRoles") ?? [];
    }

    private static LabelSelectorSyntax? ParseSelector(MappingReader reader, string field)
    {
        if (reader.TakeMapping(field, "LabelSelector") is not { } selector)
        {
            return null;
        }

        var result = new LabelSelectorSyntax
        {
            Location = selector.Location,
            Path = selector.Path,
            MatchLabels = selector.TakeStringMap("matchLabels") ?? [],
        };

        foreach (var (requirement, _) in selector.TakeMappingList("matchExpressions", "LabelSelectorRequirement", "'- key: app' with operator and values") ?? [])
        {
            result.Expressions.Add(new LabelRequirementSyntax
            {
                Location = requirement.Location,
                Path = requirement.Path,
                Key = requirement.TakeString("key"),
                Operator = requirement.TakeString("operator"),
                Values = requirement.TakeStringList("values") ?? [],
            });
            requirement.RejectUnknown(s_requirementFields);
        }

        selector.RejectUnknown(s_selectorFields);
        return result;
    }

    private static FilterSyntax ParseResources(MappingReader reader)
    {
        var filter = new FilterSyntax
        {
            Location = reader.Location,
            Kinds = reader.TakeStringList("kinds") ?? [],
            Names = reader.TakeStringList("names") ?? [],
            Namespaces = reader.TakeStringList("namespaces") ?? [],
            Operations = reader.TakeStringList("operations") ?? [],
        };

        if (reader.TakeString("name") is { } name)
        {
            filter.Names.Add(name);
        }

        filter.Annotations = reader.TakeStringMap("annotations");
        filter.Selector = ParseSelector(reader, "selector");
        filter.NamespaceSelector = ParseSelector(reader, "namespaceSelector");
        reader.RejectUnknown(s_resourceFields);
        return filter;
    }

    private static VerifyImageSyntax ParseVerifyImage(MappingReader reader, int index)
    {
        var entry = new VerifyImageSyntax
        {
            Location = reader.Location,
            Index = index,
            Image = reader.TakeString("image"),
            Key = reader.TakeString("key"),
            Type = reader.TakeString("type"),
            MutateDigest = reader.TakeBool("mutateDigest"),
            VerifyDigest = reader.TakeBool("verifyDigest"),
            Required = reader.TakeBool("required"),
            Repository = reader.TakeString("repository"),
            UseCache = reader.TakeBool("useCache"),
            SkipImageReferences = reader.TakeStringList("skipImageReferences"),
            Annotations = reader.TakeStringMap("annotations"),
            Subject = reader.TakeString("subject"),
            Issuer = reader.TakeString("issuer"),
            Roots = reader.TakeString("roots"),
            AdditionalExtensions = reader.TakeStringMap("additionalExtensions"),
        };

        if (reader.Has("imageReferences"))
        {
            entry.ImageReferencesLocation = reader.KeyLocation("imageReferences");
            entry.ImageReferences = reader.TakeStringList("imageReferences") ?? [];
        }

        foreach (var (item, _) in reader.TakeMappingList("attestors", "AttestorSet", "'- entries:' with keys") ?? [])
        {
            entry.Attestors.Add(ParseAttestorSet(item));
        }

        entry.FailureAction = reader.TakeString("failureAction");
        foreach (var (item, attestationIndex) in reader.TakeMappingList("attestations", "Attestation", "an entry with type and attestors") ?? [])
        {
            entry.Attestations.Add(ParseAttestation(item, attestationIndex));
        }

        entry.CosignOci11 = reader.TakeBool("cosignOCI11");
        var validateKey = reader.KeyLocationOrNull("validate");
        if (reader.TakeMapping("validate", "Validation") is { } validate)
        {
            entry.Validate = ParseValidation(validate, validateKey!);
        }

        if (reader.TakeMapping("imageRegistryCredentials", "ImageRegistryCredentials") is { } credentials)
        {
            entry.RegistryCredentialsLocation = credentials.Location;
            entry.AllowInsecureRegistry = credentials.TakeBool("allowInsecureRegistry");
            entry.RegistrySecrets = credentials.TakeStringList("secrets");
            entry.RegistryProviders = credentials.TakeStringList("providers");
            credentials.RejectUnknown(s_registryCredentialFields);
        }
        reader.RejectUnknown(s_verifyImageFields);
        return entry;
    }

    private static ValidationSyntax ParseValidation(MappingReader reader, Common.LocationInfo keyLocation)
    {
        var validation = new ValidationSyntax { Location = keyLocation, Message = reader.TakeString("message") };
        if (validation.Message is { } message && message.Value.Contains("{{"))
        {
            // Substituted when the deny conditions hold, over what they read (Kyverno's SubstituteAll on the message).
            validation.MessageTemplate = ConditionParser.ParseTemplate(reader.File, message, reader.FieldPath("message"));
            validation.Invalid |= validation.MessageTemplate is null;
        }

        if (reader.TakeMapping("deny", "Deny") is { } deny)
        {
            if (deny.TakeRaw("conditions") is { } conditions && !MappingReader.IsNull(conditions))
            {
                // Deny conditions are substituted strictly, as Kyverno's validate rules do: a variable that does not
                // resolve is an error that fails the check.
                validation.Deny = ConditionParser.ParseAnyAll(deny.File, conditions, deny.FieldPath("conditions"), Conditions.KyvernoVariableMode.Strict);
                validation.Invalid |= validation.Deny is null;
            }
            else
            {
                deny.File.Report(DiagnosticDescriptors.MissingField, deny.Location, $"'{deny.Path}'", "conditions", "conditions: { any: [ { key: \"{{ length(sboms) }}\", operator: LessThan, value: 1 } ] }");
                validation.Invalid = true;
            }

            deny.RejectUnknown(s_denyFields);
        }
        else
        {
            reader.File.Report(DiagnosticDescriptors.MissingField, reader.Location, $"'{reader.Path}'", "deny", "deny: { conditions: { any: [ ... ] } }");
            validation.Invalid = true;
        }

        reader.RejectUnknown(s_validationFields);
        return validation;
    }

    private static AttestationSyntax ParseAttestation(MappingReader reader, int index)
    {
        var attestation = new AttestationSyntax
        {
            Location = reader.Location,
            Index = index,
            Name = reader.TakeString("name"),
            Type = reader.TakeString("type"),
            PredicateType = reader.TakeString("predicateType"),
        };

        foreach (var (item, _) in reader.TakeMappingList("attestors", "AttestorSet", "'- entries:' with keys") ?? [])
        {
            attestation.Attestors.Add(ParseAttestorSet(item));
        }

        if (reader.TakeRaw("conditions") is { } conditions && !MappingReader.IsNull(conditions))
        {
            // Attestation conditions are strict, as in Kyverno: a variable that does not resolve fails the check.
            attestation.Conditions = ConditionParser.ParseBlockList(reader.File, conditions, reader.FieldPath("conditions"), Conditions.KyvernoVariableMode.Strict);
            attestation.ConditionsInvalid = attestation.Conditions is null;
        }

        reader.RejectUnknown(s_attestationFields);
        return attestation;
    }

    private static AttestorSetSyntax ParseAttestorSet(MappingReader reader)
    {
        var set = new AttestorSetSyntax { Location = reader.Location, Count = reader.TakeInt("count") };
        if (reader.Has("entries"))
        {
            set.EntriesLocation = reader.KeyLocation("entries");
        }

        foreach (var (item, _) in reader.TakeMappingList("entries", "Attestor", "'- keys:' with publicKeys") ?? [])
        {
            set.Entries.Add(ParseAttestor(item));
        }

        reader.RejectUnknown(s_attestorSetFields);
        return set;
    }

    private static AttestorSyntax ParseAttestor(MappingReader reader)
    {
        var attestor = new AttestorSyntax
        {
            Location = reader.Location,
            Annotations = reader.TakeStringMap("annotations"),
            Repository = reader.TakeString("repository"),
            SignatureAlgorithm = reader.TakeString("signatureAlgorithm"),
        };

        if (reader.TakeMapping("keys", "StaticKeyAttestor") is { } keys)
        {
            attestor.Keys = new KeysSyntax
            {
                Location = keys.Location,
                PublicKeys = keys.TakeString("publicKeys"),
                SignatureAlgorithm = keys.TakeString("signatureAlgorithm"),
                Kms = keys.TakeString("kms"),
                Rekor = ParseRekor(keys),
                CtLog = ParseCtLog(keys),
            };
            if (attestor.Keys.PublicKeys is { } publicKeys && publicKeys.Value.Contains("{{"))
            {
                // Kyverno substitutes the key from the rule's context (a ConfigMap, an API call) and the request at
                // admission; the text is only PEM then, so it is parsed as a template here and as a key at admission.
                attestor.Keys.PublicKeysTemplate = ConditionParser.ParseTemplate(keys.File, publicKeys, keys.FieldPath("publicKeys"));
                attestor.Keys.PublicKeysText = publicKeys.Value;
                attestor.Keys.PublicKeys = null;
                attestor.Keys.IsOtherKeySource = true;
            }

            if (keys.TakeMapping("secret", "SecretReference") is { } secret)
            {
                attestor.Keys.SecretLocation = secret.Location;
                attestor.Keys.SecretName = secret.TakeString("name");
                attestor.Keys.SecretNamespace = secret.TakeString("namespace");
                secret.RejectUnknown(s_secretFields);
            }

            keys.RejectUnknown(s_keysFields);
        }

        if (reader.TakeMapping("certificates", "CertificateAttestor") is { } certificates)
        {
            attestor.Certificates = new CertificatesSyntax
            {
                Location = certificates.Location,
                Cert = certificates.TakeString("cert"),
                CertChain = certificates.TakeString("certChain"),
                Rekor = ParseRekor(certificates),
                CtLog = ParseCtLog(certificates),
            };
            foreach (var (field, value) in new[] { ("cert", attestor.Certificates.Cert), ("certChain", attestor.Certificates.CertChain) })
            {
                if (value is not null && value.Value.Contains("{{"))
                {
                    if (ConditionParser.ParseTemplate(certificates.File, value, certificates.FieldPath(field)) is { } template)
                    {
                        attestor.Certificates.Templates[field] = template;
                    }
                    else
                    {
                        attestor.Certificates.HasTemplateError = true;
                    }
                }
            }

            certificates.RejectUnknown(s_certificatesFields);
        }

        if (reader.TakeMapping("keyless", "KeylessAttestor") is { } keyless)
        {
            var syntax = new KeylessSyntax
            {
                Location = keyless.Location,
                Subject = keyless.TakeString("subject"),
                SubjectRegExp = keyless.TakeString("subjectRegExp"),
                Issuer = keyless.TakeString("issuer"),
                IssuerRegExp = keyless.TakeString("issuerRegExp"),
                Roots = keyless.TakeString("roots"),
                Rekor = ParseRekor(keyless),
                CtLog = ParseCtLog(keyless),
            };
            // Kyverno substitutes these from the rule's context and the request at admission, as it does publicKeys.
            foreach (var (field, value) in new[] { ("subject", syntax.Subject), ("subjectRegExp", syntax.SubjectRegExp), ("issuer", syntax.Issuer), ("issuerRegExp", syntax.IssuerRegExp), ("roots", syntax.Roots) })
            {
                if (value is not null && value.Value.Contains("{{"))
                {
                    if (ConditionParser.ParseTemplate(keyless.File, value, keyless.FieldPath(field)) is { } template)
                    {
                        syntax.Templates[field] = template;
                    }
                    else
                    {
                        syntax.HasTemplateError = true;
                    }
                }
            }

            if (keyless.TakeMapping("additionalExtensions", "map of extension names to values") is { } extensions)
            {
                syntax.AdditionalExtensions = [];
                foreach (var name in extensions.FieldNames)
                {
                    syntax.ExtensionKeyLocations[name] = extensions.KeyLocation(name);
                    if (extensions.TakeString(name) is { } value)
                    {
                        syntax.AdditionalExtensions[name] = value;
                        if (value.Value.Contains("{{"))
                        {
                            if (ConditionParser.ParseTemplate(keyless.File, value, extensions.FieldPath(name)) is { } template)
                            {
                                syntax.Templates[Model.KeylessModel.ExtensionField + name] = template;
                            }
                            else
                            {
                                syntax.HasTemplateError = true;
                            }
                        }
                    }
                }
            }

            attestor.Keyless = syntax;
            keyless.RejectUnknown(s_keylessFields);
        }

        if (reader.TakeMapping("attestor", "AttestorSet") is { } nested)
        {
            attestor.Nested = ParseAttestorSet(nested);
        }

        reader.RejectUnknown(s_attestorFields);
        return attestor;
    }

    private static RekorSyntax? ParseRekor(MappingReader parent)
    {
        if (parent.TakeMapping("rekor", "Rekor") is not { } rekor)
        {
            return null;
        }

        var syntax = new RekorSyntax
        {
            Location = rekor.Location,
            Path = rekor.Path,
            Url = rekor.TakeString("url"),
            PubKey = rekor.TakeString("pubkey"),
            IgnoreTlog = rekor.TakeBool("ignoreTlog"),
        };
        syntax.HasTemplateError = !ParseLogTemplates(rekor, "rekor", [("url", syntax.Url), ("pubkey", syntax.PubKey)], syntax.Templates);
        rekor.RejectUnknown(s_rekorFields);
        return syntax;
    }

    private static CtLogSyntax? ParseCtLog(MappingReader parent)
    {
        if (parent.TakeMapping("ctlog", "CTLog") is not { } ctlog)
        {
            return null;
        }

        var syntax = new CtLogSyntax
        {
            Location = ctlog.Location,
            Path = ctlog.Path,
            IgnoreSct = ctlog.TakeBool("ignoreSCT"),
            PubKey = ctlog.TakeString("pubkey"),
            TsaCertChain = ctlog.TakeString("tsaCertChain"),
        };
        syntax.HasTemplateError = !ParseLogTemplates(ctlog, "ctlog", [("pubkey", syntax.PubKey), ("tsaCertChain", syntax.TsaCertChain)], syntax.Templates);
        ctlog.RejectUnknown(s_ctlogFields);
        return syntax;
    }

    /// <summary>
    /// Kyverno substitutes variables in the <c>rekor</c> and <c>ctlog</c> blocks too (a log key kept in a ConfigMap): each
    /// value with <c>{{</c> is parsed as a template, keyed <c>rekor.pubkey</c> etc.; false when one did not parse (reported).
    /// </summary>
    private static bool ParseLogTemplates(MappingReader block, string prefix, (string Field, Located<string>? Value)[] fields, Dictionary<string, Conditions.KyvernoTemplate> templates)
    {
        var ok = true;
        foreach (var (field, value) in fields)
        {
            if (value is not null && value.Value.Contains("{{"))
            {
                if (ConditionParser.ParseTemplate(block.File, value, block.FieldPath(field)) is { } template)
                {
                    templates[prefix + "." + field] = template;
                }
                else
                {
                    ok = false;
                }
            }
        }

        return ok;
    }
}
