using System.Net;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>Why a registry call did not produce the content asked for.</summary>
public enum RegistryFailure
{
    /// <summary>The registry answered that the manifest or blob does not exist.</summary>
    NotFound,

    /// <summary>The registry refused our credentials, or we had none.</summary>
    Unauthorized,

    /// <summary>The registry answered, but with something that breaks the distribution spec or our bounds (wrong digest, too large, malformed).</summary>
    InvalidResponse,

    /// <summary>The registry could not be reached or answered 5xx/429: an infrastructure failure that <c>failurePolicy</c> decides about.</summary>
    Unavailable,

    /// <summary>
    /// The TLS handshake failed: the registry's certificate is not trusted or does not name it. Not transient: a
    /// <c>failurePolicy: Ignore</c> must not let an image through a connection that may be someone else's.
    /// </summary>
    TlsFailure,
}

public sealed class RegistryException : Exception
{
    public RegistryException(RegistryFailure failure, string message, HttpStatusCode? statusCode = null, Exception? inner = null)
        : base(message, inner)
    {
        Failure = failure;
        StatusCode = statusCode;
    }

    public RegistryException()
    {
    }

    public RegistryException(string message)
        : base(message)
    {
    }

    public RegistryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public RegistryFailure Failure { get; } = RegistryFailure.InvalidResponse;

    public HttpStatusCode? StatusCode { get; }

    /// <summary>The registry's <c>Retry-After</c>, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Whether the same GET may succeed when sent again (429, 5xx, a dropped connection).</summary>
    internal bool Retryable { get; init; }

    /// <summary>True for failures of the infrastructure rather than of the content.</summary>
    public bool IsTransient => Failure == RegistryFailure.Unavailable;
}
