namespace PolicyCompiler.Runtime.Cloud;

/// <summary>
/// Where the cloud APIs are reached and how long fetched keys are kept. Every endpoint defaults to the provider's public
/// one and can be replaced (a private endpoint, a proxy, or a protocol test server on loopback).
/// </summary>
public sealed class CloudOptions
{
    /// <summary>AWS region when the key reference names none (an ARN does); otherwise <c>AWS_REGION</c>/<c>AWS_DEFAULT_REGION</c>.</summary>
    public string? AwsRegion { get; set; }

    /// <summary>AWS KMS endpoint; default <c>https://kms.{region}.amazonaws.com</c> (or the endpoint written in the URI).</summary>
    public Uri? AwsKmsEndpoint { get; set; }

    /// <summary>AWS STS endpoint for web identity credentials; default <c>https://sts.{region}.amazonaws.com</c>.</summary>
    public Uri? AwsStsEndpoint { get; set; }

    /// <summary>EC2 instance metadata service (IMDSv2); default <c>http://169.254.169.254</c>.</summary>
    public Uri AwsImdsEndpoint { get; set; } = new("http://169.254.169.254");

    /// <summary>Amazon ECR API endpoint for <c>providers: [amazon]</c>; default <c>https://api.ecr.{region}.amazonaws.com</c>.</summary>
    public Uri? AwsEcrEndpoint { get; set; }

    /// <summary>Cloud KMS API; default <c>https://cloudkms.googleapis.com</c>.</summary>
    public Uri GcpKmsEndpoint { get; set; } = new("https://cloudkms.googleapis.com");

    /// <summary>GCE metadata server; default <c>http://metadata.google.internal</c> (or <c>GCE_METADATA_HOST</c>).</summary>
    public Uri? GcpMetadataEndpoint { get; set; }

    /// <summary>Vault address; default <c>VAULT_ADDR</c>.</summary>
    public Uri? VaultAddress { get; set; }

    /// <summary>Vault token; default <c>VAULT_TOKEN</c>, then <c>~/.vault-token</c>.</summary>
    public string? VaultToken { get; set; }

    /// <summary>Mount path of the transit secrets engine; default <c>TRANSIT_SECRET_ENGINE_PATH</c>, then <c>transit</c>.</summary>
    public string? VaultTransitPath { get; set; }

    /// <summary>Replaces <c>https://{vault host}</c> of an <c>azurekms://</c> reference.</summary>
    public Uri? AzureKeyVaultEndpoint { get; set; }

    /// <summary>Azure instance metadata service (managed identity); default <c>http://169.254.169.254</c>.</summary>
    public Uri AzureImdsEndpoint { get; set; } = new("http://169.254.169.254");

    /// <summary>
    /// Microsoft Entra ID, where the <c>azure</c> registry helper trades the host's client secret or federated token for
    /// an access token; default <c>AZURE_AUTHORITY_HOST</c>, then <c>https://login.microsoftonline.com</c>.
    /// </summary>
    public Uri? AzureAuthorityHost { get; set; }

    /// <summary>The token the <c>github</c> registry helper gives <c>ghcr.io</c>; default <c>GITHUB_TOKEN</c>.</summary>
    public string? GitHubToken { get; set; }

    /// <summary>The user name sent with <see cref="GitHubToken"/>; default <c>GITHUB_ACTOR</c>, then <c>unset</c>.</summary>
    public string? GitHubActor { get; set; }

    /// <summary>How long a key fetched by a reference that can move (an alias, the newest version) is kept.</summary>
    public TimeSpan KeyTimeToLive { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The process environment, replaceable in tests.</summary>
    public Func<string, string?> Environment { get; set; } = System.Environment.GetEnvironmentVariable;
}
