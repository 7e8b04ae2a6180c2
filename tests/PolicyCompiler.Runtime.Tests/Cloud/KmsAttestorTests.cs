using System.Security.Cryptography;
using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Hostile;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using PolicyCompiler.Runtime.Tests.Kubernetes;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>
/// A <c>keys.kms</c> attestor through the image verifier: the cosign signature (made by <c>openssl</c> with the KMS key's
/// private half) sits in <see cref="HostileRegistry"/> in its honest mode, the public key in <see cref="FakeAwsKms"/>.
/// A KMS that cannot be asked is an Error (failurePolicy decides), never a pass.
/// </summary>
public sealed class KmsAttestorTests : IDisposable
{
    private const string KeyPath = ".attestors[0].entries[0].keys";
    private static readonly AwsCredentials s_credentials = new("AKIDSTATIC", "static-secret-key");

    private readonly HostileRegistry _registry = new();
    private readonly OpenSslKeys _openssl = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly FakeAwsKms _kms;

    public KmsAttestorTests()
    {
        _kms = new FakeAwsKms("eu-west-1", s_credentials, _time.GetUtcNow);
        _openssl.Generate("signer", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        _openssl.Generate("other", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
    }

    public void Dispose()
    {
        _kms.Dispose();
        _openssl.Dispose();
    }

    private static ImageVerificationDefinition Entry(string reference) => new(
        "verifyImages[0]",
        _ => true,
        [new AttestorSetDefinition(".attestors[0]", 1, [new KmsKeyAttestorDefinition(KeyPath, reference, HashAlgorithmName.SHA256)])],
        mutateDigest: true,
        verifyDigest: true,
        required: true,
        repository: null);

    private async Task<ImageVerificationResult> VerifyAsync(string reference, IKmsKeySource? kms)
    {
        var digest = _registry.PushImage(HostileHarness.Repository, "v1");
        var payload = HostileRegistry.Payload(HostileHarness.Repository, digest);
        _registry.PushSignatureLayers(HostileHarness.Repository, digest, [(payload, Convert.ToBase64String(_openssl.Sign("signer", payload)))]);
        var entry = Entry(reference);
        var rule = new RuleDefinition("check-signature", _ => true, [entry]);
        var policy = new PolicyDefinition("kms-keys", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "kms-keys.yaml", [rule]);
        var client = new RegistryClient(new RegistryOptions(), _registry, NoRegistryCredentials.Instance, metrics: null, time: null);
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System, secretKeys: null, kms);
        return await verifier.VerifyAsync(policy, rule, entry, ImageReference.Parse(HostileHarness.Image(":v1")), digest, CancellationToken.None);
    }

    private KmsKeys Keys(Uri endpoint) => new(
        new CloudOptions
        {
            AwsRegion = "eu-west-1",
            AwsKmsEndpoint = endpoint,
            Environment = name => name switch { "AWS_ACCESS_KEY_ID" => s_credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY" => s_credentials.SecretAccessKey, _ => null },
        },
        _time);

    [Fact]
    public async Task Signature_made_with_the_kms_key_passes()
    {
        _kms.Keys["alias/release-signer"] = (_openssl.PublicDer("signer"), "ECC_NIST_P256", "ECDSA_SHA_256", "SIGN_VERIFY");
        using var keys = Keys(_kms.Address);

        var result = await VerifyAsync("awskms:///alias/release-signer", keys);

        Assert.Equal(VerificationStatus.Pass, result.Status);
        Assert.Single(_kms.Requests);
    }

    [Fact]
    public async Task Another_key_in_the_kms_fails_with_the_attestor_path()
    {
        _kms.Keys["alias/release-signer"] = (_openssl.PublicDer("other"), "ECC_NIST_P256", "ECDSA_SHA_256", "SIGN_VERIFY");
        using var keys = Keys(_kms.Address);

        var result = await VerifyAsync("awskms:///alias/release-signer", keys);

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains($"{KeyPath}: ", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_the_kms_does_not_have_fails()
    {
        using var keys = Keys(_kms.Address);

        var result = await VerifyAsync("awskms:///alias/release-signer", keys);

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains($"{KeyPath}: AWS KMS GetPublicKey of awskms:///alias/release-signer: 400 BadRequest: NotFoundException", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_kms_is_an_error_never_a_pass()
    {
        using var keys = Keys(new Uri($"http://127.0.0.1:{FakeKubernetesApi.FreePort()}/"));

        var result = await VerifyAsync("awskms:///alias/release-signer", keys);

        Assert.Equal(VerificationStatus.Error, result.Status);
        Assert.Contains("AWS KMS GetPublicKey of awskms:///alias/release-signer", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_kms_client_the_key_cannot_verify()
    {
        var result = await VerifyAsync("awskms:///alias/release-signer", kms: null);

        Assert.Equal(VerificationStatus.Fail, result.Status);
        Assert.Contains("no KMS client is configured", result.Message, StringComparison.Ordinal);
    }
}
