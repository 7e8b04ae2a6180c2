using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Bundles;

/// <summary>The verifier's API on conformance bundles: artifacts by digest, signing times, options, managed keys, edits.</summary>
public sealed class SigstoreBundleVerifierTests
{
    private const string Identity = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    private const string Issuer = "https://token.actions.githubusercontent.com";

    private static readonly FakeTimeProvider s_clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static string Suite { get; } = Path.Combine(SigstoreConformanceTests.TestData, "sigstore-conformance", "bundle-verify");

    private static byte[] A { get; } = File.ReadAllBytes(Path.Combine(Suite, "a.txt"));

    private static TrustedRoot PublicGood { get; } = TrustedRoot.Parse(File.ReadAllBytes(Path.Combine(SigstoreConformanceTests.TestData, "sigstore-public-good", "trusted_root.json")));

    private static byte[] BundleOf(string name) => File.ReadAllBytes(Path.Combine(Suite, name, "bundle.sigstore.json"));

    private static TrustedRoot RootOf(string name) => TrustedRoot.Parse(File.ReadAllBytes(Path.Combine(Suite, name, "trusted_root.json")));

    private static KeylessSigner Keyless(KeylessIdentity? identity = null) =>
        new(identity ?? new KeylessIdentity(Identity, null, Issuer, null, null), roots: null, ignoreSct: false, ctLogs: null);

    private static byte[] Edit(byte[] bundle, Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(bundle)!;
        edit(node);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    [Fact]
    public void AMessageSignatureVerifiesAgainstTheArtifactDigestAlone()
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(A));

        var result = SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromDigest(digest), Keyless(), PublicGood, s_clock);

        Assert.True(result.Verified, result.Reason);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1710869186), result.SigningTime);
        Assert.Null(result.Statement);
    }

    [Fact]
    public void AnotherArtifactDigestFails()
    {
        var result = SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromDigest("sha256:" + new string('a', 64)), Keyless(), PublicGood, s_clock);

        Assert.False(result.Verified);
        Assert.Equal("invalid signature: the bundle's message digest is not the artifact's digest", result.Reason);
    }

    [Fact]
    public void ARekorV2BundleIsTimedByItsTimestampAuthority()
    {
        var result = SigstoreBundleVerifier.Verify(BundleOf("rekor2-happy-path"), BundleArtifact.FromBytes(A), Keyless(), RootOf("rekor2-happy-path"), s_clock);

        Assert.True(result.Verified, result.Reason);
        var timestamp = Assert.Single(result.Timestamps);
        Assert.Equal(TimestampSource.TimestampAuthority, timestamp.Source);
        Assert.Equal(new DateTimeOffset(2025, 6, 12, 12, 2, 20, TimeSpan.Zero), result.SigningTime);
    }

    [Fact]
    public void ARekorV2DsseBundleReturnsItsStatement()
    {
        var name = "rekor2-dsse-happy-path";
        var bundle = JsonNode.Parse(BundleOf(name))!;
        var statement = JsonNode.Parse(Convert.FromBase64String(bundle["dsseEnvelope"]!["payload"]!.GetValue<string>()))!;
        var subject = statement["subject"]![0]!["digest"]!["sha256"]!.GetValue<string>();

        var result = SigstoreBundleVerifier.Verify(BundleOf(name), BundleArtifact.FromDigest("sha256:" + subject), Keyless(), RootOf(name), s_clock);

        Assert.True(result.Verified, result.Reason);
        Assert.Equal(statement["predicateType"]!.GetValue<string>(), result.Statement!.PredicateType);
    }

    [Fact]
    public void ARequiredTimestampAuthorityIsEnforced()
    {
        var options = new SigstoreBundleOptions { TimestampThreshold = 1 };

        var withoutTimestamp = SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromBytes(A), Keyless(), PublicGood, s_clock, options);
        var withTimestamp = SigstoreBundleVerifier.Verify(BundleOf("rekor2-happy-path"), BundleArtifact.FromBytes(A), Keyless(), RootOf("rekor2-happy-path"), s_clock, options);

        Assert.Equal("timestamp: 0 timestamps from trusted timestamp authorities verify, 1 required", withoutTimestamp.Reason);
        Assert.True(withTimestamp.Verified, withTimestamp.Reason);
    }

    [Fact]
    public void WithoutLogEntriesTheBundleIsRejectedUnlessTheLogIsNotRequired()
    {
        var unlogged = Edit(BundleOf("happy-path-v0.3"), b => b["verificationMaterial"]!.AsObject().Remove("tlogEntries"));

        var required = SigstoreBundleVerifier.Verify(unlogged, BundleArtifact.FromBytes(A), Keyless(), PublicGood, s_clock);
        var ignored = SigstoreBundleVerifier.Verify(unlogged, BundleArtifact.FromBytes(A), Keyless(), PublicGood, s_clock, new SigstoreBundleOptions { TransparencyLogThreshold = 0 });

        Assert.Equal("no transparency log entry: the bundle was not logged", required.Reason);

        // With no log and no timestamp the clock judges, as cosign does with ignoreTlog: the 10-minute Fulcio
        // certificate of 2024 is not valid in 2026.
        Assert.False(ignored.Verified);
        Assert.StartsWith("certificate: the certificate was not valid at 2026-01-01", ignored.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void IdentityRegexesApplyToBundles()
    {
        var matching = new KeylessIdentity(null, new Regex("^https://github\\.com/sigstore-conformance/.*$"), null, new Regex("^https://token\\.actions\\.githubusercontent\\.com$"), null);
        var other = new KeylessIdentity(null, new Regex("^https://github\\.com/someone-else/.*$"), null, null, null);

        Assert.True(SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromBytes(A), Keyless(matching), PublicGood, s_clock).Verified);
        Assert.StartsWith("certificate: subject mismatch", SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromBytes(A), Keyless(other), PublicGood, s_clock).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AdditionalFulcioExtensionsApplyToBundles()
    {
        var extensions = new Dictionary<string, string> { ["githubWorkflowTrigger"] = "workflow_dispatch", ["sourceRepositoryRef"] = "refs/heads/main" };
        var wrong = new Dictionary<string, string> { ["githubWorkflowTrigger"] = "push" };

        Assert.True(SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromBytes(A), Keyless(new KeylessIdentity(Identity, null, Issuer, null, extensions)), PublicGood, s_clock).Verified);
        Assert.Equal(
            "certificate: extension mismatch: expected push for githubWorkflowTrigger, got workflow_dispatch",
            SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromBytes(A), Keyless(new KeylessIdentity(Identity, null, Issuer, null, wrong)), PublicGood, s_clock).Reason);
    }

    [Fact]
    public void AManagedKeyBundleVerifiesOnlyWithItsKey()
    {
        var key = VerificationKey.FromPem(File.ReadAllText(Path.Combine(Suite, "managed-key-happy-path", "key.pub")));
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var right = SigstoreBundleVerifier.Verify(BundleOf("managed-key-happy-path"), BundleArtifact.FromBytes(A), new StaticKeySigner(key), PublicGood, s_clock);
        var wrong = SigstoreBundleVerifier.Verify(BundleOf("managed-key-happy-path"), BundleArtifact.FromBytes(A), new StaticKeySigner(VerificationKey.FromPem(other.ExportSubjectPublicKeyInfoPem())), PublicGood, s_clock);

        Assert.True(right.Verified, right.Reason);
        Assert.Null(right.Certificate);
        Assert.Equal("invalid signature", wrong.Reason);
    }

    [Fact]
    public void IgnoringTheSctSkipsOnlyTheCtCheck()
    {
        var root = RootOf("invalid-ct-key_fail");
        var ignoring = new KeylessSigner(new KeylessIdentity(Identity, null, Issuer, null, null), roots: null, ignoreSct: true, ctLogs: null);

        Assert.Equal("certificate: the SCT comes from a CT log that is not trusted", SigstoreBundleVerifier.Verify(BundleOf("invalid-ct-key_fail"), BundleArtifact.FromBytes(A), Keyless(), root, s_clock).Reason);
        Assert.True(SigstoreBundleVerifier.Verify(BundleOf("invalid-ct-key_fail"), BundleArtifact.FromBytes(A), ignoring, root, s_clock).Verified);
    }

    [Fact]
    public void DuplicatedLogEntriesAreRejected()
    {
        var doubled = Edit(BundleOf("happy-path-v0.3"), b =>
        {
            var entries = b["verificationMaterial"]!["tlogEntries"]!.AsArray();
            entries.Add(entries[0]!.DeepClone());
        });

        Assert.Equal("transparency log: the bundle holds the same entry twice", SigstoreBundleVerifier.Verify(doubled, BundleArtifact.FromBytes(A), Keyless(), PublicGood, s_clock).Reason);
    }

    [Fact]
    public void AnIntegratedTimeAheadOfTheClockIsRejected()
    {
        var early = new FakeTimeProvider(new DateTimeOffset(2024, 3, 19, 17, 0, 0, TimeSpan.Zero));

        var result = SigstoreBundleVerifier.Verify(BundleOf("happy-path-v0.3"), BundleArtifact.FromBytes(A), Keyless(), PublicGood, early);

        Assert.Equal("transparency log: the entry's integrated time 2024-03-19T17:26:26.0000000+00:00 is in the future", result.Reason);
    }

    [Theory]
    [InlineData("application/vnd.dev.sigstore.bundle+json;version=0.1")]
    [InlineData("application/vnd.dev.sigstore.bundle+json;version=0.2")]
    [InlineData("application/vnd.dev.sigstore.bundle+json;version=0.3")]
    [InlineData("application/vnd.dev.sigstore.bundle.v0.3+json")]
    public void TheFourMediaTypesAreRead(string mediaType)
    {
        var bundle = Edit(BundleOf("happy-path-v0.3"), b => b["mediaType"] = mediaType);

        Assert.True(SigstoreBundle.TryParse(bundle, out var parsed, out var error), error);
        Assert.Equal(mediaType, parsed.MediaType);
    }

    [Fact]
    public void AV01BundleEntryWithoutAnInclusionPromiseIsRejected()
    {
        var bundle = Edit(BundleOf("happy-path-v0.1"), b => b["verificationMaterial"]!["tlogEntries"]![0]!.AsObject().Remove("inclusionPromise"));

        Assert.False(SigstoreBundle.TryParse(bundle, out _, out var error));
        Assert.Equal("a v0.1 bundle's transparency log entry has no inclusion promise", error);
    }

    [Fact]
    public void ALogEntryOfAnotherKindThanDeclaredIsRejected()
    {
        var bundle = Edit(BundleOf("happy-path-v0.3"), b => b["verificationMaterial"]!["tlogEntries"]![0]!["kindVersion"]!["version"] = "0.0.2");

        var result = SigstoreBundleVerifier.Verify(bundle, BundleArtifact.FromBytes(A), Keyless(), PublicGood, s_clock);

        Assert.Equal("transparency log: the entry does not match the bundle: the entry is a hashedrekord 0.0.1, not the hashedrekord 0.0.2 the bundle declares", result.Reason);
    }

    [Fact]
    public void ArtifactDigestsAreValidated()
    {
        Assert.Throws<ArgumentException>(() => BundleArtifact.FromDigest("md5:00"));
        Assert.Throws<ArgumentException>(() => BundleArtifact.FromDigest("sha256:abcd"));
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(A)), BundleArtifact.FromBytes(A).Digest);
    }
}
