using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Generators.Model;

namespace PolicyCompiler.Generators.Emit;

/// <summary>
/// Writes compiled conditions: one static method per condition (key, operator and value as C# over the data root)
/// in the policy class, and the <c>ConditionBlockDefinition</c> list that wires them into the runtime.
/// </summary>
internal static class ConditionEmitter
{
    /// <summary>Writes the methods of every condition in <paramref name="blocks"/>, named from <paramref name="prefix"/>.</summary>
    public static void WriteMethods(SourceWriter w, string prefix, EquatableArray<ConditionBlockModel> blocks, KyvernoVariableMode mode)
    {
        for (var b = 0; b < blocks.Count; b++)
        {
            foreach (var (condition, name, _) in Named(prefix, b, blocks[b]))
            {
                var methods = new SourceWriter();
                KyvernoEmitter.EmitConditionMethod(methods, name, condition.Condition, mode, "private");
                if (condition.MessageTemplate is { } message)
                {
                    KyvernoEmitter.EmitTemplateMethod(methods, name + "_Message", message, mode, "private");
                }

                w.WriteLine();
                w.WriteLine($"// {CSharp.CommentSafe(condition.Path)}: {CSharp.CommentSafe(condition.Text)}");
                w.WriteBlock(methods.ToString());
            }
        }
    }

    /// <summary>Writes <c>[ new ConditionBlockDefinition(…), … ]</c> without a trailing separator.</summary>
    public static void WriteDefinitions(SourceWriter w, string prefix, EquatableArray<ConditionBlockModel> blocks)
    {
        w.WriteLine("[");
        w.Indentation++;
        for (var b = 0; b < blocks.Count; b++)
        {
            var block = blocks[b];
            var named = Named(prefix, b, block).ToList();
            w.WriteLine("new ConditionBlockDefinition(");
            w.Indentation++;
            if (block.Any is null)
            {
                w.WriteLine("any: null,");
            }
            else
            {
                WriteList(w, "any", named.Where(n => n.Kind == "Any"), ",");
            }

            WriteList(w, "all", named.Where(n => n.Kind == "All"), "),");
            w.Indentation--;
        }

        w.Indentation--;
        w.Append("]");
    }

    private static void WriteList(SourceWriter w, string name, IEnumerable<(ConditionModel Condition, string Name, string Kind)> conditions, string end)
    {
        var items = conditions.ToList();
        if (items.Count == 0)
        {
            w.WriteLine($"{name}: []{end}");
            return;
        }

        w.WriteLine($"{name}:");
        w.WriteLine("[");
        w.Indentation++;
        foreach (var item in items)
        {
            w.WriteLine(Definition(item.Condition, item.Name) + ",");
        }

        w.Indentation--;
        w.WriteLine("]" + end);
    }

    private static string Definition(ConditionModel condition, string name)
    {
        var message = condition.MessageTemplate is not null
            ? $", messageTemplate: {name}_Message"
            : condition.Message is { } literal ? $", message: {CSharp.Literal(literal)}" : string.Empty;
        return $"new ConditionDefinition({CSharp.Literal(condition.Path)}, {CSharp.Literal(condition.Text)}, {name}{message})";
    }

    private static IEnumerable<(ConditionModel Condition, string Name, string Kind)> Named(string prefix, int blockIndex, ConditionBlockModel block)
    {
        var blockName = prefix + "Condition" + blockIndex.ToString(CultureInfo.InvariantCulture);
        if (block.Any is { } any)
        {
            for (var i = 0; i < any.Count; i++)
            {
                yield return (any[i], blockName + "Any" + i.ToString(CultureInfo.InvariantCulture), "Any");
            }
        }

        for (var i = 0; i < block.All.Count; i++)
        {
            yield return (block.All[i], blockName + "All" + i.ToString(CultureInfo.InvariantCulture), "All");
        }
    }

    /// <summary>Whether any condition may read the admission request rather than only the statement.</summary>
    public static bool ReadsRequest(EquatableArray<ConditionBlockModel> blocks) =>
        blocks.Any(b => (b.Any?.Any(c => c.ReadsRequest) ?? false) || b.All.Any(c => c.ReadsRequest));
}
