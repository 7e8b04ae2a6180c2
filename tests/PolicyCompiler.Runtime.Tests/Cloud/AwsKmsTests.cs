using System.Net;
using System.Security.Cryptography;
using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using PolicyCompiler.Runtime.Tests.Kubernetes;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>
/// <c>awskms://</c> keys fetched from <see cref="FakeAwsKms"/> (AWS KMS's protocol on loopback: there is no AWS here)
/// with each source of the host's credentials, then used to verify signatures made by <c>openssl</c> with the private half.
/// </summary>
public sealed class AwsKmsTests : IDisposable
{
    private const string Region = "eu-west-1";
    private const string Digest = "sha256:9f2b5e8d1c3a4b6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
    private static readonly AwsCredentials s_static = new("AKIDSTATIC", "static-secret-key");

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly OpenSslKeys _openssl = new();
    private readonly Dictionary<string, string?> _environment = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _servers = [];

    public void Dispose()
    {
        _servers.ForEach(s => s.Dispose());
        _openssl.Dispose();
    }

    private FakeAwsKms Kms(AwsCredentials credentials)
    {
        var kms = new FakeAwsKms(Region, credentials, _time.GetUtcNow);
        _servers.Add(kms);
        kms.Keys["alias/release-signer"] = (PublicDer("p256", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"), "ECC_NIST_P256", "ECDSA_SHA_256", "SIGN_VERIFY");
        return kms;
    }

    private byte[] PublicDer(string name, params string[] options)
    {
        if (!File.Exists(_openssl.PrivateKeyFile(name)))
        {
            _openssl.Generate(name, options);
        }

        return _openssl.PublicDer(name);
    }

    private KmsKeys Keys(FakeAwsKms kms, Action<CloudOptions>? configure = null)
    {
        var options = new CloudOptions { AwsRegion = Region, AwsKmsEndpoint = kms.Address, Environment = name => _environment.GetValueOrDefault(name) };
        configure?.Invoke(options);
        return new KmsKeys(options, _time);
    }

    private void UseStaticCredentials()
    {
        _environment["AWS_ACCESS_KEY_ID"] = s_static.AccessKeyId;
        _environment["AWS_SECRET_ACCESS_KEY"] = s_static.SecretAccessKey;
    }

    [Fact]
    public async Task Public_key_is_fetched_with_a_signed_get_public_key_and_verifies_openssl_signatures()
    {
        UseStaticCredentials();
        var kms = Kms(s_static);
        using var keys = Keys(kms);

        var key = await keys.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None);

        var request = Assert.Single(kms.Requests);
        Assert.Equal("TrentService.GetPublicKey", request.Header("X-Amz-Target"));
        Assert.Equal("""{"KeyId":"alias/release-signer"}""", request.BodyText);
        Assert.StartsWith($"AWS4-HMAC-SHA256 Credential=AKIDSTATIC/{_time.GetUtcNow():yyyyMMdd}/{Region}/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=", request.Header("Authorization"), StringComparison.Ordinal);
        Assert.Equal(HashAlgorithmName.SHA256, key.Hash);
        var payload = OpenSslKeys.Payload(Digest);
        Assert.True(key.Verify(payload, _openssl.Sign("p256", payload)));
        Assert.False(key.Verify(OpenSslKeys.Payload(Digest.Replace('9', '8')), _openssl.Sign("p256", payload)));
    }

    [Fact]
    public async Task The_keys_signing_algorithm_decides_the_hash()
    {
        UseStaticCredentials();
        var kms = Kms(s_static);
        kms.Keys["alias/p384"] = (PublicDer("p384", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"), "ECC_NIST_P384", "ECDSA_SHA_384", "SIGN_VERIFY");
        kms.Keys["alias/rsa"] = (PublicDer("rsa", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"), "RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", "SIGN_VERIFY");
        using var keys = Keys(kms);
        var payload = OpenSslKeys.Payload(Digest);

        var p384 = await keys.GetKeyAsync("awskms:///alias/p384", HashAlgorithmName.SHA256, CancellationToken.None);
        var rsa = await keys.GetKeyAsync("awskms:///alias/rsa", HashAlgorithmName.SHA256, CancellationToken.None);

        Assert.Equal(HashAlgorithmName.SHA384, p384.Hash);
        Assert.True(p384.Verify(payload, _openssl.Sign("p384", payload, "sha384")));
        Assert.Equal(HashAlgorithmName.SHA512, rsa.Hash);
        Assert.True(rsa.Verify(payload, _openssl.Sign("rsa", payload, "sha512")));
    }

    [Fact]
    public async Task A_key_id_is_kept_for_good_an_alias_for_its_time_to_live()
    {
        UseStaticCredentials();
        var kms = Kms(s_static);
        kms.Keys["1234abcd-12ab-34cd-56ef-1234567890ab"] = kms.Keys["alias/release-signer"];
        using var keys = Keys(kms);

        await keys.GetKeyAsync("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab", HashAlgorithmName.SHA256, CancellationToken.None);
        await keys.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(4));
        await keys.GetKeyAsync("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab", HashAlgorithmName.SHA256, CancellationToken.None);
        await keys.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None);
        Assert.Equal(2, kms.Requests.Count);

        _time.Advance(TimeSpan.FromMinutes(2));
        await keys.GetKeyAsync("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab", HashAlgorithmName.SHA256, CancellationToken.None);
        await keys.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None);
        Assert.Equal(3, kms.Requests.Count);
        Assert.Equal("""{"KeyId":"alias/release-signer"}""", kms.Requests.Last().BodyText);
    }

    [Fact]
    public async Task The_region_of_a_key_arn_signs_the_request()
    {
        UseStaticCredentials();
        var kms = new FakeAwsKms("us-gov-west-1", s_static, _time.GetUtcNow);
        _servers.Add(kms);
        const string Arn = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/release-signer";
        kms.Keys[Arn] = (PublicDer("p256", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"), "ECC_NIST_P256", "ECDSA_SHA_256", "SIGN_VERIFY");
        using var keys = Keys(kms);

        var key = await keys.GetKeyAsync("awskms:///" + Arn, HashAlgorithmName.SHA256, CancellationToken.None);

        Assert.Contains("/us-gov-west-1/kms/aws4_request", Assert.Single(kms.Requests).Header("Authorization"), StringComparison.Ordinal);
        Assert.Equal(HashAlgorithmName.SHA256, key.Hash);
    }

    [Fact]
    public async Task Instance_role_credentials_come_from_imdsv2_with_its_session_token()
    {
        var role = new AwsCredentials("ASIAROLE", "role-secret", "role-session-token");
        var kms = Kms(role);
        using var imds = new FakeHttpServer();
        imds.Handler = request => (request.Method, request.PathAndQuery) switch
        {
            ("PUT", "/latest/api/token") when request.Header("X-aws-ec2-metadata-token-ttl-seconds") == "21600" => (HttpStatusCode.OK, "imds-session"),
            (_, _) when request.Header("X-aws-ec2-metadata-token") != "imds-session" => (HttpStatusCode.Unauthorized, ""),
            ("GET", "/latest/meta-data/iam/security-credentials/") => (HttpStatusCode.OK, "node-role\n"),
            ("GET", "/latest/meta-data/iam/security-credentials/node-role") => (HttpStatusCode.OK,
                $$"""{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAROLE","SecretAccessKey":"role-secret","Token":"role-session-token","Expiration":"{{_time.GetUtcNow().AddHours(6):yyyy-MM-ddTHH:mm:ssZ}}"}"""),
            _ => (HttpStatusCode.NotFound, ""),
        };
        using var keys = Keys(kms, o => o.AwsImdsEndpoint = imds.Address);

        await keys.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None);

        Assert.Equal("role-session-token", Assert.Single(kms.Requests).Header("X-Amz-Security-Token"));
        Assert.Equal(["PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/", "GET /latest/meta-data/iam/security-credentials/node-role"], imds.Requests.Select(r => r.Method + " " + r.PathAndQuery));
    }

    [Fact]
    public async Task Web_identity_credentials_are_exchanged_at_sts_with_the_projected_token()
    {
        var tokenFile = Path.GetTempFileName();
        try
        {
            File.WriteAllText(tokenFile, "eyJ.projected.token\n");
            _environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = tokenFile;
            _environment["AWS_ROLE_ARN"] = "arn:aws:iam::111122223333:role/policy-compiler";
            var assumed = new AwsCredentials("ASIAWEB", "web-secret", "web-session-token");
            var kms = Kms(assumed);
            using var sts = new FakeHttpServer();
            sts.Handler = request =>
            {
                var form = request.BodyText.Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1].Replace('+', ' ')));
                return request.Method == "POST" && form["Action"] == "AssumeRoleWithWebIdentity" && form["WebIdentityToken"] == "eyJ.projected.token" && form["RoleArn"] == "arn:aws:iam::111122223333:role/policy-compiler"
                    ? (HttpStatusCode.OK, $"""
                        <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
                          <AssumeRoleWithWebIdentityResult>
                            <Credentials>
                              <AccessKeyId>ASIAWEB</AccessKeyId>
                              <SecretAccessKey>web-secret</SecretAccessKey>
                              <SessionToken>web-session-token</SessionToken>
                              <Expiration>{_time.GetUtcNow().AddHours(1):yyyy-MM-ddTHH:mm:ssZ}</Expiration>
                            </Credentials>
                          </AssumeRoleWithWebIdentityResult>
                        </AssumeRoleWithWebIdentityResponse>
                        """)
                    : (HttpStatusCode.Forbidden, "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>");
            };
            using var keys = Keys(kms, o => o.AwsStsEndpoint = sts.Address);

            var key = await keys.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None);

            Assert.Single(sts.Requests);
            Assert.Equal("web-session-token", Assert.Single(kms.Requests).Header("X-Amz-Security-Token"));
            var payload = OpenSslKeys.Payload(Digest);
            Assert.True(key.Verify(payload, _openssl.Sign("p256", payload)));
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task A_missing_key_is_a_permanent_failure_and_not_kept()
    {
        UseStaticCredentials();
        var kms = Kms(s_static);
        using var keys = Keys(kms);

        var error = await Assert.ThrowsAsync<CloudException>(() => keys.GetKeyAsync("awskms:///alias/nobody", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());

        Assert.False(error.IsTransient);
        Assert.Contains("NotFoundException", error.Message, StringComparison.Ordinal);
        kms.Keys["alias/nobody"] = kms.Keys["alias/release-signer"];
        await keys.GetKeyAsync("awskms:///alias/nobody", HashAlgorithmName.SHA256, CancellationToken.None);
    }

    [Fact]
    public async Task An_encryption_key_cannot_verify()
    {
        UseStaticCredentials();
        var kms = Kms(s_static);
        kms.Keys["alias/encrypt"] = (kms.Keys["alias/release-signer"].Spki, "RSA_2048", "RSAES_OAEP_SHA_256", "ENCRYPT_DECRYPT");
        using var keys = Keys(kms);

        var error = await Assert.ThrowsAsync<CloudException>(() => keys.GetKeyAsync("awskms:///alias/encrypt", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());

        Assert.False(error.IsTransient);
        Assert.Contains("not SIGN_VERIFY", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_credentials_are_an_error_for_failure_policy_not_a_verdict()
    {
        UseStaticCredentials();
        var kms = Kms(new AwsCredentials("AKIDSTATIC", "another-secret"));
        using var keys = Keys(kms);

        var error = await Assert.ThrowsAsync<CloudException>(() => keys.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());

        Assert.True(error.IsTransient);
        Assert.Contains("InvalidSignatureException", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_kms_and_no_credentials_are_errors()
    {
        UseStaticCredentials();
        using var down = new KmsKeys(new CloudOptions { AwsRegion = Region, AwsKmsEndpoint = new Uri($"http://127.0.0.1:{FakeKubernetesApi.FreePort()}/"), Environment = name => _environment.GetValueOrDefault(name) }, _time);
        var unreachable = await Assert.ThrowsAsync<CloudException>(() => down.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());
        Assert.True(unreachable.IsTransient);

        _environment.Clear();
        var kms = Kms(s_static);
        using var anonymous = Keys(kms, o => o.AwsImdsEndpoint = new Uri($"http://127.0.0.1:{FakeKubernetesApi.FreePort()}/"));
        var noCredentials = await Assert.ThrowsAsync<CloudException>(() => anonymous.GetKeyAsync("awskms:///alias/release-signer", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());
        Assert.True(noCredentials.IsTransient);
        Assert.Contains("no AWS_ACCESS_KEY_ID, no web identity, and the instance metadata service", noCredentials.Message, StringComparison.Ordinal);
        Assert.Empty(kms.Requests);
    }
}
