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

    /// <summary>True for failures of the infrastructure rather than of the content.</summary>
    public bool IsTransient => Failure == RegistryFailure.Unavailable;
}
