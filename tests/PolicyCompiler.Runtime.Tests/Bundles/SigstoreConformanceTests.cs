using System.Security.Cryptography;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;
using Xunit.Abstractions;

namespace PolicyCompiler.Runtime.Tests.Bundles;

/// <summary>
/// The bundle-verification cases of the Sigstore client conformance suite (TestData/sigstore-conformance, rules in its
/// NOTICE.md): every case runs, a name ending in <c>_fail</c> must fail and every other must pass.
/// </summary>
public sealed class SigstoreConformanceTests(ITestOutputHelper output)
{
    /// <summary>The number of cases in the copied suite; a lost or added folder must be noticed.</summary>
    private const int ExpectedCases = 70;

    private const string DefaultIdentity = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    private const string DefaultIssuer = "https://token.actions.githubusercontent.com";

    internal static string TestData { get; } = Path.Combine(AppContext.BaseDirectory, "TestData");

    private static string Suite { get; } = Path.Combine(TestData, "sigstore-conformance", "bundle-verify");

    public static TheoryData<string> Cases() => new(CaseNames());

    private static List<string> CaseNames() =>
        Directory.GetDirectories(Suite).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void EveryCaseBehavesAsTheSuiteExpects()
    {
        var cases = CaseNames();
        var wrong = new List<string>();
        foreach (var name in cases)
        {
            var expectPass = !name.EndsWith("_fail", StringComparison.Ordinal);
            var result = Run(name);
            var asExpected = result.Verified == expectPass;
            output.WriteLine($"{(asExpected ? "ok  " : "WRONG")} {name}: {(result.Verified ? "verified" : result.Reason)}");
            if (!asExpected)
            {
                wrong.Add($"{name}: expected {(expectPass ? "pass" : "failure")}, got {(result.Verified ? "verified" : result.Reason)}");
            }
        }

        output.WriteLine($"sigstore-conformance bundle-verify: {cases.Count - wrong.Count}/{cases.Count} cases behave as expected");
        Assert.Equal(ExpectedCases, cases.Count);
        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Case(string name)
    {
        var result = Run(name);

        Assert.True(result.Verified != name.EndsWith("_fail", StringComparison.Ordinal), $"{name}: {(result.Verified ? "verified" : result.Reason)}");
    }

    /// <summary>One case by the suite's rules: artifact or ../a.txt, key.pub or identity/issuer (defaults), its own or the public-good root.</summary>
    internal static SigstoreBundleCheck Run(string name)
    {
        var directory = Path.Combine(Suite, name);
        var artifactPath = File.Exists(Path.Combine(directory, "artifact")) ? Path.Combine(directory, "artifact") : Path.Combine(Suite, "a.txt");
        var rootPath = File.Exists(Path.Combine(directory, "trusted_root.json"))
            ? Path.Combine(directory, "trusted_root.json")
            : Path.Combine(TestData, "sigstore-public-good", "trusted_root.json");

        TrustedRoot root;
        try
        {
            root = TrustedRoot.Parse(File.ReadAllBytes(rootPath));
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or KeyNotFoundException or CryptographicException or System.Text.Json.JsonException)
        {
            return SigstoreBundleCheck.Fail("the trusted root cannot be read: " + e.Message);
        }

        SignerPolicy signer;
        var keyPath = Path.Combine(directory, "key.pub");
        if (File.Exists(keyPath))
        {
            try
            {
                signer = new StaticKeySigner(VerificationKey.FromPem(File.ReadAllText(keyPath)));
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException or FormatException)
            {
                return SigstoreBundleCheck.Fail("the expected public key cannot be read: " + e.Message);
            }
        }
        else
        {
            var identity = ReadOrDefault(Path.Combine(directory, "identity"), DefaultIdentity);
            var issuer = ReadOrDefault(Path.Combine(directory, "issuer"), DefaultIssuer);
            signer = new KeylessSigner(new KeylessIdentity(identity, null, issuer, null, null), roots: null, ignoreSct: false, ctLogs: null);
        }

        return SigstoreBundleVerifier.Verify(
            File.ReadAllBytes(Path.Combine(directory, "bundle.sigstore.json")),
            BundleArtifact.FromBytes(File.ReadAllBytes(artifactPath)),
            signer,
            root,
            TimeProvider.System);
    }

    private static string ReadOrDefault(string path, string fallback) => File.Exists(path) ? File.ReadAllText(path).Trim() : fallback;
}
