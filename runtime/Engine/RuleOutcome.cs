using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>What one rule concluded about one image (or about the whole resource when <see cref="Image"/> is null).</summary>
public enum RuleOutcomeStatus
{
    /// <summary>The rule matched the resource but did not apply (preconditions, no image in its imageReferences).</summary>
    Skip,

    Pass,

    /// <summary>A failure that does not deny: an Audit policy, or a registry error under failurePolicy Ignore.</summary>
    Warn,

    /// <summary>A failure that denies the review.</summary>
    Fail,
}

/// <param name="Policy">The policy name, <c>namespace/name</c> for a namespaced Policy.</param>
/// <param name="Image">The image as written in the resource; null for verdicts about the rule as a whole.</param>
/// <param name="Pointer">The JSON pointer of the image in the resource, which identifies it across the two passes.</param>
public sealed record RuleOutcome(string Policy, string Rule, string? Image, string? Pointer, RuleOutcomeStatus Status, string Message);

/// <summary>An admission response and the per-rule verdicts it was built from.</summary>
public sealed record AdmissionDecision(AdmissionResponse Response, IReadOnlyList<RuleOutcome> Outcomes);
