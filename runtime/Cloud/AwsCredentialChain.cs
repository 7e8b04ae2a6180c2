using System.Globalization;
using System.Net;
using System.Text;

namespace PolicyCompiler.Runtime.Cloud;

/// <summary>
/// The host's AWS credentials, found as the AWS SDKs find them, in this order: the environment
/// (<c>AWS_ACCESS_KEY_ID</c>, <c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_SESSION_TOKEN</c>); a web identity
/// (<c>AWS_WEB_IDENTITY_TOKEN_FILE</c> and <c>AWS_ROLE_ARN</c>, as EKS service-account roles set them) exchanged at STS;
/// the EC2 instance role through IMDSv2. Temporary credentials are kept until five minutes before they expire.
/// </summary>
internal sealed class AwsCredentialChain(HttpClient http, CloudOptions options, TimeProvider time)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AwsCredentials? _cached;

    public async Task<AwsCredentials> GetAsync(string region, CancellationToken cancellationToken)
    {
        var env = options.Environment;
        if (env("AWS_ACCESS_KEY_ID") is { Length: > 0 } keyId && env("AWS_SECRET_ACCESS_KEY") is { Length: > 0 } secret)
        {
            return new AwsCredentials(keyId, secret, env("AWS_SESSION_TOKEN") is { Length: > 0 } token ? token : null);
        }

        if (Fresh(_cached) is { } cached)
        {
            return cached;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Fresh(_cached) is { } again)
            {
                return again;
            }

            _cached = env("AWS_WEB_IDENTITY_TOKEN_FILE") is { Length: > 0 } tokenFile && env("AWS_ROLE_ARN") is { Length: > 0 } roleArn
                ? await FromWebIdentityAsync(tokenFile, roleArn, region, cancellationToken).ConfigureAwait(false)
                : await FromInstanceMetadataAsync(cancellationToken).ConfigureAwait(false);
            return _cached;
        }
        finally
        {
            _gate.Release();
        }
    }

    private AwsCredentials? Fresh(AwsCredentials? credentials) =>
        credentials is { Expires: { } expires } && expires - TimeSpan.FromMinutes(5) > time.GetUtcNow() ? credentials : null;

    private async Task<AwsCredentials> FromWebIdentityAsync(string tokenFile, string roleArn, string region, CancellationToken cancellationToken)
    {
        string token;
        try
        {
            // Re-read every time: the kubelet rotates the projected token.
            token = (await File.ReadAllTextAsync(tokenFile, cancellationToken).ConfigureAwait(false)).Trim();
        }
        catch (IOException e)
        {
            throw new CloudException($"AWS web identity: the token file cannot be read ({e.Message})", isTransient: true, e);
        }

        var sessionName = options.Environment("AWS_ROLE_SESSION_NAME") is { Length: > 0 } name ? name : "policy-compiler";
        var endpoint = options.AwsStsEndpoint ?? new Uri($"https://sts.{region}.amazonaws.com/");
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint)
        {
            // AssumeRoleWithWebIdentity is the one STS call that is not signed: the web identity token is the credential.
            Content = new FormUrlEncodedContent(
            [
                new("Action", "AssumeRoleWithWebIdentity"),
                new("Version", "2011-06-15"),
                new("RoleArn", roleArn),
                new("RoleSessionName", sessionName),
                new("WebIdentityToken", token),
            ]),
        };
        var body = Encoding.UTF8.GetString(await CloudHttp.SendAsync(http, request, "AWS STS AssumeRoleWithWebIdentity", null, cancellationToken).ConfigureAwait(false));
        return new AwsCredentials(
            XmlValue(body, "AccessKeyId"),
            XmlValue(body, "SecretAccessKey"),
            XmlValue(body, "SessionToken"),
            DateTimeOffset.Parse(XmlValue(body, "Expiration"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
    }

    private async Task<AwsCredentials> FromInstanceMetadataAsync(CancellationToken cancellationToken)
    {
        var imds = options.AwsImdsEndpoint;
        string sessionToken;
        using (var tokenRequest = new HttpRequestMessage(HttpMethod.Put, new Uri(imds, "/latest/api/token")))
        {
            tokenRequest.Headers.TryAddWithoutValidation("X-aws-ec2-metadata-token-ttl-seconds", "21600");
            sessionToken = Encoding.UTF8.GetString(await CloudHttp.SendAsync(http, tokenRequest, "AWS credentials: no AWS_ACCESS_KEY_ID, no web identity, and the instance metadata service", null, cancellationToken).ConfigureAwait(false)).Trim();
        }

        string role;
        using (var roleRequest = new HttpRequestMessage(HttpMethod.Get, new Uri(imds, "/latest/meta-data/iam/security-credentials/")))
        {
            roleRequest.Headers.TryAddWithoutValidation("X-aws-ec2-metadata-token", sessionToken);
            role = Encoding.UTF8.GetString(await CloudHttp.SendAsync(http, roleRequest, "AWS instance metadata: the instance role", null, cancellationToken).ConfigureAwait(false))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
                ?? throw new CloudException("AWS instance metadata: the instance has no role", isTransient: true);
        }

        using var credentialsRequest = new HttpRequestMessage(HttpMethod.Get, new Uri(imds, "/latest/meta-data/iam/security-credentials/" + Uri.EscapeDataString(role)));
        credentialsRequest.Headers.TryAddWithoutValidation("X-aws-ec2-metadata-token", sessionToken);
        const string What = "AWS instance metadata: the role's credentials";
        using var document = CloudHttp.ParseJson(await CloudHttp.SendAsync(http, credentialsRequest, What, null, cancellationToken).ConfigureAwait(false), What);
        var root = document.RootElement;
        return new AwsCredentials(
            CloudHttp.RequiredString(root, "AccessKeyId", What),
            CloudHttp.RequiredString(root, "SecretAccessKey", What),
            CloudHttp.RequiredString(root, "Token", What),
            DateTimeOffset.Parse(CloudHttp.RequiredString(root, "Expiration", What), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
    }

    // STS answers in XML; the four values are plain tokens (no markup, no entities), so a bounded search suffices and
    // keeps an XML stack out of the binary.
    private static string XmlValue(string xml, string element)
    {
        var open = xml.IndexOf("<" + element + ">", StringComparison.Ordinal);
        var close = open < 0 ? -1 : xml.IndexOf("</" + element + ">", open, StringComparison.Ordinal);
        if (open < 0 || close < 0)
        {
            throw new CloudException($"AWS STS AssumeRoleWithWebIdentity: the answer has no {element}", isTransient: true);
        }

        return WebUtility.HtmlDecode(xml[(open + element.Length + 2)..close].Trim());
    }
}
