using System.Text;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Runtime.Tests.Registry.RegistryTestSupport;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>Docker config JSON as <c>kubectl create secret docker-registry</c> and <c>docker login</c> write it, and the kubelet's matching of its keys.</summary>
public sealed class DockerConfigTests
{
    private static IReadOnlyList<DockerConfigEntry> Parse(string json, List<string>? problems = null) =>
        DockerConfig.Parse(Encoding.UTF8.GetBytes(json), problems);

    private static RegistryCredential? Find(string json, string registry, string repository = "team/app") =>
        DockerConfig.Match(Parse(json), registry, repository)?.Credential;

    // What `kubectl create secret docker-registry regcred --docker-server=registry.example:5000 --docker-username=robot
    // --docker-password=pa:ss --docker-email=e@example` stores under .dockerconfigjson.
    [Fact]
    public void KubectlSecretWithAuthFieldGivesUserAndPassword()
    {
        var credential = Find($$$"""{"auths":{"registry.example:5000":{"username":"robot","password":"pa:ss","email":"e@example","auth":"{{{Basic("robot", "pa:ss")}}}"} } }""", "registry.example:5000");

        Assert.NotNull(credential);
        Assert.Equal("robot", credential.UserName);
        Assert.Equal("pa:ss", credential.Password);
        Assert.True(credential.HasBasic);
    }

    [Fact]
    public void AuthFieldAloneIsDecodedAtTheFirstColon()
    {
        var credential = Find($$$"""{"auths":{"registry.example":{"auth":"{{{Basic("robot", "with:colon")}}}"} } }""", "registry.example");

        Assert.Equal("robot", credential?.UserName);
        Assert.Equal("with:colon", credential?.Password);
    }

    [Fact]
    public void IdentityAndRegistryTokensAreRead()
    {
        var json = """{"auths":{"acr.example":{"username":"00000000-0000-0000-0000-000000000000","identitytoken":"refresh-abc"},"tok.example":{"registrytoken":"bearer-xyz"} } }""";

        Assert.Equal("refresh-abc", Find(json, "acr.example")?.IdentityToken);
        Assert.Equal("identity token", Find(json, "acr.example")?.Kind);
        Assert.Equal("bearer-xyz", Find(json, "tok.example")?.RegistryToken);
        Assert.Equal("registry token", Find(json, "tok.example")?.Kind);
    }

    // The .dockercfg form of kubernetes.io/dockercfg Secrets: the registry map without the "auths" wrapper.
    [Fact]
    public void LegacyDockercfgFormIsRead()
    {
        var credential = Find($$$"""{"https://registry.example":{"auth":"{{{Basic("old", "style")}}}","email":"e@example"}}""", "registry.example");

        Assert.Equal("old", credential?.UserName);
    }

    [Theory]
    [InlineData("https://index.docker.io/v1/")]
    [InlineData("index.docker.io")]
    [InlineData("docker.io")]
    [InlineData("registry-1.docker.io")]
    [InlineData("https://registry-1.docker.io/v2/")]
    public void DockerHubAliasesAllMeanDockerHub(string key)
    {
        var json = $$$"""{"auths":{"{{{key}}}":{"auth":"{{{Basic("hub", "pw")}}}"} } }""";

        Assert.Equal("hub", Find(json, "docker.io", "library/nginx")?.UserName);
        Assert.Null(Find(json, "quay.io", "library/nginx"));
    }

    [Fact]
    public void HostAndPortMustBothMatch()
    {
        var json = $$$"""{"auths":{"registry.example:5000":{"auth":"{{{Basic("a", "b")}}}"} } }""";

        Assert.NotNull(Find(json, "registry.example:5000"));
        Assert.NotNull(Find(json, "REGISTRY.example:5000"));
        Assert.Null(Find(json, "registry.example"));
        Assert.Null(Find(json, "registry.example:5001"));
        Assert.Null(Find(json, "other.example:5000"));
    }

    [Fact]
    public void MostSpecificKeyWins()
    {
        var json = $$$"""
            {"auths":{
              "*.example.com":{"auth":"{{{Basic("wildcard", "pw")}}}"},
              "registry.example.com":{"auth":"{{{Basic("host", "pw")}}}"},
              "registry.example.com/team":{"auth":"{{{Basic("team", "pw")}}}"},
              "registry.example.com/team/app":{"auth":"{{{Basic("app", "pw")}}}"}
            }}
            """;

        Assert.Equal("app", Find(json, "registry.example.com", "team/app")?.UserName);
        Assert.Equal("team", Find(json, "registry.example.com", "team/other")?.UserName);
        Assert.Equal("host", Find(json, "registry.example.com", "teamwork/app")?.UserName);
        Assert.Equal("wildcard", Find(json, "mirror.example.com", "team/app")?.UserName);
        Assert.Null(Find(json, "a.mirror.example.com", "team/app"));
    }

    [Fact]
    public void MalformedJsonIsAFormatErrorThatQuotesNothing()
    {
        var error = Assert.Throws<FormatException>(() => Parse("""{"auths":{"r":{"password":"hunter2" x}}}"""));

        Assert.StartsWith("not valid JSON (line 1, byte ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("'x'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnusableEntriesAreReportedAndSkippedWithoutTheirContent()
    {
        var problems = new List<string>();

        var entries = Parse("""{"auths":{"bad.example":{"auth":"%%not-base64%%"},"nocolon.example":{"auth":"bm9jb2xvbg=="},"empty.example":{},"good.example":{"username":"u","password":"p"} } }""", problems);

        Assert.Equal(["good.example"], entries.Select(e => e.Key));
        Assert.Equal(["entry 'bad.example': 'auth' is not base64", "entry 'nocolon.example': 'auth' does not decode to user:password"], problems);
    }

    [Fact]
    public void NonObjectDocumentIsRejected()
    {
        Assert.Throws<FormatException>(() => Parse("[]"));
        Assert.Throws<FormatException>(() => Parse("""{"auths":[]}"""));
    }

    [Fact]
    public void CredentialShowsItsKindButNoSecret()
    {
        var credential = new RegistryCredential("robot", "pa55word");

        Assert.Equal("password", credential.ToString());
        Assert.Equal("identity token", new RegistryCredential("u", null, identityToken: "tok-123").ToString());
    }
}
