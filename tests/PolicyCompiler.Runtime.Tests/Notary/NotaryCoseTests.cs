using System.Formats.Cbor;
using PolicyCompiler.Runtime.Notary;
using static PolicyCompiler.Runtime.Tests.Notary.NotationTestSigner;

namespace PolicyCompiler.Runtime.Tests.Notary;

/// <summary>
/// Notation's COSE envelopes (<c>application/cose</c>): made here as notation-core-go lays them out, then verified, and
/// broken one requirement at a time to see each check refuse them for its own reason.
/// </summary>
public sealed class NotaryCoseTests
{
    private const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    private const string Digest = "sha256:2d4d2dd46e4a1d1a37f6ad0e51a4c0b4f41f4e2b7a5d13ba4f3d0c1b9f3e1a11";
    private const string Scheme = "io.cncf.notary.signingScheme";
    private const string Expiry = "io.cncf.notary.expiry";

    private static readonly NotaryArtifact s_artifact = new(OciManifest, Digest, 1234);

    private static NotarySignature Cose(byte[] envelope) => new(NotaryVerifier.CoseMediaType, envelope, "sha256:" + new string('0', 64));

    [Fact]
    public void ACoseEnvelopeSignedWithECDsaVerifiesForItsRootAndNotForAnotherArtifact()
    {
        using var signer = new NotationTestSigner();
        var envelope = signer.SignCose(OciManifest, Digest, 1234);

        var check = NotaryVerifier.Verify(Cose(envelope), s_artifact, [signer.Root], DateTimeOffset.UtcNow);
        Assert.True(check.Verified, check.Reason);

        var other = NotaryVerifier.Verify(Cose(envelope), s_artifact with { Size = 1235 }, [signer.Root], DateTimeOffset.UtcNow);
        Assert.False(other.Verified);
        Assert.Contains("not the image's manifest", other.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ACoseEnvelopeSignedWithRsaPssVerifies()
    {
        using var signer = new NotationTestSigner(rsaKeySize: 2048);
        var check = NotaryVerifier.Verify(Cose(signer.SignCose(OciManifest, Digest, 1234)), s_artifact, [signer.Root], DateTimeOffset.UtcNow);
        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void ACoseEnvelopeWithAnExpiryAndAnAuthenticSigningTimeVerifiesWhileBothHold()
    {
        using var signer = new NotationTestSigner();
        var now = DateTimeOffset.UtcNow;
        var envelope = signer.SignCose(OciManifest, Digest, 1234, h =>
        {
            h.RemoveAll("io.cncf.notary.signingTime");
            h.Set(Scheme, CoseHeader.Text("notary.x509.signingAuthority"));
            h.Set("io.cncf.notary.authenticSigningTime", CoseHeader.Time(now.AddMinutes(-1)));
            h.Set(Expiry, CoseHeader.Time(now.AddDays(1)));
            h.Set(2, CoseHeader.Labels(Scheme, "io.cncf.notary.authenticSigningTime", Expiry));
        });

        var check = NotaryVerifier.Verify(Cose(envelope), s_artifact, [signer.Root], now);
        Assert.True(check.Verified, check.Reason);
        var later = NotaryVerifier.Verify(Cose(envelope), s_artifact, [signer.Root], now.AddDays(2));
        Assert.False(later.Verified);
        Assert.Contains("expired at", later.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("payload")]
    [InlineData("signature")]
    [InlineData("protected")]
    public void ATamperedCoseEnvelopeIsRefused(string part)
    {
        using var signer = new NotationTestSigner();
        var envelope = signer.SignCose(OciManifest, Digest, 1234);
        var tampered = (byte[])envelope.Clone();
        switch (part)
        {
            case "payload":
                // The digest's last hex digit inside the signed payload: still a valid descriptor, no longer the signed one.
                var at = System.Text.Encoding.ASCII.GetString(tampered).LastIndexOf("a11\"", StringComparison.Ordinal);
                tampered[at + 2] = (byte)'2';
                break;
            case "signature":
                tampered[^1] ^= 0x01;
                break;
            case "protected":
                // The signing time one second later: the protected header still reads, it is no longer what was signed.
                const string label = "io.cncf.notary.signingTime";
                var time = System.Text.Encoding.ASCII.GetString(tampered).IndexOf(label, StringComparison.Ordinal) + label.Length;
                Assert.Equal([0xC1, 0x1A], tampered[time..(time + 2)]);
                tampered[time + 5] ^= 0x01;
                break;
        }

        var check = NotaryVerifier.Verify(Cose(tampered), s_artifact with { Digest = part == "payload" ? Digest[..^1] + "2" : Digest }, [signer.Root], DateTimeOffset.UtcNow);
        Assert.False(check.Verified);
        Assert.Equal("invalid signature", check.Reason);
    }

    public static TheoryData<string, string> BrokenEnvelopes => new()
    {
        { "untagged", "tag 18" },
        { "detached", "detached" },
        { "trailing", "after the COSE_Sign1" },
        { "alg-eddsa", "alg -8" },
        { "alg-mismatch", "not used with ES384" },
        { "alg-text", "alg is not an integer" },
        { "cty", "content type" },
        { "crit-missing", "no crit list" },
        { "crit-absent", "crit entry 'io.example.absent'" },
        { "crit-builtin", "crit entry 1" },
        { "scheme-not-critical", "io.cncf.notary.signingScheme in crit" },
        { "scheme", "signing scheme" },
        { "time-untagged", "io.cncf.notary.signingTime" },
        { "time-text", "io.cncf.notary.signingTime" },
        { "expiry-not-critical", "io.cncf.notary.expiry in crit" },
        { "expiry-before-signing", "expiry" },
        { "plugin", "verification plugin" },
        { "authority-time", "authentic signing time" },
        { "no-x5chain", "x5chain" },
        { "x5chain-bstr", "x5chain" },
        { "x5chain-not-der", "malformed" },
        { "both-buckets", "both the protected and the unprotected" },
        { "alg-unprotected", "belongs in the protected header" },
        { "duplicate-label", "malformed" },
        { "chain-order", "not issued by" },
        { "chain-no-root", "not self-signed" },
        { "payload", "targetArtifact" },
        { "payload-not-json", "malformed" },
    };

    [Theory]
    [MemberData(nameof(BrokenEnvelopes))]
    public void EachRequirementOfTheSpecificationIsEnforced(string broken, string reason)
    {
        using var signer = new NotationTestSigner();
        var now = DateTimeOffset.UtcNow;
        static Action<CborWriter> Chain(params System.Security.Cryptography.X509Certificates.X509Certificate2[] certificates) => w =>
        {
            w.WriteStartArray(certificates.Length);
            foreach (var certificate in certificates)
            {
                w.WriteByteString(certificate.RawData);
            }

            w.WriteEndArray();
        };

        byte[] envelope = broken switch
        {
            "untagged" => signer.SignCose(OciManifest, Digest, 1234)[1..],
            "detached" => Detached(signer.SignCose(OciManifest, Digest, 1234)),
            "trailing" => [.. signer.SignCose(OciManifest, Digest, 1234), 0x00],
            "alg-eddsa" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(1, w => w.WriteInt32(-8))),
            "alg-mismatch" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(1, w => w.WriteInt32(-35))),
            "alg-text" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(1, CoseHeader.Text("ES256"))),
            "cty" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(3, CoseHeader.Text("application/json"))),
            "crit-missing" => signer.SignCose(OciManifest, Digest, 1234, h => h.RemoveAll(2)),
            "crit-absent" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(2, CoseHeader.Labels(Scheme, "io.example.absent"))),
            "crit-builtin" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(2, CoseHeader.Labels(Scheme, 1))),
            "scheme-not-critical" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(2, CoseHeader.Labels("io.cncf.notary.signingTime"))),
            "scheme" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(Scheme, CoseHeader.Text("notary.default.x509"))),
            // notation-core-go refuses a time without tag 1 (its own conformance vector writes one; its verifier does not take it).
            "time-untagged" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set("io.cncf.notary.signingTime", w => w.WriteInt64(now.ToUnixTimeSeconds()))),
            "time-text" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set("io.cncf.notary.signingTime", CoseHeader.Text("2026-11-27T12:00:00Z"))),
            "expiry-not-critical" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set(Expiry, CoseHeader.Time(now.AddDays(1)))),
            "expiry-before-signing" => signer.SignCose(OciManifest, Digest, 1234, h =>
            {
                h.Set(Expiry, CoseHeader.Time(now.AddDays(-1)));
                h.Set(2, CoseHeader.Labels(Scheme, Expiry));
            }),
            "plugin" => signer.SignCose(OciManifest, Digest, 1234, h => h.Set("io.cncf.notary.verificationPlugin", CoseHeader.Text("com.example.plugin"))),
            "authority-time" => signer.SignCose(OciManifest, Digest, 1234, h =>
            {
                h.RemoveAll("io.cncf.notary.signingTime");
                h.Set(Scheme, CoseHeader.Text("notary.x509.signingAuthority"));
                h.Set("io.cncf.notary.authenticSigningTime", CoseHeader.Time(now.AddYears(-3)));
                h.Set(2, CoseHeader.Labels(Scheme, "io.cncf.notary.authenticSigningTime"));
            }),
            "no-x5chain" => signer.SignCose(OciManifest, Digest, 1234, unprotectedHeader: u => u.RemoveAll(33)),
            "x5chain-bstr" => signer.SignCose(OciManifest, Digest, 1234, unprotectedHeader: u => u.Set(33, w => w.WriteByteString(signer.Leaf.RawData))),
            "x5chain-not-der" => signer.SignCose(OciManifest, Digest, 1234, unprotectedHeader: u => u.Set(33, w =>
            {
                w.WriteStartArray(1);
                w.WriteByteString([0x30, 0x03, 0x02, 0x01, 0x01]);
                w.WriteEndArray();
            })),
            "both-buckets" => signer.SignCose(OciManifest, Digest, 1234, unprotectedHeader: u => u.Set(Scheme, CoseHeader.Text("notary.x509"))),
            "alg-unprotected" => signer.SignCose(OciManifest, Digest, 1234, unprotectedHeader: u => u.Set(1, w => w.WriteInt32(-7))),
            "duplicate-label" => signer.SignCose(OciManifest, Digest, 1234, h => h.Add((3, CoseHeader.Text("application/vnd.cncf.notary.payload.v1+json")))),
            "chain-order" => signer.SignCose(OciManifest, Digest, 1234, unprotectedHeader: u => u.Set(33, Chain(signer.Leaf, signer.Root, signer.Intermediate))),
            "chain-no-root" => signer.SignCose(OciManifest, Digest, 1234, unprotectedHeader: u => u.Set(33, Chain(signer.Leaf, signer.Intermediate))),
            "payload" => signer.SignCose(OciManifest, Digest, 1234, payload: p => p["targetArtifact"]!.AsObject().Remove("size")),
            "payload-not-json" => signer.SignCose(OciManifest, Digest, 1234),
            _ => throw new ArgumentOutOfRangeException(nameof(broken)),
        };

        if (broken == "payload-not-json")
        {
            // The JSON object's closing brace removed inside the payload byte string (same length, one byte changed).
            var text = System.Text.Encoding.Latin1.GetString(envelope);
            envelope[text.IndexOf("}}", StringComparison.Ordinal) + 1] = (byte)' ';
        }

        var check = NotaryVerifier.Verify(Cose(envelope), s_artifact, [signer.Root], now);
        Assert.False(check.Verified);
        Assert.Contains(reason, check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSameEnvelopeUnbrokenVerifiesSoTheCasesAboveFailForTheirOwnReason()
    {
        using var signer = new NotationTestSigner();
        var now = DateTimeOffset.UtcNow;
        var check = NotaryVerifier.Verify(Cose(signer.SignCose(OciManifest, Digest, 1234, h =>
        {
            h.Set(Expiry, CoseHeader.Time(now.AddDays(1)));
            h.Set(2, CoseHeader.Labels(Scheme, Expiry));
        })), s_artifact, [signer.Root], now);
        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void ACoseEnvelopeIsRefusedForATrustStoreWithoutItsCertificates()
    {
        using var signer = new NotationTestSigner();
        using var other = new NotationTestSigner("other");
        var check = NotaryVerifier.Verify(Cose(signer.SignCose(OciManifest, Digest, 1234)), s_artifact, [other.Root, other.Intermediate], DateTimeOffset.UtcNow);
        Assert.False(check.Verified);
        Assert.Contains("none of the attestor certificates", check.Reason, StringComparison.Ordinal);
    }

    // The payload replaced by CBOR null (a detached payload), re-encoded from the parts of a signed envelope.
    private static byte[] Detached(byte[] envelope)
    {
        var reader = new CborReader(envelope, CborConformanceMode.Lax);
        reader.ReadTag();
        reader.ReadStartArray();
        var protectedBytes = reader.ReadByteString();
        var unprotected = reader.ReadEncodedValue();
        reader.ReadByteString();
        var signature = reader.ReadByteString();
        var writer = new CborWriter(CborConformanceMode.Lax);
        writer.WriteTag((CborTag)18);
        writer.WriteStartArray(4);
        writer.WriteByteString(protectedBytes);
        writer.WriteEncodedValue(unprotected.Span);
        writer.WriteNull();
        writer.WriteByteString(signature);
        writer.WriteEndArray();
        return writer.Encode();
    }
}
