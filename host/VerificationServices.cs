using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Telemetry;

namespace PolicyCompiler.Host;

/// <summary>
/// The verification stack (registry client, credentials, cache, Sigstore trust) built from configuration, shared by
/// the webhook and <c>check</c> so both judge with the same registries, credentials and trust roots.
/// </summary>
public sealed class VerificationServices
{
    private VerificationServices(RegistryOptions registry, VerificationCacheOptions cache, CloudOptions cloud)
    {
        Registry = registry;
        Cache = cache;
        Cloud = cloud;
    }

    /// <summary>Where KMS keys (<c>keys.kms</c>) are fetched from: the providers' public endpoints unless configured.</summary>
    public CloudOptions Cloud { get; }

    public RegistryOptions Registry { get; }

    public VerificationCacheOptions Cache { get; }

    /// <summary>
    /// Binds <c>Registry</c> and <c>Cache</c> and installs <c>Sigstore:TrustedRootFile</c>; throws on invalid registry
    /// options or an unreadable trusted root, before anything is verified.
    /// </summary>
    public static VerificationServices FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var registry = new RegistryOptions();
        configuration.GetSection("Registry").Bind(registry);
        registry.Validate();
        var cache = new VerificationCacheOptions();
        configuration.GetSection("Cache").Bind(cache);

        // Private Sigstore deployments and air-gapped clusters bring their own Fulcio roots and Rekor/CT keys.
        if (configuration["Sigstore:TrustedRootFile"] is { Length: > 0 } trustedRootFile)
        {
            SigstoreTrust.Root = TrustedRoot.Parse(File.ReadAllBytes(trustedRootFile));
        }

        return new VerificationServices(registry, cache, CloudFromConfiguration(configuration));
    }

    /// <summary>
    /// <c>Cloud:*</c>: endpoint overrides (a private endpoint, a proxy, a test server) and the key lifetime. Read by hand
    /// rather than bound: the options hold <see cref="Uri"/>s and the environment reader, and bad values must stop the
    /// process with the key's name.
    /// </summary>
    public static CloudOptions CloudFromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new CloudOptions
        {
            AwsRegion = configuration["Cloud:Aws:Region"],
            AwsKmsEndpoint = Endpoint("Cloud:Aws:KmsEndpoint"),
            AwsStsEndpoint = Endpoint("Cloud:Aws:StsEndpoint"),
            AwsEcrEndpoint = Endpoint("Cloud:Aws:EcrEndpoint"),
            GcpMetadataEndpoint = Endpoint("Cloud:Gcp:MetadataEndpoint"),
            VaultAddress = Endpoint("Cloud:Vault:Address"),
            VaultToken = configuration["Cloud:Vault:Token"],
            VaultTransitPath = configuration["Cloud:Vault:TransitPath"],
            AzureKeyVaultEndpoint = Endpoint("Cloud:Azure:KeyVaultEndpoint"),
            AzureAuthorityHost = Endpoint("Cloud:Azure:AuthorityHost"),
            GitHubToken = configuration["Cloud:GitHub:Token"],
            GitHubActor = configuration["Cloud:GitHub:Actor"],
            KeyTimeToLive = configuration.GetValue("Cloud:KeyTimeToLive", TimeSpan.FromMinutes(5)),
        };
        if (Endpoint("Cloud:Aws:ImdsEndpoint") is { } awsImds)
        {
            options.AwsImdsEndpoint = awsImds;
        }

        if (Endpoint("Cloud:Gcp:KmsEndpoint") is { } gcpKms)
        {
            options.GcpKmsEndpoint = gcpKms;
        }

        if (Endpoint("Cloud:Azure:ImdsEndpoint") is { } azureImds)
        {
            options.AzureImdsEndpoint = azureImds;
        }

        return options;

        Uri? Endpoint(string key) => configuration[key] is { Length: > 0 } text
            ? Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http"
                ? uri
                : throw new ArgumentException($"{key}: '{text}' is not an http(s) URL")
            : null;
    }

    /// <param name="warn">Credential file problems, by path, never with content.</param>
    /// <param name="inform">Which registries have credentials and from where.</param>
    /// <param name="secretKeys">Where <c>keys.secret</c> keys are read (the Kubernetes API), if anywhere.</param>
    public ImageVerifier CreateImageVerifier(TimeProvider time, WebhookMetrics metrics, Action<string> warn, Action<string> inform, ISecretKeySource? secretKeys = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(warn);
        ArgumentNullException.ThrowIfNull(inform);

        // Registry credentials from mounted dockerconfigjson Secrets, re-read when the kubelet rotates them.
        var credentials = RegistryCredentialStore.FromOptions(Registry, time, warn);
        if (credentials.Keys.Count > 0)
        {
            inform($"Registry credentials for {string.Join(", ", credentials.Keys)} from {string.Join(", ", Registry.CredentialFiles)}");
        }

        var client = new RegistryClient(Registry, handler: null, credentials, metrics, time) { CloudCredentials = new CloudRegistryCredentials(Cloud, time) };
        return new ImageVerifier(client, new VerificationCache(Cache, time, metrics), time, secretKeys, new KmsKeys(Cloud, time));
    }
}
