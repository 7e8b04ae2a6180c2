using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>
/// Registry credentials from Pods' <c>imagePullSecrets</c>: <c>kubernetes.io/dockerconfigjson</c> Secrets
/// (<c>.dockerconfigjson</c>) and the legacy <c>kubernetes.io/dockercfg</c> (<c>.dockercfg</c>, the <c>auths</c> map alone),
/// read through the API and kept for a while.
/// </summary>
public sealed class KubernetesPullSecrets : IPullSecretSource
{
    private readonly ExpiringReadCache<IReadOnlyList<DockerConfigEntry>> _cache;

    public KubernetesPullSecrets(KubernetesApi api, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(api);
        _cache = new ExpiringReadCache<IReadOnlyList<DockerConfigEntry>>(key => ReadAsync(api, key), timeToLive, time);
    }

    public async ValueTask<IReadOnlyList<DockerConfigEntry>> GetAsync(string @namespace, string name, CancellationToken cancellationToken)
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

    private static async Task<IReadOnlyList<DockerConfigEntry>> ReadAsync(KubernetesApi api, string key)
    {
        var (data, what) = await api.GetSecretDataAsync(key).ConfigureAwait(false);
        try
        {
            if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty(".dockerconfigjson", out var config) && config.ValueKind == JsonValueKind.String)
            {
                return DockerConfig.Parse(Convert.FromBase64String(config.GetString()!));
            }

            if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty(".dockercfg", out var legacy) && legacy.ValueKind == JsonValueKind.String)
            {
                // The legacy format is the auths map without its wrapper.
                var auths = Convert.FromBase64String(legacy.GetString()!);
                return DockerConfig.Parse([.. "{\"auths\":"u8, .. auths, .. "}"u8]);
            }
        }
        catch (FormatException e)
        {
            // FormatException from the parser names no content; nor does this.
            throw new KubernetesApiException($"{what} is not a usable Docker config ({e.Message})", notFound: true, inner: e);
        }

        throw new KubernetesApiException($"{what} has neither .dockerconfigjson nor .dockercfg", notFound: true);
    }
}
