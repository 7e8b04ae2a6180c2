namespace PolicyCompiler.Runtime.Engine;

/// <summary>Where <c>keys.secret</c> (and <c>k8s://namespace/name</c> keys) read <c>cosign.pub</c> from: the Kubernetes API in a cluster.</summary>
public interface ISecretKeySource
{
    /// <summary>The PEM in the Secret's <c>cosign.pub</c>. Throws <see cref="SecretKeyException"/>.</summary>
    ValueTask<string> GetPublicKeyPemAsync(string @namespace, string name, CancellationToken cancellationToken);
}

/// <summary>
/// A key Secret could not be read. <see cref="IsTransient"/> when the API server could not be asked (an error, decided
/// by failurePolicy); otherwise the Secret is missing or holds no usable key (the signature cannot verify).
/// </summary>
public sealed class SecretKeyException(string message, bool isTransient, Exception? inner = null) : Exception(message, inner)
{
    public bool IsTransient { get; } = isTransient;
}
