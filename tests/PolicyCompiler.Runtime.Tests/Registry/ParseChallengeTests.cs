using System.Net;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Tests.Registry;

public sealed class ParseChallengeTests
{
    // The header Docker Hub's registry-1.docker.io sends (quoted in davedoesdev/dxf#28).
    [Fact]
    public void DockerHubChallenge()
    {
        var parameters = ParseHeader("""Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="registry:catalog:*" """);

        Assert.Equal(3, parameters.Count);
        Assert.Equal("https://auth.docker.io/token", parameters["realm"]);
        Assert.Equal("registry.docker.io", parameters["service"]);
        Assert.Equal("registry:catalog:*", parameters["scope"]);
    }

    [Fact]
    public void GitHubContainerRegistryChallenge()
    {
        var parameters = ParseHeader("""Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:sigstore/cosign/cosign:pull" """);

        Assert.Equal("https://ghcr.io/token", parameters["realm"]);
        Assert.Equal("ghcr.io", parameters["service"]);
        Assert.Equal("repository:sigstore/cosign/cosign:pull", parameters["scope"]);
    }

    // The token authentication specification's example (distribution docs/spec/auth/token.md): a comma inside quotes.
    [Fact]
    public void CommaInsideQuotedValueBelongsToTheValue()
    {
        var parameters = ParseHeader("""Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push" """);

        Assert.Equal(3, parameters.Count);
        Assert.Equal("repository:samalba/my-app:pull,push", parameters["scope"]);
    }

    // gcr.io sends service unquoted (cloudflare/serverless-registry#122).
    [Fact]
    public void UnquotedValueEndsAtTheComma()
    {
        var parameters = ParseHeader("""Bearer realm="https://gcr.io/v2/token",service=gcr.io""");

        Assert.Equal("https://gcr.io/v2/token", parameters["realm"]);
        Assert.Equal("gcr.io", parameters["service"]);
    }

    [Fact]
    public void ParametersSeparatedByCommaAndSpaceAreRead()
    {
        var parameters = RegistryClient.ParseChallenge("""realm="https://quay.io/v2/auth", service="quay.io" """);

        Assert.Equal("https://quay.io/v2/auth", parameters["realm"]);
        Assert.Equal("quay.io", parameters["service"]);
    }

    [Fact]
    public void ParameterNamesAreCaseInsensitive()
    {
        var parameters = RegistryClient.ParseChallenge("""Realm="https://r.example/token",SERVICE="r" """);

        Assert.Equal("https://r.example/token", parameters["realm"]);
        Assert.Equal("r", parameters["service"]);
    }

    [Fact]
    public void QuotedPairIsUnescaped()
    {
        var parameters = RegistryClient.ParseChallenge("""realm="https://r.example/token",error="a \"quoted\" word\\" """);

        Assert.Equal("""a "quoted" word\""", parameters["error"]);
    }

    [Fact]
    public void EmptyQuotedValueIsKept()
    {
        var parameters = RegistryClient.ParseChallenge("""realm="https://r.example/token",service="" """);

        Assert.Equal(string.Empty, parameters["service"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData(",,, ")]
    [InlineData("no-equals-sign")]
    public void NothingToReadGivesNoParameters(string parameters)
    {
        Assert.Empty(RegistryClient.ParseChallenge(parameters));
    }

    [Fact]
    public void UnterminatedQuoteTakesTheRest()
    {
        var parameters = RegistryClient.ParseChallenge("""realm="https://r.example/token""");

        Assert.Equal("https://r.example/token", parameters["realm"]);
    }

    // RFC 7235 section 2.1: auth-param = token BWS "=" BWS ( token / quoted-string ).
    [Fact]
    public void WhitespaceAroundEqualsSignIsAllowed()
    {
        var parameters = RegistryClient.ParseChallenge("""realm = "https://r.example/token", service = "r" """);

        Assert.Equal("https://r.example/token", parameters["realm"]);
        Assert.Equal("r", parameters["service"]);
    }

    /// <summary>Reads the challenge the way the client does: through <see cref="HttpResponseMessage"/>'s header parser.</summary>
    private static Dictionary<string, string> ParseHeader(string header)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.Unauthorized);
        Assert.True(response.Headers.TryAddWithoutValidation("WWW-Authenticate", header.TrimEnd()));
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        return RegistryClient.ParseChallenge(challenge.Parameter!);
    }
}
