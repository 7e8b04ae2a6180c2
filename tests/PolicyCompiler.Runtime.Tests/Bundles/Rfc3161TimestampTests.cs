using System.Text.Json;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;

namespace PolicyCompiler.Runtime.Tests.Bundles;

/// <summary>The RFC 3161 timestamps of the conformance bundles, checked directly against their trusted roots.</summary>
public sealed class Rfc3161TimestampTests
{
    private static string CaseDirectory(string name) => Path.Combine(SigstoreConformanceTests.TestData, "sigstore-conformance", "bundle-verify", name);

    private static (byte[] Token, byte[] Signature, TrustedRoot Root) Load(string name)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(CaseDirectory(name), "bundle.sigstore.json")));
        var root = document.RootElement;
        var token = root.GetProperty("verificationMaterial").GetProperty("timestampVerificationData").GetProperty("rfc3161Timestamps")[0]
            .GetProperty("signedTimestamp").GetString()!.Replace("\n", string.Empty, StringComparison.Ordinal);
        var signature = root.GetProperty("messageSignature").GetProperty("signature").GetString()!;
        return (Convert.FromBase64String(token), Convert.FromBase64String(signature), TrustedRoot.Parse(File.ReadAllBytes(Path.Combine(CaseDirectory(name), "trusted_root.json"))));
    }

    [Fact]
    public void SigstageTimestampParsesWithItsGenerationTimeAndVerifies()
    {
        var (token, signature, root) = Load("rekor2-happy-path");

        Assert.True(Rfc3161Timestamp.TryParse(token, out var timestamp, out var error), error);
        Assert.Equal(new DateTimeOffset(2025, 6, 12, 12, 2, 20, TimeSpan.Zero), timestamp.GenerationTime);
        Assert.Equal(32, timestamp.Imprint.Length);
        Assert.True(timestamp.IsSignedByOneOf(root.TimestampAuthorities));
        Assert.Null(timestamp.Verify(signature, root.TimestampAuthorities));
    }

    [Fact]
    public void ATimestampOverOtherDataIsRejected()
    {
        var (token, signature, root) = Load("rekor2-happy-path");
        Assert.True(Rfc3161Timestamp.TryParse(token, out var timestamp, out _));
        signature[^1] ^= 1;

        Assert.Equal("the timestamp is not over this signature", timestamp.Verify(signature, root.TimestampAuthorities));
    }

    [Fact]
    public void ATimestampFromAnAuthorityTheRootDoesNotNameIsNotTrusted()
    {
        var (token, signature, _) = Load("rekor2-happy-path");
        Assert.True(Rfc3161Timestamp.TryParse(token, out var timestamp, out _));

        Assert.False(timestamp.IsSignedByOneOf(TrustedRoot.PublicGood.TimestampAuthorities));
        Assert.Equal("the timestamp was not signed by a trusted timestamp authority", timestamp.Verify(signature, TrustedRoot.PublicGood.TimestampAuthorities));
    }

    [Fact]
    public void AnExpiredTsaChainIsJudgedAtTheGenerationTime()
    {
        var (valid, validSignature, validRoot) = Load("rekor2-timestamp-with-expired-cert-chain");
        var (late, lateSignature, lateRoot) = Load("rekor2-timestamp-outside-tsa-cert-validity_fail");
        Assert.True(Rfc3161Timestamp.TryParse(valid, out var inTime, out _));
        Assert.True(Rfc3161Timestamp.TryParse(late, out var afterExpiry, out _));

        Assert.Null(inTime.Verify(validSignature, validRoot.TimestampAuthorities));
        var reason = afterExpiry.Verify(lateSignature, lateRoot.TimestampAuthorities);
        Assert.StartsWith("the timestamp authority's certificate chain was not valid at 2025-08-07T15:38:32", reason, StringComparison.Ordinal);
        Assert.EndsWith("a certificate had expired or was not yet valid", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x30, 0x00 })]
    [InlineData(new byte[] { 0x30, 0x03, 0x02, 0x01, 0x02 })]
    [InlineData(new byte[] { 0x04, 0x02, 0x01, 0x02 })]
    public void GarbageIsAReasonNotAnException(byte[] der)
    {
        Assert.False(Rfc3161Timestamp.TryParse(der, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
