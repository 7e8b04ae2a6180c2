using System.Security.Cryptography;
using PolicyCompiler.Generated;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Fuzz;

/// <summary>
/// The admission engine the admission target judges reviews with: the generator's baseline policies (compiled into
/// this assembly by the real generator), namespace labels from configuration, no verdict cache (a cache would make
/// one input's path depend on the inputs before it), and an <see cref="UnreachableRegistryHandler"/>.
/// </summary>
internal static class AdmissionHarness
{
    public static AdmissionEngine Engine { get; } = Create();

    /// <summary>A P-256 key the Rekor target names as the signer (any valid key: the body never matches it).</summary>
    public static byte[] SignerKeyDer { get; } = CreateKey();

    private static AdmissionEngine Create()
    {
        var options = new RegistryOptions { MaxAttempts = 1 };
        var client = new RegistryClient(options, new UnreachableRegistryHandler(), credentials: null, metrics: null, time: null);
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System);
        var namespaces = new StaticNamespaceLabels(new Dictionary<string, LabelSet>(StringComparer.Ordinal)
        {
            ["default"] = LabelSet.Empty,
            ["production"] = new LabelSet([new("environment", "production"), new("tier", "web")]),
            ["sandbox"] = new LabelSet([new("environment", "production"), new("tier", "sandbox")]),
        });
        return new AdmissionEngine(PolicyCatalog.All, verifier, new AdmissionEngineServices { Namespaces = namespaces, WebhookNamespace = "policy-compiler" });
    }

    private static byte[] CreateKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportSubjectPublicKeyInfo();
    }
}

/// <summary>
/// Fault injection: a registry that refuses every connection at once. The fuzzer judges how the engine reads reviews,
/// not registries (the hostile-registry tests do that); an outage keeps each input fast and deterministic, and every
/// image a policy names goes down the error path that <c>failurePolicy</c> decides.
/// </summary>
internal sealed class UnreachableRegistryHandler : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.ConnectionError, "connection refused (fault injected by the fuzz harness)"));
}
