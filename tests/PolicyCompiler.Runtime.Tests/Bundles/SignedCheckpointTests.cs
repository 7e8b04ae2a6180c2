using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;

namespace PolicyCompiler.Runtime.Tests.Bundles;

/// <summary>Signed-note checkpoints: the real ones of the conformance bundles, and notes signed here with fresh keys.</summary>
public sealed class SignedCheckpointTests
{
    private static string CheckpointOf(string conformanceCase)
    {
        var path = Path.Combine(SigstoreConformanceTests.TestData, "sigstore-conformance", "bundle-verify", conformanceCase, "bundle.sigstore.json");
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return document.RootElement.GetProperty("verificationMaterial").GetProperty("tlogEntries")[0]
            .GetProperty("inclusionProof").GetProperty("checkpoint").GetProperty("envelope").GetString()!;
    }

    private static TrustedRoot RootOf(string conformanceCase) =>
        TrustedRoot.Parse(File.ReadAllBytes(Path.Combine(SigstoreConformanceTests.TestData, "sigstore-conformance", "bundle-verify", conformanceCase, "trusted_root.json")));

    [Fact]
    public void RekorV1CheckpointParsesAndVerifiesWithThePublicGoodEcdsaKey()
    {
        Assert.True(SignedCheckpoint.TryParse(CheckpointOf("happy-path-v0.3"), out var checkpoint, out var error), error);

        Assert.Equal("rekor.sigstore.dev - 2605736670972794746", checkpoint.Origin);
        Assert.Equal(75408393, checkpoint.TreeSize);
        Assert.Equal(Convert.FromBase64String("Fnnj13Uu1jdksPc4HZLapKX329dVlD5+MGNsiqBq1XM="), checkpoint.RootHash);
        Assert.Equal("rekor.sigstore.dev", Assert.Single(checkpoint.Signatures).Name);
        var rekor = TrustedRoot.PublicGood.TransparencyLogs.Single(l => l.BaseUrl == "https://rekor.sigstore.dev");
        Assert.Null(checkpoint.VerifySignature(rekor));
    }

    [Fact]
    public void RekorV1ExtensionLinesAreKeptAndSigned()
    {
        Assert.True(SignedCheckpoint.TryParse(CheckpointOf("checkpoint-bad-keyhint_fail"), out var checkpoint, out var error), error);

        Assert.Equal("Timestamp: 1689177396617352539", Assert.Single(checkpoint.Extensions));
        Assert.EndsWith("Timestamp: 1689177396617352539\n", Encoding.UTF8.GetString(checkpoint.Text), StringComparison.Ordinal);
    }

    [Fact]
    public void RekorV2CheckpointVerifiesWithTheEd25519LogKeyAndIgnoresWitnesses()
    {
        var log = RootOf("rekor2-checkpoint-multiple-cosigs").TransparencyLogs.Single(l => l.BaseUrl == "https://log2025-alpha1.rekor.sigstage.dev");
        Assert.True(SignedCheckpoint.TryParse(CheckpointOf("rekor2-checkpoint-multiple-cosigs"), out var checkpoint, out var error), error);

        Assert.Equal(3, checkpoint.Signatures.Count);
        Assert.Equal(KeyAlgorithm.Ed25519, log.Key.Algorithm);
        Assert.Null(checkpoint.VerifySignature(log));
        Assert.NotNull(checkpoint.VerifySignature(TrustedRoot.PublicGood.TransparencyLogs[0]));
    }

    [Fact]
    public void AFreshlySignedNoteVerifiesOnlyUnderItsOwnNameKeyAndText()
    {
        var (pem, sign) = Ed25519KeyTests.NewKey();
        var key = VerificationKey.FromPem(pem);
        var log = TransparencyLog.FromKey("https://log.example", key);
        const string text = "log.example\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        string Line(string name, byte[] hint, byte[] signature) => $"\u2014 {name} {Convert.ToBase64String([.. hint, .. signature])}\n";
        var hint = log.LogId[..4];
        var good = Line("log.example", hint, sign(Encoding.UTF8.GetBytes(text)));
        var witness = Line("witness.example", [1, 2, 3, 4], new byte[72]);

        Assert.Null(Verify(text + "\n" + witness + good, log));
        Assert.Equal("the checkpoint carries no signature by the log 'log.example' with its key hint", Verify(text + "\n" + Line("other.example", hint, sign(Encoding.UTF8.GetBytes(text))), log));
        Assert.Equal("the checkpoint carries no signature by the log 'log.example' with its key hint", Verify(text + "\n" + Line("log.example", [9, 9, 9, 9], sign(Encoding.UTF8.GetBytes(text))), log));
        Assert.Equal("the checkpoint signature does not verify with the log key", Verify(text.Replace("\n10\n", "\n11\n", StringComparison.Ordinal) + "\n" + good, log));
    }

    private static string? Verify(string envelope, TransparencyLog log) =>
        SignedCheckpoint.TryParse(envelope, out var checkpoint, out var error) ? checkpoint.VerifySignature(log) : error;

    [Theory]
    [InlineData("log.example\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "the checkpoint has no blank line between its note and its signatures")]
    [InlineData("log.example\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n", "the checkpoint carries no signature")]
    [InlineData("log.example\nten\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 log.example AAAAAAAA\n", "the checkpoint's second line is not a tree size")]
    [InlineData("log.example\n10\nAAAA\n\n\u2014 log.example AAAAAAAA\n", "the checkpoint's root hash is not a SHA-256 hash")]
    [InlineData("10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 log.example AAAAAAAA\n", "the checkpoint note needs an origin, a tree size and a root hash")]
    [InlineData("log.example\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n- log.example AAAAAAAA\n", "a checkpoint signature line does not start with an em dash")]
    [InlineData("log.example\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 log.example AAAA\n", "a checkpoint signature is too short to hold a key hint and a signature")]
    public void MalformedCheckpointsAreRejectedWithAReason(string envelope, string expected)
    {
        Assert.False(SignedCheckpoint.TryParse(envelope, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void AnEcdsaNoteFromTheRightKeyButAnotherNameIsNotTheLogs()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var log = TransparencyLog.FromKey("https://log.example", VerificationKey.FromPem(ecdsa.ExportSubjectPublicKeyInfoPem()));
        const string text = "log.example - 1234\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        var signature = ecdsa.SignData(Encoding.UTF8.GetBytes(text), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var blob = Convert.ToBase64String([.. log.LogId[..4], .. signature]);

        Assert.Null(Verify($"{text}\n\u2014 log.example {blob}\n", log));
        Assert.NotNull(Verify($"{text}\n\u2014 elsewhere.example {blob}\n", log));
    }
}
