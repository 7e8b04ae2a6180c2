using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

public sealed class SimpleSigningPayloadTests
{
    private const string Digest = "sha256:43955d6857268cc948ae9b370b221091057de83c4962da0826f9a2bdc9bd6b44";

    // The /usr/bin/cosign-generated payload of containers/image's TestUntrustedSigstorePayloadUnmarshalJSON.
    private const string CosignPayload =
        """{"critical":{"identity":{"docker-reference":"192.168.64.2:5000/cosign-signed-multi"},"image":{"docker-manifest-digest":"sha256:43955d6857268cc948ae9b370b221091057de83c4962da0826f9a2bdc9bd6b44"},"type":"cosign container image signature"},"optional":null}""";

    [Fact]
    public void CosignPayloadIsRead()
    {
        var parsed = Parse(CosignPayload);

        Assert.Equal(SimpleSigningPayload.CosignSignatureType, parsed.Type);
        Assert.Equal(Digest, parsed.ManifestDigest);
        Assert.Equal("192.168.64.2:5000/cosign-signed-multi", parsed.DockerReference);
        Assert.Equal(JsonValueKind.Null, parsed.Optional.ValueKind);
    }

    [Fact]
    public void OptionalObjectIsKeptAndUsableAfterParsing()
    {
        var parsed = Parse($$$"""{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"{{{Digest}}}"},"type":"t"},"optional":{"creator":"containers/image 5.21.2-dev","timestamp":1657296609}}""");

        Assert.Equal(JsonValueKind.Object, parsed.Optional.ValueKind);
        Assert.Equal("containers/image 5.21.2-dev", parsed.Optional.GetProperty("creator").GetString());
        Assert.Equal(1657296609, parsed.Optional.GetProperty("timestamp").GetInt64());
    }

    [Fact]
    public void MissingOptionalAndIdentityAreAccepted()
    {
        var parsed = Parse($$$"""{"critical":{"image":{"docker-manifest-digest":"{{{Digest}}}"},"type":"cosign container image signature"}}""");

        Assert.Equal(Digest, parsed.ManifestDigest);
        Assert.Null(parsed.DockerReference);
        Assert.Equal(JsonValueKind.Undefined, parsed.Optional.ValueKind);
    }

    [Fact]
    public void TypeIsReportedNotJudged()
    {
        var parsed = Parse($$$"""{"critical":{"image":{"docker-manifest-digest":"{{{Digest}}}"},"type":"unexpected"}}""");

        Assert.Equal("unexpected", parsed.Type);
    }

    [Theory]
    [InlineData("1", "payload has no 'critical' object")]
    [InlineData("[]", "payload has no 'critical' object")]
    [InlineData("""{}""", "payload has no 'critical' object")]
    [InlineData("""{"critical":1}""", "payload has no 'critical' object")]
    [InlineData("""{"critical":null}""", "payload has no 'critical' object")]
    [InlineData("""{"critical":{"image":{"docker-manifest-digest":"sha256:x"}}}""", "payload has no 'critical.type'")]
    [InlineData("""{"critical":{"type":1,"image":{"docker-manifest-digest":"sha256:x"}}}""", "payload has no 'critical.type'")]
    [InlineData("""{"critical":{"type":"t"}}""", "payload has no 'critical.image.docker-manifest-digest'")]
    [InlineData("""{"critical":{"type":"t","image":1}}""", "payload has no 'critical.image.docker-manifest-digest'")]
    [InlineData("""{"critical":{"type":"t","image":{}}}""", "payload has no 'critical.image.docker-manifest-digest'")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":1}}}""", "payload has no 'critical.image.docker-manifest-digest'")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":null}}}""", "payload has no 'critical.image.docker-manifest-digest'")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"},"identity":1}}""", "payload's 'critical.identity' is not an object")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"},"identity":{"docker-reference":1}}}""", "payload's 'critical.identity.docker-reference' is not a string")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"}},"optional":1}""", "payload's 'optional' is neither an object nor null")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"}},"optional":"x"}""", "payload's 'optional' is neither an object nor null")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"}},"optional":[]}""", "payload's 'optional' is neither an object nor null")]
    public void MalformedPayloadIsRejectedWithReason(string json, string expectedError)
    {
        var ok = SimpleSigningPayload.TryParse(Encoding.UTF8.GetBytes(json), out var payload, out var error);

        Assert.False(ok);
        Assert.Null(payload);
        Assert.Equal(expectedError, error);
    }

    // A duplicated key is a parser differential: another reader may see the other value. Every level must refuse it.
    [Theory]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"sha256:a"}},"critical":{"type":"t","image":{"docker-manifest-digest":"sha256:b"}}}""")]
    [InlineData("""{"critical":{"type":"t","type":"cosign container image signature","image":{"docker-manifest-digest":"sha256:a"}}}""")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"sha256:a","docker-manifest-digest":"sha256:b"}}}""")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"sha256:a"},"identity":{"docker-reference":"a","docker-reference":"b"}}}""")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"sha256:a"}},"optional":{"creator":"a","creator":"b"}}""")]
    public void DuplicatePropertiesAreRejected(string json)
    {
        var ok = SimpleSigningPayload.TryParse(Encoding.UTF8.GetBytes(json), out var payload, out var error);

        Assert.False(ok);
        Assert.Null(payload);
        Assert.StartsWith("payload is not valid JSON", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("&")]
    [InlineData("")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"}},}""")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"}} /* comment */}""")]
    [InlineData("""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"}}} trailing""")]
    public void NonJsonIsRejected(string text)
    {
        var ok = SimpleSigningPayload.TryParse(Encoding.UTF8.GetBytes(text), out _, out var error);

        Assert.False(ok);
        Assert.StartsWith("payload is not valid JSON", error, StringComparison.Ordinal);
    }

    [Fact]
    public void DeeplyNestedPayloadIsRejected()
    {
        var nested = string.Concat(Enumerable.Repeat("""{"a":""", 40)) + "1" + new string('}', 40);
        var json = $$$"""{"critical":{"type":"t","image":{"docker-manifest-digest":"d"}},"optional":{{{nested}}}}""";

        var ok = SimpleSigningPayload.TryParse(Encoding.UTF8.GetBytes(json), out _, out var error);

        Assert.False(ok);
        Assert.StartsWith("payload is not valid JSON", error, StringComparison.Ordinal);
    }

    private static SimpleSigningPayload Parse(string json)
    {
        var ok = SimpleSigningPayload.TryParse(Encoding.UTF8.GetBytes(json), out var payload, out var error);
        Assert.True(ok, error);
        return payload!;
    }
}
