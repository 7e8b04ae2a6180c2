using System;
using System.Collections.Generic;
using System.Linq;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Yaml;

namespace PolicyCompiler.Generators.Validation;

/// <summary>
/// Kyverno's auto-generation of rules for Pod controllers: a policy whose rules match only Pods also gets
/// <c>autogen-&lt;rule&gt;</c> (Deployment, DaemonSet, StatefulSet, ReplicaSet, ReplicationController, Job) and
/// <c>autogen-cronjob-&lt;rule&gt;</c> (CronJob), steered by the <c>pod-policies.kyverno.io/autogen-controllers</c>
/// annotation. The runtime finds each controller's Pod template images by kind.
/// </summary>
internal static class Autogen
{
    public const string Annotation = "pod-policies.kyverno.io/autogen-controllers";

    private static readonly string[] s_controllers = ["DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController", "CronJob"];

    /// <summary>The controllers to generate rules for; empty for <c>none</c>; null after an error.</summary>
    public static IReadOnlyList<string>? Controllers(Dictionary<string, Located<string>> annotations, YamlFile file)
    {
        if (!annotations.TryGetValue(Annotation, out var value))
        {
            return s_controllers;
        }

        var text = value.Value.Trim();
        if (text == "none")
        {
            return [];
        }

        var result = new List<string>();
        foreach (var part in text.Split(','))
        {
            var controller = part.Trim();
            if (Array.IndexOf(s_controllers, controller) < 0)
            {
                file.Report(DiagnosticDescriptors.InvalidAutogenControllers, value.Location, value.Value, controller.Length == 0 ? "it has an empty entry" : $"'{controller}' is not a Pod controller");
                return null;
            }

            if (!result.Contains(controller))
            {
                result.Add(controller);
            }
        }

        return result;
    }

    /// <summary>
    /// The rules plus their generated controller variants. Kyverno generates nothing for the whole policy as soon as
    /// one rule matches other kinds than Pod or selects by name, so neither does this.
    /// </summary>
    public static List<RuleModel> Expand(List<RuleModel> rules, IReadOnlyList<string> controllers)
    {
        if (controllers.Count == 0 || !rules.All(Supported))
        {
            return rules;
        }

        var others = controllers.Where(c => c != "CronJob").ToList();
        return rules.Select(rule =>
        {
            var variants = new List<AutogenRuleModel>();
            if (others.Count > 0)
            {
                variants.Add(Variant(rule, "autogen-" + rule.Name, others));
            }

            if (controllers.Contains("CronJob"))
            {
                variants.Add(Variant(rule, "autogen-cronjob-" + rule.Name, ["CronJob"]));
            }

            return rule with { Autogen = variants.ToEquatableArray() };
        }).ToList();
    }

    private static bool Supported(RuleModel rule) =>
        Filters(rule.Match).All(f => Portable(f) && !f.Kinds.IsEmpty && f.Kinds.All(IsPod))
        && (rule.Exclude is null || Filters(rule.Exclude).All(f => Portable(f) && f.Kinds.All(IsPod)));

    // Kyverno does not generate controller rules from filters naming the Pod itself: its name, labels or annotations
    // say nothing about the controller's.
    private static bool Portable(ResourceFilterModel filter) =>
        filter.Names.IsEmpty && filter.Selector is null && filter.Annotations.IsEmpty;

    private static IEnumerable<ResourceFilterModel> Filters(MatchModel block) => block.Any.Concat(block.All);

    private static bool IsPod(KindSelectorModel kind) =>
        kind.Kind == "Pod" && kind.SubResource is null && kind.Group is null or "" && kind.Version is null or "v1";

    private static AutogenRuleModel Variant(RuleModel rule, string name, IReadOnlyList<string> kinds) =>
        new(name, Replace(rule.Match, kinds), rule.Exclude is null ? null : Replace(rule.Exclude, kinds));

    private static MatchModel Replace(MatchModel block, IReadOnlyList<string> kinds) =>
        new(block.Any.Select(f => Replace(f, kinds)).ToEquatableArray(), block.All.Select(f => Replace(f, kinds)).ToEquatableArray());

    private static ResourceFilterModel Replace(ResourceFilterModel filter, IReadOnlyList<string> kinds) =>
        filter.Kinds.IsEmpty
            ? filter
            : filter with { Kinds = kinds.Select(k => new KindSelectorModel(null, null, k, null, k)).ToEquatableArray() };
}
