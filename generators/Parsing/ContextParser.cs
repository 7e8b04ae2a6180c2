using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Yaml;

namespace PolicyCompiler.Generators.Parsing;

/// <summary>
/// Reads a rule's <c>context</c> entries (Kyverno's ContextEntry: <c>variable</c>, <c>configMap</c>, <c>apiCall</c>,
/// <c>imageRegistry</c>) into
/// checked models. Every template and JMESPath is parsed here, so that a mistake is reported at its column.
/// </summary>
internal static class ContextParser
{
    private static readonly string[] s_entryFields = ["name", "variable", "configMap", "apiCall", "imageRegistry", "globalReference"];
    private static readonly string[] s_sources = ["variable", "configMap", "apiCall", "imageRegistry", "globalReference"];
    private static readonly string[] s_variableFields = ["value", "jmesPath", "default"];
    private static readonly string[] s_configMapFields = ["name", "namespace"];
    private static readonly string[] s_apiCallFields = ["urlPath", "method", "data", "service", "jmesPath", "default"];
    private static readonly string[] s_requestDataFields = ["key", "value"];
    private static readonly string[] s_imageRegistryFields = ["reference", "jmesPath", "imageRegistryCredentials"];
    private static readonly string[] s_registryCredentialFields = ["allowInsecureRegistry", "providers", "secrets"];

    // Kyverno adds entries under their name as a JMESPath field; names it fills itself cannot be replaced.
    private static readonly Regex s_name = new("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant);
    private static readonly string[] s_reserved = ["request", "images", "element", "elementIndex", "serviceAccountName", "serviceAccountNamespace", "target"];

    /// <summary>The entries in order; null when any of them is wrong (its mistakes are reported).</summary>
    public static EquatableArray<ContextEntryModel>? Parse(MappingReader rule)
    {
        var entries = rule.TakeMappingList("context", "ContextEntry", "'- name: keys' with configMap, apiCall or variable");
        if (entries is null)
        {
            return EquatableArray<ContextEntryModel>.Empty;
        }

        var result = new List<ContextEntryModel>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var ok = true;
        foreach (var (entry, _) in entries)
        {
            var model = ParseEntry(entry, names);
            if (model is null)
            {
                ok = false;
            }
            else
            {
                result.Add(model);
            }
        }

        return ok ? result.ToEquatableArray() : null;
    }

    private static ContextEntryModel? ParseEntry(MappingReader entry, HashSet<string> names)
    {
        var file = entry.File;
        var ok = true;
        var name = entry.TakeString("name");
        if (name is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, entry.Location, $"'{entry.Path}'", "name", "name: keys");
            ok = false;
        }
        else if (!s_name.IsMatch(name.Value))
        {
            file.Report(DiagnosticDescriptors.InvalidName, name.Location, name.Value, "context entry name", "variables read it as a JMESPath field, so use letters, digits and '_', starting with a letter");
            ok = false;
        }
        else if (s_reserved.Contains(name.Value))
        {
            file.Report(DiagnosticDescriptors.InvalidName, name.Location, name.Value, "context entry name", $"Kyverno fills '{name.Value}' itself; choose another name");
            ok = false;
        }
        else if (!names.Add(name.Value))
        {
            file.Report(DiagnosticDescriptors.DuplicateContextName, name.Location, name.Value);
            ok = false;
        }

        var sources = s_sources.Where(entry.Has).ToList();
        if (sources.Count != 1)
        {
            file.Report(DiagnosticDescriptors.ContextSource, name?.Location ?? entry.Location, entry.Path, sources.Count == 0 ? "no source" : string.Join(" and ", sources));
            ok = false;
        }

        entry.NotSupported("globalReference", "global context entries are not built");
        ContextEntryModel? model = null;
        if (entry.TakeMapping("variable", "Variable") is { } variable)
        {
            model = ParseVariable(variable, name?.Value ?? string.Empty, ref ok);
        }

        if (entry.TakeMapping("configMap", "ConfigMapReference") is { } configMap)
        {
            model = ParseConfigMap(configMap, name?.Value ?? string.Empty, ref ok);
        }

        if (entry.TakeMapping("apiCall", "APICall") is { } apiCall)
        {
            model = ParseApiCall(apiCall, name?.Value ?? string.Empty, ref ok);
        }

        if (entry.TakeMapping("imageRegistry", "ImageRegistry") is { } imageRegistry)
        {
            model = ParseImageRegistry(imageRegistry, name?.Value ?? string.Empty, ref ok);
        }

        entry.RejectUnknown(s_entryFields);
        return ok && sources.Count == 1 ? model : null;
    }

    private static ContextEntryModel? ParseVariable(MappingReader variable, string name, ref bool ok)
    {
        var value = variable.TakeRaw("value") is { } valueNode && !MappingReader.IsNull(valueNode)
            ? ConditionParser.ParseValue(variable.File, valueNode, variable.FieldPath("value"))
            : null;
        ok &= !(variable.Has("value") && value is null && !IsNullField(variable, "value"));
        var hasJmesPath = variable.Has("jmesPath");
        var (jmesPath, jmesPathText, jmesPathHasVariables) = ParseJmesPath(variable, ref ok);
        var @default = variable.TakeRaw("default") is { } defaultNode && !MappingReader.IsNull(defaultNode)
            ? ConditionParser.ParseValue(variable.File, defaultNode, variable.FieldPath("default"))
            : null;
        ok &= !(variable.Has("default") && @default is null && !IsNullField(variable, "default"));
        if (!variable.Has("value") && !hasJmesPath)
        {
            variable.File.Report(DiagnosticDescriptors.MissingField, variable.Location, $"'{variable.Path}'", "value", "value: \"{{ request.object.metadata.name }}\" (or jmesPath: request.object.metadata.name)");
            ok = false;
        }

        variable.RejectUnknown(s_variableFields);
        return new ContextEntryModel(name, ContextEntryModel.VariableSource) { Value = value, JmesPath = jmesPath, JmesPathText = jmesPathText, JmesPathHasVariables = jmesPathHasVariables, Default = @default };
    }

    private static ContextEntryModel? ParseConfigMap(MappingReader configMap, string name, ref bool ok)
    {
        var cmName = configMap.TakeString("name");
        var cmNamespace = configMap.TakeString("namespace");
        if (cmName is null)
        {
            configMap.File.Report(DiagnosticDescriptors.MissingField, configMap.Location, $"'{configMap.Path}'", "name", "name: keys");
            ok = false;
        }

        var nameTemplate = cmName is null ? null : Template(configMap, cmName, "name", ref ok);
        var namespaceTemplate = cmNamespace is null ? null : Template(configMap, cmNamespace, "namespace", ref ok);
        configMap.RejectUnknown(s_configMapFields);
        return new ContextEntryModel(name, ContextEntryModel.ConfigMapSource) { ConfigMapName = nameTemplate, ConfigMapNamespace = namespaceTemplate };
    }

    private static ContextEntryModel? ParseApiCall(MappingReader apiCall, string name, ref bool ok)
    {
        apiCall.NotSupported("service", "HTTPS calls to services outside the API server (url, caBundle, headers) are not built yet; read Kubernetes objects with urlPath");
        var urlPath = apiCall.TakeString("urlPath");
        if (urlPath is null && !apiCall.Has("service"))
        {
            apiCall.File.Report(DiagnosticDescriptors.MissingField, apiCall.Location, $"'{apiCall.Path}'", "urlPath", "urlPath: \"/api/v1/namespaces/{{ request.namespace }}/configmaps/keys\"");
            ok = false;
        }

        var urlTemplate = urlPath is null ? null : Template(apiCall, urlPath, "urlPath", ref ok);
        var method = "GET";
        if (apiCall.TakeString("method") is { } written)
        {
            if (written.Value is "GET" or "POST")
            {
                method = written.Value;
            }
            else
            {
                apiCall.File.Report(DiagnosticDescriptors.InvalidEnumValue, written.Location, written.Value, apiCall.FieldPath("method"), "GET, POST");
                ok = false;
            }
        }

        var data = new List<ContextDataModel>();
        foreach (var (item, _) in apiCall.TakeMappingList("data", "RequestData", "'- key: name' with value") ?? [])
        {
            var key = item.TakeString("key");
            var valueNode = item.TakeRaw("value");
            if (key is null)
            {
                item.File.Report(DiagnosticDescriptors.MissingField, item.Location, $"'{item.Path}'", "key", "key: name");
                ok = false;
            }

            var value = valueNode is null ? null : ConditionParser.ParseValue(item.File, valueNode, item.FieldPath("value"));
            if (valueNode is null)
            {
                item.File.Report(DiagnosticDescriptors.MissingField, item.Location, $"'{item.Path}'", "value", "value: \"{{ request.object.metadata.name }}\"");
            }

            ok &= value is not null;
            if (key is not null && value is not null)
            {
                data.Add(new ContextDataModel(key.Value, value));
            }

            item.RejectUnknown(s_requestDataFields);
        }

        if (data.Count > 0 && method != "POST")
        {
            apiCall.File.Report(DiagnosticDescriptors.ConflictingSettings, apiCall.KeyLocation("data"), apiCall.FieldPath("data"), "method: GET", "a GET sends no body; write method: POST");
            ok = false;
        }

        var (jmesPath, jmesPathText, jmesPathHasVariables) = ParseJmesPath(apiCall, ref ok);
        var @default = apiCall.TakeRaw("default") is { } defaultNode && !MappingReader.IsNull(defaultNode)
            ? ConditionParser.ParseValue(apiCall.File, defaultNode, apiCall.FieldPath("default"))
            : null;
        ok &= !(apiCall.Has("default") && @default is null && !IsNullField(apiCall, "default"));
        apiCall.RejectUnknown(s_apiCallFields);
        return new ContextEntryModel(name, ContextEntryModel.ApiCallSource)
        {
            UrlPath = urlTemplate,
            Method = method,
            Data = data.ToEquatableArray(),
            JmesPath = jmesPath,
            JmesPathText = jmesPathText,
            JmesPathHasVariables = jmesPathHasVariables,
            Default = @default,
        };
    }

    private static ContextEntryModel? ParseImageRegistry(MappingReader imageRegistry, string name, ref bool ok)
    {
        var reference = imageRegistry.TakeString("reference");
        if (reference is null)
        {
            imageRegistry.File.Report(DiagnosticDescriptors.MissingField, imageRegistry.Location, $"'{imageRegistry.Path}'", "reference", "reference: \"{{ request.object.spec.containers[0].image }}\"");
            ok = false;
        }

        var referenceTemplate = reference is null ? null : Template(imageRegistry, reference, "reference", ref ok);
        var (jmesPath, jmesPathText, jmesPathHasVariables) = ParseJmesPath(imageRegistry, ref ok);
        RegistryCredentialsModel? credentials = null;
        if (imageRegistry.TakeMapping("imageRegistryCredentials", "ImageRegistryCredentials") is { } written)
        {
            credentials = Validation.PolicyValidator.ValidateRegistryCredentials(
                written.File,
                written.TakeBool("allowInsecureRegistry")?.Value ?? false,
                written.TakeStringList("secrets"),
                written.TakeStringList("providers"),
                ref ok);
            written.RejectUnknown(s_registryCredentialFields);
        }

        imageRegistry.RejectUnknown(s_imageRegistryFields);
        return new ContextEntryModel(name, ContextEntryModel.ImageRegistrySource)
        {
            ImageReference = referenceTemplate,
            JmesPath = jmesPath,
            JmesPathText = jmesPathText,
            JmesPathHasVariables = jmesPathHasVariables,
            RegistryCredentials = credentials,
        };
    }

    /// <summary>
    /// The entry's <c>jmesPath</c>. Kyverno substitutes <c>{{ }}</c> variables into its text before evaluating it; here they
    /// are parsed as nested variables of the expression (a name position takes the value as a field name, a
    /// <c>'…'</c> literal as text), evaluated against the rule's context at admission, so the expression is still
    /// compiled at build time and a value cannot change its syntax.
    /// </summary>
    private static (JmesNode? Node, string? Text, bool HasVariables) ParseJmesPath(MappingReader reader, ref bool ok)
    {
        if (reader.TakeString("jmesPath") is not { } text)
        {
            return (null, null, false);
        }

        var hasVariables = text.Value.Contains("{{");
        var node = ConditionParser.ParseExpression(reader.File, text, reader.FieldPath("jmesPath"), allowVariables: hasVariables);
        ok &= node is not null;
        return (node, text.Value, hasVariables);
    }

    private static KyvernoTemplate? Template(MappingReader reader, Located<string> text, string field, ref bool ok)
    {
        var template = ConditionParser.ParseTemplate(reader.File, text, reader.FieldPath(field));
        ok &= template is not null;
        return template;
    }

    private static bool IsNullField(MappingReader reader, string field) => reader.TakeRaw(field) is { } node && MappingReader.IsNull(node);
}
