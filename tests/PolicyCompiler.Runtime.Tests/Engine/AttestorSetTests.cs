using System.Collections.Immutable;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Engine;

/// <summary>
/// Kyverno's attestor-set semantics over real signatures: <c>count</c> entries must verify (all when unset), nested
/// sets count as one entry, and a failure names the attestor path.
/// </summary>
public sealed class AttestorSetTests
{
    private const string Image = "dir-img-cosign-valid";

    private static PublicKeyAttestorDefinition Key(string path, string file) => new(path, CosignFixtures.Key(file));

    private static Task<List<string>> Check(AttestorSetDefinition set) =>
        ImageVerifier.CheckSetAsync(set, attestor => Task.FromResult(CosignVerifier.Verify(CosignFixtures.Signatures(Image), CosignFixtures.ManifestDigest(Image), attestor.Signer, attestor.Requirements, TimeProvider.System)));

    private static AttestorSetDefinition Set(int? count, params AttestorDefinition[] entries) => new(".attestors[0]", count, [.. entries]);

    [Fact]
    public async Task AllEntriesAreRequiredWithoutACount()
    {
        var failures = await Check(Set(null, Key(".attestors[0].entries[0].keys", "cosign.pub"), Key(".attestors[0].entries[1].keys", "cosign2.pub")));

        Assert.Equal([".attestors[0].entries[1].keys: invalid signature"], failures);
    }

    [Fact]
    public async Task CountOfOneIsSatisfiedByAnyEntry()
    {
        var failures = await Check(Set(1, Key(".attestors[0].entries[0].keys", "cosign2.pub"), Key(".attestors[0].entries[1].keys", "cosign.pub")));

        Assert.Empty(failures);
    }

    [Fact]
    public async Task NoEntryVerifyingReportsEveryPath()
    {
        var failures = await Check(Set(1, Key(".attestors[0].entries[0].keys", "cosign2.pub")));

        Assert.Equal([".attestors[0].entries[0].keys: invalid signature"], failures);
    }

    [Fact]
    public async Task NestedSetCountsAsOneEntry()
    {
        var nested = new NestedAttestorDefinition(".attestors[0].entries[0].attestor", new AttestorSetDefinition(".attestors[0].entries[0].attestor", 1, [Key(".attestors[0].entries[0].attestor.entries[0].keys", "cosign.pub")]));
        var failing = new NestedAttestorDefinition(".attestors[0].entries[1].attestor", new AttestorSetDefinition(".attestors[0].entries[1].attestor", null, [Key(".attestors[0].entries[1].attestor.entries[0].keys", "cosign2.pub")]));

        Assert.Empty(await Check(Set(1, nested, failing)));
        Assert.Equal([".attestors[0].entries[1].attestor.entries[0].keys: invalid signature"], await Check(Set(2, nested, failing)));
    }

    [Fact]
    public async Task ACountLargerThanTheEntriesCannotBeSatisfied()
    {
        var failures = await Check(Set(2, Key(".attestors[0].entries[0].keys", "cosign.pub")));

        Assert.Equal([".attestors[0]: 1 of the 2 required attestors verified"], failures);
    }

    [Fact]
    public async Task AnEmptySetIsNotSatisfied()
    {
        var failures = await Check(new AttestorSetDefinition(".attestors[0]", null, ImmutableArray<AttestorDefinition>.Empty));

        Assert.Single(failures);
    }

    [Fact]
    public async Task RequirementsAreAppliedPerAttestor()
    {
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.TrustedRootLogs };
        var failures = await Check(Set(null, new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", CosignFixtures.Key("cosign.pub"), requirements)));

        var failure = Assert.Single(failures);
        Assert.StartsWith(".attestors[0].entries[0].keys: no transparency log entry", failure, StringComparison.Ordinal);
    }
}
