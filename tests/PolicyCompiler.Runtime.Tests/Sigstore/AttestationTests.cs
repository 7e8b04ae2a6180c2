using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// cosign attestations as <c>cosign attest</c> lays them out: a DSSE envelope layer (in-toto statement payload,
/// signature over the DSSE pre-authentication encoding), optionally with a Rekor bundle of an intoto or dsse entry.
/// The envelopes are made here with a test key, following the DSSE and in-toto specifications.
/// </summary>
public sealed class AttestationTests : IDisposable
{
    private const string Digest = "sha256:b31bfb4d0213f254d361e0079deaaebefa4f82ba7aa76ef82e90b4935ad5b105";
    private const string CodeReview = "https://example.com/CodeReview/v1";

    private readonly ECDsa _signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _rekor = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    private VerificationKey Key(ECDsa key) => VerificationKey.FromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), HashAlgorithmName.SHA256);

    private static byte[] Statement(string predicateType = CodeReview, string digest = Digest, string statementType = InTotoStatement.StatementV01, string branch = "main") =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["_type"] = statementType,
            ["predicateType"] = predicateType,
            ["subject"] = new JsonArray(new JsonObject { ["name"] = "registry.io/org/app", ["digest"] = new JsonObject { ["sha256"] = digest["sha256:".Length..] } }),
            ["predicate"] = new JsonObject { ["author"] = "alice@example.com", ["repo"] = new JsonObject { ["branch"] = branch } },
        }.ToJsonString());

    private CosignSignature Layer(byte[] statement, ECDsa key, string payloadType = DsseEnvelope.InTotoPayloadType, Func<byte[], byte[], string>? bundle = null)
    {
        var signature = key.SignData(DsseEnvelope.PreAuthenticationEncoding(payloadType, statement), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var envelope = new JsonObject
        {
            ["payloadType"] = payloadType,
            ["payload"] = Convert.ToBase64String(statement),
            ["signatures"] = new JsonArray(new JsonObject { ["keyid"] = string.Empty, ["sig"] = Convert.ToBase64String(signature) }),
        };
        var annotations = new Dictionary<string, string> { [CosignSignature.SignatureAnnotation] = string.Empty, ["predicateType"] = CodeReview };
        if (bundle is not null)
        {
            annotations[CosignSignature.BundleAnnotation] = bundle(statement, signature);
        }

        return new CosignSignature(Encoding.UTF8.GetBytes(envelope.ToJsonString()), annotations);
    }

    /// <summary>A Rekor bundle of an intoto v0.0.2 entry (as cosign attest uploads), signed by the test log key.</summary>
    private string IntotoBundle(byte[] statement, byte[] signature, ECDsa signerKey)
    {
        var publicKeyPem = Convert.ToBase64String(Encoding.UTF8.GetBytes(signerKey.ExportSubjectPublicKeyInfoPem()));
        var body = new JsonObject
        {
            ["apiVersion"] = "0.0.2",
            ["kind"] = "intoto",
            ["spec"] = new JsonObject
            {
                ["content"] = new JsonObject
                {
                    ["envelope"] = new JsonObject
                    {
                        ["payloadType"] = DsseEnvelope.InTotoPayloadType,
                        ["signatures"] = new JsonArray(new JsonObject
                        {
                            ["sig"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(Convert.ToBase64String(signature))),
                            ["publicKey"] = publicKeyPem,
                        }),
                    },
                    ["hash"] = new JsonObject { ["algorithm"] = "sha256", ["value"] = new string('0', 64) },
                    ["payloadHash"] = new JsonObject { ["algorithm"] = "sha256", ["value"] = Convert.ToHexStringLower(SHA256.HashData(statement)) },
                },
            },
        };
        return SignedBundle(body.ToJsonString());
    }

    private string SignedBundle(string body)
    {
        var logId = Convert.ToHexStringLower(SHA256.HashData(_rekor.ExportSubjectPublicKeyInfo()));
        var payload = new JsonObject
        {
            ["body"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(body)),
            ["integratedTime"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["logIndex"] = 42,
            ["logID"] = logId,
        };
        Assert.True(RekorBundle.TryParse(new JsonObject { ["SignedEntryTimestamp"] = "AA==", ["Payload"] = payload.DeepClone() }.ToJsonString(), out var unsigned, out _));
        var set = _rekor.SignData(unsigned.CanonicalPayload(), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return new JsonObject { ["SignedEntryTimestamp"] = Convert.ToBase64String(set), ["Payload"] = payload }.ToJsonString();
    }

    private AttestationCheck Verify(IReadOnlyList<CosignSignature> layers, SignatureRequirements? requirements = null, string predicateType = CodeReview) =>
        CosignAttestationVerifier.Verify(layers, Digest, predicateType, new StaticKeySigner(Key(_signer)), requirements ?? SignatureRequirements.None, TimeProvider.System);

    [Theory]
    [InlineData(InTotoStatement.StatementV01)]
    [InlineData(InTotoStatement.StatementV1)]
    public void SignedStatementAboutTheDigestIsVerified(string statementType)
    {
        var check = Verify([Layer(Statement(statementType: statementType), _signer)]);

        Assert.True(check.Verified, check.Reason);
        var statement = Assert.Single(check.Statements);
        Assert.Equal("main", statement.Predicate.GetProperty("repo").GetProperty("branch").GetString());
    }

    [Fact]
    public void AnotherKeysSignatureIsInvalid()
    {
        var check = Verify([Layer(Statement(), _other)]);

        Assert.False(check.Verified);
        Assert.Equal("invalid signature", check.Reason);
    }

    [Fact]
    public void StatementAboutAnotherDigestIsRejected()
    {
        var check = Verify([Layer(Statement(digest: "sha256:" + new string('a', 64)), _signer)]);

        Assert.False(check.Verified);
        Assert.Contains("subject does not name", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PayloadTypeMustBeInToto()
    {
        var check = Verify([Layer(Statement(), _signer, payloadType: "application/vnd.example+json")]);

        Assert.False(check.Verified);
        Assert.Contains("DSSE payload type", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void SignatureOverThePayloadInsteadOfThePaeIsInvalid()
    {
        var statement = Statement();
        var raw = _signer.SignData(statement, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var envelope = new JsonObject
        {
            ["payloadType"] = DsseEnvelope.InTotoPayloadType,
            ["payload"] = Convert.ToBase64String(statement),
            ["signatures"] = new JsonArray(new JsonObject { ["sig"] = Convert.ToBase64String(raw) }),
        };

        var check = Verify([new CosignSignature(Encoding.UTF8.GetBytes(envelope.ToJsonString()), new Dictionary<string, string>())]);

        Assert.False(check.Verified);
    }

    [Fact]
    public void OnlyStatementsOfThePredicateTypeAreReturned()
    {
        var check = Verify([Layer(Statement(predicateType: "https://slsa.dev/provenance/v0.2"), _signer)]);

        Assert.False(check.Verified);
        Assert.Equal($"attestations not found for predicate type {CodeReview}", check.Reason);
    }

    [Fact]
    public void NoLayersMeansNoAttestations()
    {
        Assert.Equal("no attestations found", Verify([]).Reason);
    }

    [Fact]
    public void IntotoRekorBundleFromTheTrustedLogIsAccepted()
    {
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey("https://rekor.test", Key(_rekor)) };

        var check = Verify([Layer(Statement(), _signer, bundle: (s, sig) => IntotoBundle(s, sig, _signer))], requirements);

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void IntotoRekorBundleForAnotherPayloadIsRejected()
    {
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey("https://rekor.test", Key(_rekor)) };

        var check = Verify([Layer(Statement(), _signer, bundle: (_, sig) => IntotoBundle(Statement(branch: "dev"), sig, _signer))], requirements);

        Assert.False(check.Verified);
        Assert.Contains("another attestation payload", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DsseRekorEntryIsAccepted()
    {
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey("https://rekor.test", Key(_rekor)) };
        string Bundle(byte[] statement, byte[] signature) => SignedBundle(new JsonObject
        {
            ["apiVersion"] = "0.0.1",
            ["kind"] = "dsse",
            ["spec"] = new JsonObject
            {
                ["payloadHash"] = new JsonObject { ["algorithm"] = "sha256", ["value"] = Convert.ToHexStringLower(SHA256.HashData(statement)) },
                ["signatures"] = new JsonArray(new JsonObject
                {
                    ["signature"] = Convert.ToBase64String(signature),
                    ["verifier"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(_signer.ExportSubjectPublicKeyInfoPem())),
                }),
            },
        }.ToJsonString());

        Assert.True(Verify([Layer(Statement(), _signer, bundle: Bundle)], requirements).Verified);
    }

    [Fact]
    public void MissingBundleFailsWhenTheLogIsRequired()
    {
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey("https://rekor.test", Key(_rekor)) };

        var check = Verify([Layer(Statement(), _signer)], requirements);

        Assert.False(check.Verified);
        Assert.StartsWith("no transparency log entry", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PreAuthenticationEncodingFollowsTheDsseSpecification()
    {
        var pae = DsseEnvelope.PreAuthenticationEncoding("http://example.com/HelloWorld", "hello world"u8);

        Assert.Equal("DSSEv1 29 http://example.com/HelloWorld 11 hello world", Encoding.UTF8.GetString(pae));
    }

    [Fact]
    public async Task ConditionsRunOnEveryVerifiedStatementAndTheFirstFailureWins()
    {
        var set = new AttestorSetDefinition(".attestors[0]", null, [new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", Key(_signer))]);
        var seen = new List<string>();
        var isMain = new ConditionDefinition("conditions[0].all[0]", "{{ repo.branch }} Equals main", (root, _) =>
        {
            var branch = root.Field("repo").Field("branch").GetString();
            seen.Add(branch);
            return branch == "main";
        });
        var attestation = new AttestationDefinition(".attestations[0]", CodeReview, [set], [new ConditionBlockDefinition(any: null, all: [isMain])]);
        IReadOnlyList<CosignSignature> layers = [Layer(Statement(), _signer), Layer(Statement(branch: "dev"), _signer)];

        var (failure, conditionFailure, _) = await ImageVerifier.CheckAttestationAsync(attestation, Vouch(layers, attestation), request: null, JmesContext.Default);

        Assert.Null(failure);
        Assert.Equal("conditions[0].all[0] ({{ repo.branch }} Equals main) is false", conditionFailure);
        Assert.Equal(["main", "dev"], seen);
    }

    [Fact]
    public async Task AttestorThatVouchesForNothingReportsItsPath()
    {
        var set = new AttestorSetDefinition(".attestors[0]", null, [new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", Key(_other))]);
        var attestation = new AttestationDefinition(".attestations[0]", CodeReview, [set]);
        IReadOnlyList<CosignSignature> layers = [Layer(Statement(), _signer)];

        var (failure, conditionFailure, _) = await ImageVerifier.CheckAttestationAsync(attestation, Vouch(layers, attestation), request: null, JmesContext.Default);

        Assert.Null(conditionFailure);
        Assert.Equal(".attestations[0].attestors[0].entries[0].keys: invalid signature", failure);
    }

    [Fact]
    public async Task NestedSetVouchesAsOneEntryOnceItsOwnCountOfSignersVouched()
    {
        // entries[0] is a nested set needing one of two keys; entries[1] is a key that signed nothing.
        var nested = new NestedAttestorDefinition(".attestors[0].entries[0].attestor", new AttestorSetDefinition(".attestors[0].entries[0].attestor", 1,
        [
            new PublicKeyAttestorDefinition(".attestors[0].entries[0].attestor.entries[0].keys", Key(_other)),
            new PublicKeyAttestorDefinition(".attestors[0].entries[0].attestor.entries[1].keys", Key(_signer)),
        ]));
        var stranger = new PublicKeyAttestorDefinition(".attestors[0].entries[1].keys", Key(_other));
        IReadOnlyList<CosignSignature> layers = [Layer(Statement(), _signer)];

        var one = new AttestationDefinition(".attestations[0]", CodeReview, [new AttestorSetDefinition(".attestors[0]", 1, [stranger, nested])]);
        var both = new AttestationDefinition(".attestations[0]", CodeReview, [new AttestorSetDefinition(".attestors[0]", null, [nested, stranger])]);

        var (passed, _, predicate) = await ImageVerifier.CheckAttestationAsync(one, Vouch(layers, one), request: null, JmesContext.Default);
        var (failed, _, _) = await ImageVerifier.CheckAttestationAsync(both, Vouch(layers, both), request: null, JmesContext.Default);

        Assert.Null(passed);
        Assert.Equal("main", predicate!.Value.GetProperty("repo").GetProperty("branch").GetString());
        Assert.Equal(".attestations[0].attestors[0].entries[1].keys: invalid signature", failed);
    }

    [Fact]
    public async Task NestedSetThatFallsShortOfItsCountNamesEachInnerAttestor()
    {
        var nested = new NestedAttestorDefinition(".attestors[0].entries[0].attestor", new AttestorSetDefinition(".attestors[0].entries[0].attestor", null,
        [
            new PublicKeyAttestorDefinition(".attestors[0].entries[0].attestor.entries[0].keys", Key(_signer)),
            new PublicKeyAttestorDefinition(".attestors[0].entries[0].attestor.entries[1].keys", Key(_other)),
        ]));
        var attestation = new AttestationDefinition(".attestations[0]", CodeReview, [new AttestorSetDefinition(".attestors[0]", null, [nested])]);
        IReadOnlyList<CosignSignature> layers = [Layer(Statement(), _signer)];

        var (failure, conditionFailure, _) = await ImageVerifier.CheckAttestationAsync(attestation, Vouch(layers, attestation), request: null, JmesContext.Default);

        Assert.Null(conditionFailure);
        Assert.Equal(".attestations[0].attestors[0].entries[0].attestor.entries[1].keys: invalid signature", failure);
    }

    [Fact]
    public async Task ConditionsRunOnTheStatementsANestedSignerVouchedFor()
    {
        var nested = new NestedAttestorDefinition(".attestors[0].entries[0].attestor", new AttestorSetDefinition(".attestors[0].entries[0].attestor", null,
        [
            new PublicKeyAttestorDefinition(".attestors[0].entries[0].attestor.entries[0].keys", Key(_signer)),
        ]));
        var isMain = new ConditionDefinition("conditions[0].all[0]", "{{ repo.branch }} Equals main", (root, _) => root.Field("repo").Field("branch").GetString() == "main");
        var attestation = new AttestationDefinition(".attestations[0]", CodeReview, [new AttestorSetDefinition(".attestors[0]", null, [nested])], [new ConditionBlockDefinition(any: null, all: [isMain])]);
        IReadOnlyList<CosignSignature> layers = [Layer(Statement(branch: "dev"), _signer)];

        var (failure, conditionFailure, _) = await ImageVerifier.CheckAttestationAsync(attestation, Vouch(layers, attestation), request: null, JmesContext.Default);

        Assert.Null(failure);
        Assert.Equal("conditions[0].all[0] ({{ repo.branch }} Equals main) is false", conditionFailure);
    }

    private static Func<SignatureAttestorDefinition, Task<AttestationCheck>> Vouch(IReadOnlyList<CosignSignature> layers, AttestationDefinition attestation) =>
        attestor => Task.FromResult(CosignAttestationVerifier.Verify(layers, Digest, attestation.PredicateType, attestor.Signer, attestor.Requirements, TimeProvider.System));

    public void Dispose()
    {
        _signer.Dispose();
        _other.Dispose();
        _rekor.Dispose();
    }
}
