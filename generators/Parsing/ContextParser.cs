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
    private static readonly string[] s_globalReferenceFields = ["name", "jmesPath"];
    private static readonly string[] s_serviceFields = ["url", "caBundle", "headers"];
    private static readonly string[] s_headerFields = ["key", "value"];

    // RFC 9110 token characters: what an HTTP header name may be made of.
    private static readonly Regex s_headerName = new("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", RegexOptions.CultureInvariant);

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

        if (entry.TakeMapping("globalReference", "GlobalContextEntryReference") is { } globalReference)
        {
            model = ParseGlobalReference(globalReference, name?.Value ?? string.Empty, ref ok);
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

    private static ContextEntryModel? ParseGlobalReference(MappingReader reference, string name, ref bool ok)
    {
        var entryName = reference.TakeString("name");
        KyvernoTemplate? template = null;
        if (entryName is null)
        {
            reference.File.Report(DiagnosticDescriptors.MissingField, reference.Location, $"'{reference.Path}'", "name", "name: allowed-registries (a GlobalContextEntry)");
            ok = false;
        }
        else
        {
            template = Template(reference, entryName, "name", ref ok);
            if (template is not null && !template.HasVariables && ProjectionNameProblem(entryName.Value) is { } problem)
            {
                reference.File.Report(DiagnosticDescriptors.InvalidName, entryName.Location, entryName.Value, "global context reference", problem);
                ok = false;
            }
        }

        var (jmesPath, jmesPathText, jmesPathHasVariables) = ParseJmesPath(reference, ref ok);
        reference.RejectUnknown(s_globalReferenceFields);
        return new ContextEntryModel(name, ContextEntryModel.GlobalReferenceSource) { GlobalName = template, JmesPath = jmesPath, JmesPathText = jmesPathText, JmesPathHasVariables = jmesPathHasVariables };
    }

    /// <summary>
    /// Kyverno reads <c>entry.projection</c> by splitting at every dot and using the first two parts. A reference it
    /// would read other than as written is refused here; one with variables is split the same way at admission.
    /// </summary>
    private static string? ProjectionNameProblem(string name)
    {
        var parts = name.Split('.');
        if (parts.Length == 1)
        {
            return null;
        }

        if (parts[0].Length == 0)
        {
            return "the part before '.' names the GlobalContextEntry and is empty; write 'entry' or 'entry.projection'";
        }

        if (parts.Length > 2)
        {
            return $"Kyverno reads only '{parts[0]}.{parts[1]}' (entry '{parts[0]}', projection '{parts[1]}') and ignores the rest, so an entry or projection whose name has a dot cannot be read; write 'entry' or 'entry.projection'";
        }

        return parts[1].Length == 0
            ? $"the projection after '.' is empty, which Kyverno reads as the whole entry; write '{parts[0]}', or name one of its spec.projections"
            : null;
    }

    private static ContextEntryModel? ParseApiCall(MappingReader apiCall, string name, ref bool ok)
    {
        var urlPath = apiCall.TakeString("urlPath");
        if (urlPath is null && !apiCall.Has("service"))
        {
            apiCall.File.Report(DiagnosticDescriptors.MissingField, apiCall.Location, $"'{apiCall.Path}'", "urlPath", "urlPath: \"/api/v1/namespaces/{{ request.namespace }}/configmaps/keys\" (or service: {url: https://…} for a service outside the API server)");
            ok = false;
        }
        else if (urlPath is not null && apiCall.Has("service"))
        {
            // Kyverno would silently prefer urlPath and never call the service; an author who wrote both meant one of them.
            apiCall.File.Report(DiagnosticDescriptors.ConflictingSettings, apiCall.KeyLocation("service"), apiCall.FieldPath("service"), "urlPath", "an apiCall reads either the API server (urlPath) or a service (service.url); remove one");
            ok = false;
        }

        var urlTemplate = urlPath is null ? null : Template(apiCall, urlPath, "urlPath", ref ok);
        ServiceCallModel? service = null;
        if (apiCall.TakeMapping("service", "ServiceCall") is { } serviceReader)
        {
            service = ParseService(serviceReader, ref ok);
        }

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

            // Kyverno substitutes the whole apiCall, so a key may name a member from the request like any other string.
            var keyTemplate = key is null ? null : Template(item, key, "key", ref ok);
            ok &= value is not null;
            if (key is not null && value is not null && keyTemplate is not null)
            {
                data.Add(new ContextDataModel(key.Value, value, keyTemplate.HasVariables ? keyTemplate : null));
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
            Service = service,
            Method = method,
            Data = data.ToEquatableArray(),
            JmesPath = jmesPath,
            JmesPathText = jmesPathText,
            JmesPathHasVariables = jmesPathHasVariables,
            Default = @default,
        };
    }

    private static ServiceCallModel? ParseService(MappingReader service, ref bool ok)
    {
        var file = service.File;
        var url = service.TakeString("url");
        KyvernoTemplate? urlTemplate = null;
        if (url is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, service.Location, $"'{service.Path}'", "url", "url: https://scanner.security.svc/check");
            ok = false;
        }
        else
        {
            urlTemplate = Template(service, url, "url", ref ok);
            if (urlTemplate is not null && UrlProblem(urlTemplate) is { } problem)
            {
                file.Report(DiagnosticDescriptors.InvalidUrl, url.Location, url.Value, service.FieldPath("url"), problem);
                ok = false;
            }
        }

        KyvernoTemplate? caBundle = null;
        if (service.TakeString("caBundle") is { } ca)
        {
            caBundle = Template(service, ca, "caBundle", ref ok);
            if (caBundle is not null && !caBundle.HasVariables)
            {
                // A literal bundle is checked now, so that a truncated paste fails the build rather than every call.
                var parsed = Validation.CertificateReader.ReadAll(ca.Value, out var error);
                if (parsed is null)
                {
                    file.Report(DiagnosticDescriptors.InvalidCertificate, ca.Location, service.FieldPath("caBundle"), error ?? "no PEM certificate found");
                    ok = false;
                }
            }
        }

        var headers = new List<ServiceHeaderModel>();
        foreach (var (item, _) in service.TakeMappingList("headers", "HTTPHeader", "'- key: Authorization' with value") ?? [])
        {
            var key = item.TakeString("key");
            var value = item.TakeString("value");
            if (key is null)
            {
                file.Report(DiagnosticDescriptors.MissingField, item.Location, $"'{item.Path}'", "key", "key: Authorization");
                ok = false;
            }
            // Kyverno substitutes the whole apiCall, headers included, so a name may come from a variable; such a name
            // is checked once substituted, at admission. A literal name is checked now.
            var keyTemplate = key is null ? null : Template(item, key, "key", ref ok);
            if (key is not null && keyTemplate is { HasVariables: false } && !s_headerName.IsMatch(key.Value))
            {
                file.Report(DiagnosticDescriptors.InvalidName, key.Location, key.Value, "HTTP header name", "write a token (letters, digits and '-'), without spaces or ':'");
                ok = false;
            }

            if (value is null)
            {
                file.Report(DiagnosticDescriptors.MissingField, item.Location, $"'{item.Path}'", "value", "value: \"Bearer {{ token.data.value }}\"");
                ok = false;
            }

            var valueTemplate = value is null ? null : Template(item, value, "value", ref ok);
            if (key is not null && keyTemplate is not null && valueTemplate is not null)
            {
                headers.Add(new ServiceHeaderModel(key.Value, valueTemplate, keyTemplate.HasVariables ? keyTemplate : null));
            }

            item.RejectUnknown(s_headerFields);
        }

        service.RejectUnknown(s_serviceFields);
        return urlTemplate is null ? null : new ServiceCallModel(urlTemplate, caBundle, headers.ToEquatableArray());
    }

    /// <summary>
    /// Why a service URL cannot be called, or null. A literal URL must be absolute http(s) with a host; one with variables
    /// is checked at admission, but the text before its first variable must not name another scheme.
    /// </summary>
    private static string? UrlProblem(KyvernoTemplate url)
    {
        var prefix = new System.Text.StringBuilder();
        foreach (var part in url.Parts)
        {
            if (part.IsVariable)
            {
                break;
            }

            prefix.Append(part.Literal);
        }

        var text = prefix.ToString();
        if (url.HasVariables)
        {
            var scheme = text.IndexOf("://", StringComparison.Ordinal);
            return scheme < 0 || text.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
                ? null
                : $"the scheme '{text.Substring(0, scheme)}' is not http or https";
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            return "it is not an absolute URL";
        }

        if (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
        {
            return $"the scheme '{uri.Scheme}' is not http or https";
        }

        return uri.UserInfo.Length > 0 ? "credentials in the URL would be logged with it; send them in a header" : null;
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
