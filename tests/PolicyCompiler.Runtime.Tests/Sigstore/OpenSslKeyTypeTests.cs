using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Sigstore;

/// <summary>
/// Every key type and <c>signatureAlgorithm</c> a policy can name, with cosign signatures made by the <c>openssl</c>
/// command line (a signer that is not ours): ECDSA P-256/P-384/P-521, RSA PKCS#1 v1.5 and PSS (the salt as long as
/// the key allows, Go's default, and as long as the hash), Ed25519, and SHA-224 through SHA-512.
/// </summary>
public sealed class OpenSslKeyTypeTests : IDisposable
{
    private const string Digest = "sha256:9f2b5e8d1c3a4b6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";

    private readonly string _directory = Directory.CreateTempSubdirectory("openssl-keys-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] Payload(string digest = Digest) => Encoding.UTF8.GetBytes(
        $$"""{"critical":{"identity":{"docker-reference":"registry.test/app"},"image":{"docker-manifest-digest":"{{digest}}"},"type":"cosign container image signature"},"optional":null}""");

    private string OpenSsl(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = _directory };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', arguments)} failed: {error}");
        return output;
    }

    private string Path(string name) => System.IO.Path.Combine(_directory, name);

    /// <summary>A private key made by openssl; returns its public key as cosign.pub holds it.</summary>
    private string GenerateKey(string name, params string[] options)
    {
        OpenSsl(["genpkey", .. options, "-out", Path(name + ".key")]);
        OpenSsl("pkey", "-in", Path(name + ".key"), "-pubout", "-out", Path(name + ".pub"));
        return File.ReadAllText(Path(name + ".pub"));
    }

    private CosignSignature Sign(string name, byte[] payload, params string[] signOptions)
    {
        File.WriteAllBytes(Path("payload"), payload);
        OpenSsl(signOptions.Length > 0 && signOptions[0] == "pkeyutl"
            ? [.. signOptions, "-inkey", Path(name + ".key"), "-in", Path("payload"), "-out", Path("signature")]
            : ["dgst", .. signOptions, "-sign", Path(name + ".key"), "-out", Path("signature"), Path("payload")]);
        var signature = Convert.ToBase64String(File.ReadAllBytes(Path("signature")));
        return new CosignSignature(payload, new Dictionary<string, string> { [CosignSignature.SignatureAnnotation] = signature });
    }

    public static TheoryData<string, string[], string[], string?> Cases => new()
    {
        { "ecdsa-p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-sha256"], null },
        { "ecdsa-p384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], ["-sha384"], "sha384" },
        { "ecdsa-p521", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"], ["-sha512"], "sha512" },
        { "ecdsa-sha224", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-sha224"], "sha224" },
        { "rsa-pkcs1", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["-sha256"], null },
        { "rsa-pkcs1-sha224", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["-sha224"], "sha224" },
        { "rsa-pkcs1-sha512", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"], ["-sha512"], "sha512" },
        { "rsa-pss-max-salt", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:max"], null },
        { "rsa-pss-digest-salt", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"], "sha384" },
        { "rsa-pss-sha224", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["-sha224", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:max"], "sha224" },
        { "rsa-pss-odd-modulus", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2049"], ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:max"], null },
        { "ed25519", ["-algorithm", "ed25519"], ["pkeyutl", "-sign", "-rawin"], null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnOpenSslSignatureVerifiesUnderItsKeyAndNotOverOtherBytes(string name, string[] keyOptions, string[] signOptions, string? signatureAlgorithm)
    {
        var hash = signatureAlgorithm switch
        {
            "sha224" => new HashAlgorithmName("SHA224"),
            "sha384" => HashAlgorithmName.SHA384,
            "sha512" => HashAlgorithmName.SHA512,
            _ => HashAlgorithmName.SHA256,
        };
        var key = VerificationKey.FromPem(GenerateKey(name, keyOptions), hash);
        var signature = Sign(name, Payload(), signOptions);

        var genuine = CosignKeyVerifier.Verify([signature], Digest, key);
        var tampered = Payload();
        tampered[^3] ^= 1;
        var overOtherBytes = CosignKeyVerifier.Verify([new CosignSignature(tampered, signature.Annotations)], Digest, key);

        Assert.True(genuine.Verified, $"{name}: {genuine.Reason}");
        Assert.False(overOtherBytes.Verified);
    }

    [Fact]
    public void TheSignatureAlgorithmMustBeTheOneTheSignerUsed()
    {
        var key = GenerateKey("ec", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        var signature = Sign("ec", Payload(), "-sha384");

        Assert.True(CosignKeyVerifier.Verify([signature], Digest, VerificationKey.FromPem(key, HashAlgorithmName.SHA384)).Verified);
        Assert.False(CosignKeyVerifier.Verify([signature], Digest, VerificationKey.FromPem(key, HashAlgorithmName.SHA256)).Verified);
        Assert.False(CosignKeyVerifier.Verify([signature], Digest, VerificationKey.FromPem(key, new HashAlgorithmName("SHA224"))).Verified);
    }

    [Fact]
    public void AnRsaPssSignatureByAnotherKeyDoesNotVerify()
    {
        GenerateKey("signer", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048");
        var other = VerificationKey.FromPem(GenerateKey("other", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"));
        var signature = Sign("signer", Payload(), "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:max");

        Assert.False(CosignKeyVerifier.Verify([signature], Digest, other).Verified);
    }
}
