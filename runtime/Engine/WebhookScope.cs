namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// Which compiled policies one admission path judges. The API server evaluates a policy's
/// <c>webhookConfiguration.matchConditions</c> on a webhook that serves that policy alone; the shared webhook cannot
/// exempt one policy by CEL, so its path must leave such policies out, or they would judge requests their conditions
/// exclude.
/// </summary>
public sealed class WebhookScope
{
    private readonly PolicyDefinition? _policy;
    private readonly bool _all;

    private WebhookScope(PolicyDefinition? policy, bool all)
    {
        _policy = policy;
        _all = all;
    }

    /// <summary>Every compiled policy, whatever its webhook: where no API server evaluates match conditions (<c>check</c>).</summary>
    public static WebhookScope All { get; } = new(null, all: true);

    /// <summary>The shared webhook: every policy without a webhook of its own.</summary>
    public static WebhookScope Shared { get; } = new(null, all: false);

    /// <summary>The webhook of <paramref name="policy"/> alone.</summary>
    public static WebhookScope Of(PolicyDefinition policy) => new(policy ?? throw new ArgumentNullException(nameof(policy)), all: false);

    public bool Includes(PolicyDefinition policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return _all || (_policy is null ? !policy.HasOwnWebhook : ReferenceEquals(policy, _policy));
    }
}
