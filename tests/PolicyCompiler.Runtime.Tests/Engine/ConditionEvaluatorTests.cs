using System.Collections.Immutable;
using System.Text.Json;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Tests.Engine;

/// <summary>
/// Kyverno's order of evaluation for any/all lists, which decides both the verdict and which conditions run (a
/// condition that would throw must not run once the outcome is known), and how failures are worded.
/// </summary>
public sealed class ConditionEvaluatorTests
{
    private readonly List<string> _ran = [];

    private ConditionDefinition Condition(string path, bool result, string? message = null) =>
        new(path, path + " text", (_, _) =>
        {
            _ran.Add(path);
            return result;
        }, message);

    private ConditionDefinition Throwing(string path) =>
        new(path, path + " text", (_, _) =>
        {
            _ran.Add(path);
            throw new JmesPathException(JmesErrorKind.VariableNotFound, $"variable {path} could not be resolved");
        });

    private static string? Evaluate(params ConditionBlockDefinition[] blocks) =>
        ConditionEvaluator.Evaluate([.. blocks], JmesValue.Null, JmesContext.Default);

    [Fact]
    public void Any_stops_at_the_first_condition_that_holds()
    {
        var result = Evaluate(new ConditionBlockDefinition([Condition("a0", false), Condition("a1", true), Throwing("a2")], []));

        Assert.Null(result);
        Assert.Equal(["a0", "a1"], _ran);
    }

    [Fact]
    public void All_stops_at_the_first_condition_that_fails_and_names_it()
    {
        var result = Evaluate(new ConditionBlockDefinition(null, [Condition("b0", true), Condition("b1", false), Throwing("b2")]));

        Assert.Equal("b1 (b1 text) is false", result);
        Assert.Equal(["b0", "b1"], _ran);
    }

    [Fact]
    public void All_is_evaluated_even_when_any_failed_and_both_reasons_are_given()
    {
        var result = Evaluate(new ConditionBlockDefinition([Condition("a0", false, "no reviewer")], [Condition("b0", false, "wrong branch")]));

        Assert.Equal("no reviewer; wrong branch", result);
        Assert.Equal(["a0", "b0"], _ran);
    }

    [Fact]
    public void The_first_failing_block_decides_and_later_blocks_do_not_run()
    {
        var result = Evaluate(
            new ConditionBlockDefinition(null, [Condition("first", true)]),
            new ConditionBlockDefinition(null, [Condition("second", false, "second failed")]),
            new ConditionBlockDefinition(null, [Throwing("third")]));

        Assert.Equal("second failed", result);
        Assert.Equal(["first", "second"], _ran);
    }

    [Fact]
    public void A_condition_without_message_is_described_by_its_path_and_text()
    {
        var result = Evaluate(new ConditionBlockDefinition([Condition("a0", false, ""), Condition("a1", false, "a message")], []));

        Assert.Equal("a0 (a0 text) is false; a message", result);
    }

    [Fact]
    public void A_message_that_substitutes_to_nothing_is_left_out_of_the_reason()
    {
        var empty = new ConditionDefinition("a0", "a0 text", (_, _) => false, messageTemplate: (_, _) => JmesValue.From(string.Empty));

        var result = Evaluate(new ConditionBlockDefinition([empty, Condition("a1", false, "only this")], []));

        Assert.Equal("only this", result);
    }

    [Fact]
    public void An_empty_any_list_never_holds()
    {
        Assert.NotNull(Evaluate(new ConditionBlockDefinition([], [Condition("b0", true)])));
    }

    [Fact]
    public void No_blocks_means_nothing_to_check()
    {
        Assert.Null(ConditionEvaluator.Evaluate([], JmesValue.Null, JmesContext.Default));
        Assert.Null(ConditionEvaluator.Evaluate(default, JmesValue.Null, JmesContext.Default));
    }

    [Fact]
    public void An_unresolvable_variable_is_a_failed_check_never_a_pass()
    {
        var attestation = new AttestationDefinition(".attestations[0]", "https://example.com/CodeReview/v1", [], [new ConditionBlockDefinition(null, [Throwing("b0")])]);
        using var predicate = JsonDocument.Parse("{}");

        var failure = attestation.CheckConditions(predicate.RootElement, request: null, JmesContext.Default);

        Assert.Equal("failed to evaluate the conditions: variable b0 could not be resolved", failure);
    }

    [Fact]
    public void Substituted_message_reads_the_same_data_as_the_condition()
    {
        var condition = new ConditionDefinition("c", "text", (_, _) => false, messageTemplate: (root, _) => JmesValue.From("branch is " + root.Field("branch").GetString()));
        using var predicate = JsonDocument.Parse("""{"branch":"dev"}""");

        var result = ConditionEvaluator.Evaluate([new ConditionBlockDefinition(null, [condition])], JmesValue.FromJson(predicate.RootElement), JmesContext.Default);

        Assert.Equal("branch is dev", result);
    }

    [Fact]
    public void Default_all_list_is_empty()
    {
        var block = new ConditionBlockDefinition(null, default);

        Assert.Empty(block.All);
        Assert.Null(Evaluate(block));
    }

    [Fact]
    public void Verdicts_of_conditions_that_read_the_request_are_not_reusable()
    {
        ImmutableArray<ConditionBlockDefinition> none = [];
        var readsRequest = new AttestationDefinition(".attestations[0]", "t", [], none, conditionsReadRequest: true);
        var predicateOnly = new AttestationDefinition(".attestations[0]", "t", [], none);

        Assert.False(Entry(readsRequest).VerdictIsReusable);
        Assert.True(Entry(predicateOnly).VerdictIsReusable);
    }

    private static ImageVerificationDefinition Entry(AttestationDefinition attestation) =>
        new("verifyImages[0]", _ => true, [], mutateDigest: true, verifyDigest: true, required: true, repository: null, attestations: [attestation]);
}
