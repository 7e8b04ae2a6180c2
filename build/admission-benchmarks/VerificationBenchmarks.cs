using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.AdmissionBenchmarks;

/// <summary>
/// The cost of one cosign signature check on the real fixture (payload parse, digest and type checks, ECDSA P-256),
/// with and without its Rekor bundle, against the floor of one raw <see cref="ECDsa.VerifyData(byte[], byte[], HashAlgorithmName, DSASignatureFormat)"/>.
/// </summary>
[MemoryDiagnoser]
public class SignatureBenchmarks
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "TestData", "containers-image-cosign");

    private IReadOnlyList<CosignSignature> _plain = null!;
    private IReadOnlyList<CosignSignature> _logged = null!;
    private string _plainDigest = null!;
    private string _loggedDigest = null!;
    private StaticKeySigner _plainSigner = null!;
    private StaticKeySigner _loggedSigner = null!;
    private SignatureRequirements _withLog = null!;
    private ECDsa _raw = null!;
    private byte[] _rawPayload = null!;
    private byte[] _rawSignature = null!;

    [GlobalSetup]
    public void Setup()
    {
        _plain = [Read("dir-img-cosign-valid")];
        _logged = [Read("dir-img-cosign-key-rekor-valid")];
        _plainDigest = RegistryClient.ComputeDigest(File.ReadAllBytes(Path.Combine(Fixtures, "dir-img-cosign-valid", "manifest.json")));
        _loggedDigest = RegistryClient.ComputeDigest(File.ReadAllBytes(Path.Combine(Fixtures, "dir-img-cosign-key-rekor-valid", "manifest.json")));
        _plainSigner = new StaticKeySigner(VerificationKey.FromPem(File.ReadAllText(Path.Combine(Fixtures, "cosign.pub"))));
        _loggedSigner = new StaticKeySigner(VerificationKey.FromPem(File.ReadAllText(Path.Combine(Fixtures, "cosign2.pub"))));
        _withLog = new SignatureRequirements { Tlog = TransparencyLogPolicy.TrustedRootLogs };
        _raw = ECDsa.Create();
        _raw.ImportFromPem(File.ReadAllText(Path.Combine(Fixtures, "cosign.pub")));
        _rawPayload = _plain[0].Payload;
        _rawSignature = _plain[0].SignatureBytes!;

        if (!Check() || !CheckWithRekorBundle() || !RawEcdsaVerify())
        {
            throw new InvalidOperationException("the fixtures must verify before they are measured");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _raw.Dispose();

    [Benchmark(Baseline = true, Description = "raw ECDsa.VerifyData (P-256, DER)")]
    public bool RawEcdsaVerify() => _raw.VerifyData(_rawPayload, _rawSignature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    [Benchmark(Description = "cosign signature, key, no tlog")]
    public bool Check() => CosignVerifier.Verify(_plain, _plainDigest, _plainSigner, SignatureRequirements.None, TimeProvider.System).Verified;

    [Benchmark(Description = "cosign signature, key, Rekor bundle")]
    public bool CheckWithRekorBundle() => CosignVerifier.Verify(_logged, _loggedDigest, _loggedSigner, _withLog, TimeProvider.System).Verified;

    private static CosignSignature Read(string image)
    {
        var blob = File.ReadAllBytes(Path.Combine(Fixtures, image, "signature-1"));
        var newline = Array.IndexOf(blob, (byte)'\n');
        using var document = JsonDocument.Parse(blob.AsMemory(newline + 1));
        var annotations = document.RootElement.GetProperty("annotations").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        return new CosignSignature(document.RootElement.GetProperty("payload").GetBytesFromBase64(), annotations);
    }
}

/// <summary>
/// One admission review of a Pod with three containers against a compiled-style policy, decided in process with a
/// warm verification cache (digest references: no registry round trip), for both webhook passes.
/// </summary>
[MemoryDiagnoser]
public class AdmissionBenchmarks
{
    private AdmissionEngine _engine = null!;
    private AdmissionRequest _request = null!;
    private RegistryClient _registry = null!;

    [GlobalSetup]
    public void Setup()
    {
        var key = VerificationKey.FromPem(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "containers-image-cosign", "cosign.pub")));
        var rule = new RuleDefinition(
            "check-image",
            static r => r.KindIs(null, null, "Pod", null),
            [
                new ImageVerificationDefinition(
                    "verifyImages[0]",
                    static image => image.StartsWith("registry.example/team/", StringComparison.Ordinal),
                    [new AttestorSetDefinition(".attestors[0]", 1, [new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", key)])],
                    mutateDigest: true,
                    verifyDigest: true,
                    required: true,
                    repository: null),
            ]);
        var policy = new PolicyDefinition("check-image", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "bench.yaml", [rule]);
        _registry = new RegistryClient(new RegistryOptions());
        var cache = new VerificationCache(new VerificationCacheOptions(), TimeProvider.System);
        _engine = new AdmissionEngine([policy], new ImageVerifier(_registry, cache));

        var containers = string.Join(",", Enumerable.Range(0, 3).Select(i =>
            "{\"name\":\"c" + i + "\",\"image\":\"registry.example/team/app" + i + ":v1@sha256:" + new string((char)('a' + i), 64) + "\"}"));
        var review = """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},
            "namespace":"default","name":"bench","operation":"CREATE","object":{"metadata":{"name":"bench","namespace":"default"},
            "spec":{"containers":[CONTAINERS]}}}}
            """.Replace("CONTAINERS", containers, StringComparison.Ordinal);
        _request = JsonSerializer.Deserialize(Encoding.UTF8.GetBytes(review), AdmissionJsonContext.Default.AdmissionReview)!.Request!;

        // Warm the cache with passing verdicts, as after the first review of these images.
        foreach (var i in Enumerable.Range(0, 3))
        {
            var digest = "sha256:" + new string((char)('a' + i), 64);
            var image = ImageReference.Parse($"registry.example/team/app{i}:v1@{digest}");
            cache.GetOrVerifyAsync(ImageVerifier.CacheKey(policy, rule, rule.VerifyImages[0], image, digest), true, () => Task.FromResult(ImageVerificationResult.Pass("warm", digest))).GetAwaiter().GetResult();
        }

        if (!Mutate().Allowed || !Validate().Allowed)
        {
            throw new InvalidOperationException("the warm review must be allowed before it is measured");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _registry.Dispose();

    /// <summary>The review under test, for the allocation profile's breakdown.</summary>
    internal AdmissionRequest Request => _request;

    [Benchmark(Description = "mutate: Pod, 3 containers, warm cache")]
    public AdmissionResponse Mutate() => _engine.MutateAsync(_request, CancellationToken.None).GetAwaiter().GetResult();

    [Benchmark(Description = "validate: Pod, 3 containers, warm cache")]
    public AdmissionResponse Validate() => _engine.ValidateAsync(_request, CancellationToken.None).GetAwaiter().GetResult();
}
