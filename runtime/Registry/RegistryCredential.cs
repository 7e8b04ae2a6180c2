namespace PolicyCompiler.Runtime.Registry;

/// <summary>
/// The secret part of one <c>auths</c> entry of a Docker config: a user name and password (basic auth, and the basic
/// credentials of a token request), an identity token (an OAuth2 refresh token for the registry's token endpoint), or
/// a registry token (a bearer token sent to the registry as it is). <see cref="ToString"/> never shows a secret.
/// </summary>
public sealed class RegistryCredential
{
    public RegistryCredential(string? userName, string? password, string? identityToken = null, string? registryToken = null)
    {
        UserName = string.IsNullOrEmpty(userName) ? null : userName;
        Password = string.IsNullOrEmpty(password) ? null : password;
        IdentityToken = string.IsNullOrEmpty(identityToken) ? null : identityToken;
        RegistryToken = string.IsNullOrEmpty(registryToken) ? null : registryToken;
    }

    public string? UserName { get; }

    /// <summary>Tells credentials apart in cache keys without exposing them.</summary>
    internal string Id { get; } = Guid.NewGuid().ToString("N");

    public string? Password { get; }

    /// <summary>Docker's <c>identitytoken</c>: exchanged for access tokens with <c>grant_type=refresh_token</c>.</summary>
    public string? IdentityToken { get; }

    /// <summary>Docker's <c>registrytoken</c>: a bearer token for the registry itself.</summary>
    public string? RegistryToken { get; }

    /// <summary>
    /// A cloud helper's credential (<c>imageRegistryCredentials.providers</c>): it goes to the registry it was made for
    /// over HTTPS and nowhere else, not even to a token realm on another host.
    /// </summary>
    internal string? CloudProvider { get; init; }

    /// <summary>A user name and password to send as HTTP Basic.</summary>
    public bool HasBasic => UserName is not null && Password is not null;

    public bool IsEmpty => !HasBasic && IdentityToken is null && RegistryToken is null;

    /// <summary>The credential's kind (<c>password</c>, <c>identity token</c>, <c>registry token</c>), never its content: safe for logs and messages.</summary>
    public string Kind =>
        IdentityToken is not null ? "identity token"
        : RegistryToken is not null ? "registry token"
        : HasBasic ? "password"
        : "no credential";

    /// <summary>The kind only, so that a credential that ends up in a log or message shows nothing of itself.</summary>
    public override string ToString() => Kind;

    internal string BasicParameter() =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(UserName + ":" + Password));
}

/// <summary>Finds the credential for a repository of a registry.</summary>
public interface IRegistryCredentialProvider
{
    /// <summary>The credential for <paramref name="registry"/> (<c>host[:port]</c>, <c>docker.io</c> for Docker Hub) and <paramref name="repository"/>, or null.</summary>
    RegistryCredential? Find(string registry, string repository);
}

/// <summary>No credentials: every registry is read anonymously.</summary>
public sealed class NoRegistryCredentials : IRegistryCredentialProvider
{
    public static NoRegistryCredentials Instance { get; } = new();

    public RegistryCredential? Find(string registry, string repository) => null;
}
