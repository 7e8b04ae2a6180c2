using System.Text;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>Content and clients shared by the registry client's unit tests.</summary>
internal static class RegistryTestSupport
{
    public const string Host = "registry.test";

    public const string Repository = "team/app";

    public static readonly byte[] Manifest = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}""");

    public static readonly string ManifestDigest = RegistryClient.ComputeDigest(Manifest);

    public static readonly byte[] Blob = Encoding.UTF8.GetBytes("""{"critical":{"identity":{"docker-reference":"registry.test/team/app"},"image":{"docker-manifest-digest":"sha256:0"},"type":"cosign container image signature"},"optional":null}""");

    public static readonly string BlobDigest = RegistryClient.ComputeDigest(Blob);

    public static RegistryClient Client(
        FakeRegistryHandler fake,
        IRegistryCredentialProvider? credentials = null,
        TimeProvider? time = null,
        Action<RegistryOptions>? configure = null,
        List<TimeSpan>? delays = null)
    {
        var options = new RegistryOptions();
        configure?.Invoke(options);
        var client = new RegistryClient(options, fake, credentials ?? NoRegistryCredentials.Instance, metrics: null, time);
        var recorded = delays ?? [];
        client.DelayAsync = (delay, cancellationToken) =>
        {
            lock (recorded)
            {
                recorded.Add(delay);
            }

            return Task.CompletedTask;
        };
        return client;
    }

    public static Task<ManifestResponse> GetManifest(RegistryClient client, string reference = "v1", string repository = Repository, string registry = Host) =>
        client.GetManifestAsync(registry, repository, reference, CancellationToken.None);

    public static Task<byte[]> GetBlob(RegistryClient client, string repository = Repository, string registry = Host) =>
        client.GetBlobAsync(registry, repository, BlobDigest, 1024 * 1024, CancellationToken.None);

    public static bool IsManifest(SeenRequest request) => request.Uri.AbsolutePath.Contains("/manifests/", StringComparison.Ordinal);

    public static bool IsBlob(SeenRequest request) => request.Uri.AbsolutePath.Contains("/blobs/", StringComparison.Ordinal);

    /// <summary>A base64 user:password, as the <c>Authorization: Basic</c> parameter and the Docker config <c>auth</c> field hold it.</summary>
    public static string Basic(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
}

/// <summary>One credential for one registry.</summary>
internal sealed class FixedCredentials(string forRegistry, RegistryCredential credential) : IRegistryCredentialProvider
{
    public RegistryCredential? Find(string registry, string repository) =>
        string.Equals(registry, forRegistry, StringComparison.Ordinal) ? credential : null;
}
