using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>
/// Public keys from Secrets, as cosign's <c>k8s://namespace/name</c> keys are stored: the PEM in <c>data["cosign.pub"]</c>.
/// Read with <c>GET /api/v1/namespaces/{ns}/secrets/{name}</c> and kept for a while.
/// </summary>
public sealed class KubernetesSecretKeys : ISecretKeySource
{
    private const string KeyField = "cosign.pub";
    private readonly ExpiringReadCache<string> _cache;

    public KubernetesSecretKeys(KubernetesApi api, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(api);
        _cache = new ExpiringReadCache<string>(key => ReadAsync(api, key), timeToLive, time);
    }

    public async ValueTask<string> GetPublicKeyPemAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await _cache.GetAsync(@namespace + "/" + name, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e)
        {
            throw new SecretKeyException(e.Message, isTransient: !e.NotFound, e);
        }
    }

    private static async Task<string> ReadAsync(KubernetesApi api, string key)
    {
        var (data, what) = await api.GetSecretDataAsync(key).ConfigureAwait(false);
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty(KeyField, out var value) || value.ValueKind != JsonValueKind.String)
        {
            // Not transient: asking again gives the same answer until someone fixes the Secret.
            throw new KubernetesApiException($"{what} has no {KeyField}", notFound: true);
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(value.GetString()!));
        }
        catch (FormatException e)
        {
            throw new KubernetesApiException($"{what}: {KeyField} is not base64", notFound: true, inner: e);
        }
    }
}
