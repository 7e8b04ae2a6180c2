using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// The whole admission path (AdmissionEngine → ImageVerifier → RegistryClient) against a <see cref="HostileRegistry"/>,
/// with one Enforce policy that requires every image to be signed by <see cref="Signer"/> and pins digests. The hostile
/// tests judge the answer the API server would get, not an intermediate value.
/// </summary>
internal sealed class HostileHarness : IDisposable
{
    public const string Repository = "team/app";

    public HostileHarness(
        FailurePolicy failurePolicy = FailurePolicy.Fail,
        int timeoutSeconds = 10,
        Action<RegistryOptions>? configure = null,
        bool realDelays = false,
        IRegistryCredentialProvider? credentials = null,
        Runtime.Telemetry.WebhookMetrics? metrics = null,
        SignerPolicy? signer = null,
        string? predicateType = null,
        FailureAction failureAction = FailureAction.Enforce)
    {
        var options = new RegistryOptions();
        configure?.Invoke(options);
        Client = new RegistryClient(options, Registry, credentials ?? NoRegistryCredentials.Instance, metrics, time: null);
        if (!realDelays)
        {
            // Backoff waits are not slept, so that retry tests stay fast; deadline tests opt into real waits.
            Client.DelayAsync = (_, cancellationToken) => cancellationToken.IsCancellationRequested ? Task.FromCanceled(cancellationToken) : Task.CompletedTask;
        }

        var attestor = new SignatureAttestorDefinition(".attestors[0].entries[0].keys", signer ?? new StaticKeySigner(VerificationKey.FromPem(Signer.ExportSubjectPublicKeyInfoPem())), SignatureRequirements.None);
        AttestorSetDefinition[] attestors = [new AttestorSetDefinition(".attestors[0]", 1, ImmutableArray.Create<AttestorDefinition>(attestor))];

        // With a predicate type, the entry requires an attestation of that type instead of an image signature.
        var entry = new ImageVerificationDefinition(
            "verifyImages[0]",
            _ => true,
            predicateType is null ? [.. attestors] : [],
            mutateDigest: true,
            verifyDigest: true,
            required: true,
            repository: null,
            attestations: predicateType is null ? [] : [new AttestationDefinition(".attestations[0]", predicateType, [.. attestors])]);
        var rule = new RuleDefinition("check-signature", _ => true, [entry]);
        Policy = new PolicyDefinition("hostile", null, failureAction, failurePolicy, timeoutSeconds, "hostile.yaml", [rule]);
        Verifier = new ImageVerifier(Client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System);
        Engine = new AdmissionEngine([Policy], Verifier, new AdmissionEngineServices { Metrics = metrics });
    }

    public HostileRegistry Registry { get; } = new();

    public ECDsa Signer { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public RegistryClient Client { get; }

    public ImageVerifier Verifier { get; }

    public PolicyDefinition Policy { get; }

    public AdmissionEngine Engine { get; }

    public static string Image(string reference) => $"{HostileRegistry.Host}/{Repository}{reference}";

    /// <summary>A CREATE of a Pod with one container per image.</summary>
    public static AdmissionRequest PodRequest(params string[] images)
    {
        var containers = new JsonArray();
        for (var i = 0; i < images.Length; i++)
        {
            containers.Add(new JsonObject { ["name"] = "c" + i, ["image"] = images[i] });
        }

        return Request(new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject { ["name"] = "pod", ["namespace"] = "default" },
            ["spec"] = new JsonObject { ["containers"] = containers },
        });
    }

    public static AdmissionRequest Request(JsonNode pod)
    {
        var review = new JsonObject
        {
            ["apiVersion"] = "admission.k8s.io/v1",
            ["kind"] = "AdmissionReview",
            ["request"] = new JsonObject
            {
                ["uid"] = "0b4f6c0e-hostile",
                ["kind"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["kind"] = "Pod" },
                ["resource"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["resource"] = "pods" },
                ["namespace"] = "default",
                ["operation"] = "CREATE",
                ["object"] = pod,
            },
        };
        return JsonSerializer.Deserialize(review.ToJsonString(), AdmissionJsonContext.Default.AdmissionReview)!.Request!;
    }

    public Task<AdmissionResponse> MutateAsync(params string[] images) => Engine.MutateAsync(PodRequest(images), CancellationToken.None);

    /// <summary>The image values the mutating answer's JSON patch writes.</summary>
    public static List<string> PatchedImages(AdmissionResponse response)
    {
        if (response.Patch is null)
        {
            return [];
        }

        var operations = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(response.Patch)))!.AsArray();
        return [.. operations.Where(o => o!["path"]!.GetValue<string>().EndsWith("/image", StringComparison.Ordinal)).Select(o => o!["value"]!.GetValue<string>())];
    }

    /// <summary>
    /// Asserts the answer is a denial, and returns its message with yaml.v2's folds undone (a fold is a space written as a
    /// line break plus the four spaces of a rule message's continuation), so that facts can be looked for as substrings.
    /// </summary>
    public static string Denied(AdmissionResponse response)
    {
        Assert.False(response.Allowed, "the hostile case was admitted");
        Assert.Null(response.Patch);
        Assert.NotNull(response.Status);
        Assert.Equal(403, response.Status.Code);
        return response.Status.Message!.Replace("\n    ", " ", StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Client.Dispose();
        Signer.Dispose();
    }
}
