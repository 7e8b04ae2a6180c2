using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Emit;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Parsing;
using PolicyCompiler.Generators.Validation;
using PolicyCompiler.Generators.Yaml;

namespace PolicyCompiler.Generators;

/// <summary>
/// Compiles the Kyverno policies given to the compilation as AdditionalFiles (<c>*.yaml</c>, <c>*.yml</c>) into C#.
/// Each file is parsed and validated on its own, so editing one policy re-runs only that policy's steps.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class PolicyGenerator : IIncrementalGenerator
{
    // No byte-order mark: generated files written to disk (EmitCompilerGeneratedFiles) stay plain UTF-8.
    private static readonly Encoding s_utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    /// <summary>MSBuild property (made compiler-visible by the host) naming the folder the policies are relative to.</summary>
    public const string PolicyRootProperty = "build_property.PolicyDirectory";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var root = context.AnalyzerConfigOptionsProvider.Select(static (options, _) =>
            options.GlobalOptions.TryGetValue(PolicyRootProperty, out var value) && !string.IsNullOrWhiteSpace(value) ? NormalizeDirectory(value) : string.Empty);

        var files = context.AdditionalTextsProvider
            .Where(static text => IsPolicyFile(text.Path))
            .Combine(root)
            .Select(static (pair, cancellationToken) => new PolicyFileInput(
                pair.Left.Path,
                RelativePath(pair.Left.Path, pair.Right),
                pair.Left.GetText(cancellationToken)?.ToString() ?? string.Empty))
            .WithTrackingName(TrackingNames.PolicyFiles);

        var parsed = files
            .Select(static (input, _) => Compile(input))
            .WithTrackingName(TrackingNames.ParsedFiles);

        context.RegisterSourceOutput(parsed.Select(static (result, _) => result.Diagnostics), static (spc, diagnostics) =>
        {
            foreach (var diagnostic in diagnostics)
            {
                spc.ReportDiagnostic(diagnostic.ToDiagnostic());
            }
        });

        var policies = parsed
            .SelectMany(static (result, _) => result.Policies)
            .WithTrackingName(TrackingNames.Policies);

        context.RegisterSourceOutput(policies, static (spc, policy) =>
            spc.AddSource(HintName(policy), SourceText.From(PolicyEmitter.Emit(policy), s_utf8)));

        var catalog = policies
            .Select(static (policy, _) => new CatalogEntry(policy.Kind, policy.Namespace, policy.Name, policy.ClassName, policy.SourcePath))
            .Collect()
            .WithTrackingName(TrackingNames.Catalog);

        context.RegisterSourceOutput(catalog, static (spc, entries) =>
        {
            var first = entries
                .GroupBy(e => e.ClassName, StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => g.OrderBy(e => e.SourcePath, StringComparer.Ordinal).First().ClassName)
                .ToList();
            spc.AddSource("PolicyCatalog.g.cs", SourceText.From(PolicyEmitter.EmitCatalog(first), s_utf8));
        });

        // A policy defined in two files is reported at the later file's metadata.name. The cached models carry no
        // positions, so that file is parsed again to find it; this happens only when there is a duplicate.
        context.RegisterSourceOutput(catalog.Combine(files.Collect()), static (spc, pair) =>
        {
            foreach (var group in pair.Left.GroupBy(e => e.ClassName, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var ordered = group.OrderBy(e => e.SourcePath, StringComparer.Ordinal).ToList();
                foreach (var duplicate in ordered.Skip(1))
                {
                    spc.ReportDiagnostic(Diagnostic.Create(
                        DiagnosticDescriptors.DuplicatePolicyName,
                        LocateName(duplicate, pair.Right)?.ToLocation() ?? Location.None,
                        duplicate.Kind,
                        DisplayName(duplicate.Namespace, duplicate.Name),
                        ordered[0].SourcePath));
                }
            }
        });
    }

    internal static PolicyFileResult Compile(PolicyFileInput input)
    {
        var file = new YamlFile(input.Path, input.Text);
        var models = new List<PolicyModel>();
        foreach (var syntax in PolicyParser.Parse(file))
        {
            if (PolicyValidator.Validate(syntax, file, input.RelativePath) is not { } model)
            {
                continue;
            }

            // Two documents of one file defining the same policy: the second would generate the same source again.
            if (models.Any(m => m.ClassName == model.ClassName))
            {
                file.Report(DiagnosticDescriptors.DuplicatePolicyName, syntax.Name!.Location, model.Kind, DisplayName(model.Namespace, model.Name), input.RelativePath);
                continue;
            }

            models.Add(model);
        }

        // A file with any error contributes no policy: a half-compiled policy would admit what it should block.
        return new PolicyFileResult(
            input.Path,
            file.Diagnostics.Count == 0 ? models.ToEquatableArray() : EquatableArray<PolicyModel>.Empty,
            file.Diagnostics.ToEquatableArray());
    }

    private static string DisplayName(string? @namespace, string name) => @namespace is null ? name : @namespace + "/" + name;

    /// <summary>Where <paramref name="entry"/>'s metadata.name is written, found by parsing its file again.</summary>
    private static LocationInfo? LocateName(CatalogEntry entry, ImmutableArray<PolicyFileInput> files)
    {
        foreach (var input in files.Where(f => f.RelativePath == entry.SourcePath).OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            foreach (var syntax in PolicyParser.Parse(new YamlFile(input.Path, input.Text)))
            {
                if (syntax.Name is { } name && name.Value == entry.Name && syntax.Kind?.Value == entry.Kind && syntax.Namespace?.Value == entry.Namespace)
                {
                    return name.Location;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The file name of the generated source. It carries the policy's path so that two files defining the same
    /// policy still produce two sources (and a PC0013 diagnostic) instead of crashing the generator.
    /// </summary>
    private static string HintName(PolicyModel policy)
    {
        // An injective escape: distinct paths give distinct hint names ('_' is doubled, '/' and others are coded).
        var path = new StringBuilder();
        foreach (var c in policy.SourcePath)
        {
            if ((char.IsLetterOrDigit(c) && c < 128) || c is '-' or '.')
            {
                path.Append(c);
            }
            else if (c == '_')
            {
                path.Append("__");
            }
            else if (c == '/')
            {
                path.Append("_s");
            }
            else
            {
                path.Append("_x").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return $"{policy.ClassName}.{path}.g.cs";
    }

    private static bool IsPolicyFile(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    private static string NormalizeDirectory(string path)
    {
        var normalized = path.Replace('\\', '/');
        return normalized.EndsWith("/", StringComparison.Ordinal) ? normalized : normalized + "/";
    }

    /// <summary>The path shown in generated code: relative to the policy folder, so output is the same on every machine.</summary>
    private static string RelativePath(string path, string root)
    {
        var normalized = path.Replace('\\', '/');
        if (root.Length > 0)
        {
            var rootFull = NormalizeDirectory(Path.GetFullPath(root).Replace('\\', '/'));
            var fileFull = Path.GetFullPath(path).Replace('\\', '/');
            if (fileFull.StartsWith(rootFull, StringComparison.Ordinal))
            {
                return fileFull.Substring(rootFull.Length);
            }
        }

        var slash = normalized.LastIndexOf('/');
        return slash < 0 ? normalized : normalized.Substring(slash + 1);
    }
}

/// <summary>A policy file's identity and content: the pipeline's first, value-equatable step.</summary>
internal sealed record PolicyFileInput(string Path, string RelativePath, string Text);

internal sealed record CatalogEntry(string Kind, string? Namespace, string Name, string ClassName, string SourcePath);
