using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;
using BcInteger = Org.BouncyCastle.Math.BigInteger;

namespace PolicyCompiler.Runtime.Notary;

/// <summary>
/// The revocation check Notation runs at trust-policy level <c>strict</c> (notation-go 1.3's verifier, through
/// notation-core-go's revocation package), on the chain of a signature that passed every other check. Every certificate
/// but the last (the root, which nothing can revoke) is checked by itself, all at once: by OCSP when it names responders
/// in its authority information access, falling back to its CRL distribution points when OCSP gives no answer; by CRL
/// when it names only distribution points; not at all when it names neither. A revoked certificate fails the signature,
/// and so does one whose status cannot be learned (no responder or CRL reachable, a malformed or unverifiable answer),
/// since strict enforces revocation. Only <c>http</c> endpoints are used, as Notation's clients use only them; OCSP has
/// 2 seconds per responder and CRLs 5 seconds per download (Notation's HTTP client timeouts), answers are read up to 20
/// KiB (OCSP) and 32 MiB (CRL), and redirects are followed up to 10 times, as Go's HTTP client does.
/// </summary>
public sealed class NotaryRevocation : IDisposable
{
    public static readonly TimeSpan OcspTimeout = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan CrlTimeout = TimeSpan.FromSeconds(5);
    public const long MaxOcspResponseBytes = 20 * 1024;
    public const long MaxCrlBytes = 32 * 1024 * 1024;

    private const string OcspSigningUsage = "1.3.6.1.5.5.7.3.9";
    private const string BasicOcspResponseType = "1.3.6.1.5.5.7.48.1.1";
    private const string InvalidityDateOid = "2.5.29.24";
    private const string FreshestCrlOid = "2.5.29.46";
    private const string IssuingDistributionPointOid = "2.5.29.28";
    private const string CrlDistributionPointsOid = "2.5.29.31";

    private readonly HttpClient _http;
    private readonly TimeProvider _time;

    /// <param name="handler">The HTTP handler to reach responders and distribution points with (tests pass their own).</param>
    public NotaryRevocation(HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = 10,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        }, disposeHandler: true)
        {
            // Each call has its own deadline (OCSP or CRL), so the client's timeout stays out of the way.
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The instance admission uses when none is given: one connection pool for the process.</summary>
    public static NotaryRevocation Shared { get; } = new();

    /// <summary>
    /// Null when no certificate of <paramref name="chain"/> (leaf first, already checked to be a well-formed chain) is
    /// revoked or of unknown status; otherwise why the signature fails, and whether only because a status is unknown. <paramref name="authenticSigningTime"/> (for
    /// <c>notary.x509.signingAuthority</c> signatures) lets a revocation whose invalidity date comes after the signing
    /// count as not revoked, as the specification allows.
    /// </summary>
    public async Task<RevocationProblem?> CheckAsync(IReadOnlyList<X509Certificate2> chain, DateTimeOffset? authenticSigningTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var checks = new Task<CertificateStatus>[Math.Max(chain.Count - 1, 0)];
        for (var i = 0; i < checks.Length; i++)
        {
            checks[i] = CheckCertificateAsync(chain[i], chain[i + 1], authenticSigningTime, cancellationToken);
        }

        var results = await Task.WhenAll(checks).ConfigureAwait(false);

        // A revoked certificate anywhere decides; otherwise the one nearest the leaf whose status is unknown.
        for (var i = 0; i < results.Length; i++)
        {
            if (results[i].Outcome == Outcome.Revoked)
            {
                return new RevocationProblem($"the certificate {NotaryCertificates.Name(chain[i])} is revoked ({results[i].Detail})", StatusUnknown: false);
            }
        }

        for (var i = 0; i < results.Length; i++)
        {
            if (results[i].Outcome == Outcome.Unknown)
            {
                return new RevocationProblem($"the revocation status of the certificate {NotaryCertificates.Name(chain[i])} is unknown: {results[i].Detail}", StatusUnknown: true);
            }
        }

        return null;
    }

    private enum Outcome
    {
        NotRevocable,
        Good,
        Revoked,
        Unknown,
    }

    private readonly record struct CertificateStatus(Outcome Outcome, string Detail);

    private async Task<CertificateStatus> CheckCertificateAsync(X509Certificate2 certificate, X509Certificate2 issuer, DateTimeOffset? signingTime, CancellationToken cancellationToken)
    {
        if (OcspResponders(certificate) is not { } responders)
        {
            return new CertificateStatus(Outcome.Unknown, "the authority information access extension cannot be read");
        }

        if (CrlDistributionPoints(certificate) is not { } distributionPoints)
        {
            return new CertificateStatus(Outcome.Unknown, "the CRL distribution points extension cannot be read");
        }

        if (responders.Count > 0)
        {
            var ocsp = await CheckOcspAsync(certificate, issuer, responders, signingTime, cancellationToken).ConfigureAwait(false);
            if (ocsp.Outcome != Outcome.Unknown || distributionPoints.Count == 0)
            {
                return ocsp;
            }

            var crl = await CheckCrlAsync(certificate, issuer, distributionPoints, signingTime, cancellationToken).ConfigureAwait(false);
            return crl.Outcome == Outcome.Unknown ? crl with { Detail = $"OCSP: {ocsp.Detail}; CRL: {crl.Detail}" } : crl;
        }

        return distributionPoints.Count > 0
            ? await CheckCrlAsync(certificate, issuer, distributionPoints, signingTime, cancellationToken).ConfigureAwait(false)
            : new CertificateStatus(Outcome.NotRevocable, "no OCSP responder or CRL distribution point");
    }

    // ---- OCSP (RFC 6960) ----

    /// <summary>
    /// Asks each responder in turn; the first that gives a verified answer (good, revoked or unknown) decides, and when
    /// none does the status is unknown with the last error, as notation-core-go does.
    /// </summary>
    private async Task<CertificateStatus> CheckOcspAsync(X509Certificate2 certificate, X509Certificate2 issuer, IReadOnlyList<string> responders, DateTimeOffset? signingTime, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        foreach (var responder in responders)
        {
            var (status, error) = await AskResponderAsync(certificate, issuer, responder, signingTime, cancellationToken).ConfigureAwait(false);
            if (status is { } answered)
            {
                return answered;
            }

            errors.Add($"{responder}: {error}");
        }

        return new CertificateStatus(Outcome.Unknown, string.Join("; ", errors));
    }

    private async Task<(CertificateStatus? Status, string? Error)> AskResponderAsync(X509Certificate2 certificate, X509Certificate2 issuer, string responder, DateTimeOffset? signingTime, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(responder, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            return (null, "only http OCSP responders are used");
        }

        var bcIssuer = new BcCertificate(issuer.RawData);
        var serial = new BcInteger(certificate.SerialNumberBytes.ToArray());

        var request = OcspRequest(certificate, issuer);

        // GET when the base64 request is short enough for a URL (RFC 6960 appendix A), POST otherwise.
        var encoded = Convert.ToBase64String(request);
        using var message = encoded.Length < 255
            ? new HttpRequestMessage(HttpMethod.Get, responder.TrimEnd('/') + "/" + Uri.EscapeDataString(encoded))
            : new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(request) { Headers = { ContentType = new("application/ocsp-request") } } };
        var (body, fetchError) = await FetchAsync(message, OcspTimeout, MaxOcspResponseBytes, "the responder", "answer", cancellationToken).ConfigureAwait(false);
        if (body is null)
        {
            return (null, fetchError);
        }

        try
        {
            return ReadOcspResponse(body, certificate, issuer, bcIssuer, serial, signingTime);
        }
        catch (Exception e) when (IsMalformed(e))
        {
            // BouncyCastle reads some fields only when asked: a malformed one surfaces here.
            return (null, "the OCSP answer is malformed: " + e.Message);
        }
    }

    private static bool IsMalformed(Exception e) =>
        e is IOException or ArgumentException or InvalidCastException or InvalidOperationException or FormatException
            or AsnContentException or CryptographicException or Org.BouncyCastle.Security.GeneralSecurityException;

    private (CertificateStatus? Status, string? Error) ReadOcspResponse(byte[] body, X509Certificate2 certificate, X509Certificate2 issuer, BcCertificate bcIssuer, BcInteger serial, DateTimeOffset? signingTime)
    {
        byte[] basicBytes;
        try
        {
            // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT SEQUENCE { responseType, response OCTET STRING } OPTIONAL }
            var outer = new AsnReader(body, AsnEncodingRules.DER).ReadSequence();
            var status = outer.ReadEnumeratedValue<OcspStatus>();
            if (status != OcspStatus.Successful)
            {
                return (null, $"the responder answered {status}");
            }

            var bytes = outer.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
            if (bytes.ReadObjectIdentifier() != BasicOcspResponseType)
            {
                return (null, "the answer is not a basic OCSP response");
            }

            basicBytes = bytes.ReadOctetString();
        }
        catch (AsnContentException e)
        {
            return (null, "the answer is not an OCSP response: " + e.Message);
        }

        BasicOcspResp basic;
        try
        {
            basic = new BasicOcspResp(BasicOcspResponse.GetInstance(Asn1Object.FromByteArray(basicBytes)));
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidCastException or InvalidOperationException)
        {
            return (null, "the basic OCSP response is malformed: " + e.Message);
        }

        if (SignerProblem(basic, basicBytes, issuer) is { } signerProblem)
        {
            return (null, signerProblem);
        }

        var single = basic.Responses.FirstOrDefault(r => r.GetCertID().SerialNumber.Equals(serial) && r.GetCertID().MatchesIssuer(bcIssuer));
        if (single is null)
        {
            return (null, "the answer has no status for this certificate");
        }

        // An answer without nextUpdate counts as expired, as notation-core-go compares now with a zero time.
        if (single.NextUpdate is not { } nextUpdate || _time.GetUtcNow() > new DateTimeOffset(DateTime.SpecifyKind(nextUpdate, DateTimeKind.Utc)))
        {
            return (null, "the OCSP answer has expired");
        }

        var state = single.GetCertStatus();
        if (state is null)
        {
            return (new CertificateStatus(Outcome.Good, "OCSP: good"), null);
        }

        if (state is RevokedStatus revoked)
        {
            if (signingTime is { } signedAt && InvalidityDate(single.SingleExtensions) is { } invalidFrom && signedAt < invalidFrom)
            {
                return (new CertificateStatus(Outcome.Good, "OCSP: revoked, but invalid only after the authentic signing time"), null);
            }

            return (new CertificateStatus(Outcome.Revoked, $"OCSP: revoked at {revoked.RevocationTime.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)}"), null);
        }

        // A definite "unknown" from the responder: the caller may still ask the CRL.
        return (new CertificateStatus(Outcome.Unknown, $"the OCSP responder does not know the certificate {NotaryCertificates.Name(certificate)}"), null);
    }

    /// <summary>
    /// An unsigned OCSPRequest for one certificate, identified with SHA-1 hashes of its issuer's name and key, which every
    /// responder answers (notation-core-go's choice too).
    /// </summary>
    private static byte[] OcspRequest(X509Certificate2 certificate, X509Certificate2 issuer)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence())
        using (writer.PushSequence())
        using (writer.PushSequence())
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier("1.3.14.3.2.26");
                writer.WriteNull();
            }

#pragma warning disable CA5350 // SHA-1 only names the issuer in the request, as RFC 6960 and the responders expect.
            writer.WriteOctetString(SHA1.HashData(issuer.SubjectName.RawData));
            writer.WriteOctetString(SHA1.HashData(issuer.PublicKey.EncodedKeyValue.RawData));
#pragma warning restore CA5350
            writer.WriteInteger(certificate.SerialNumberBytes.Span);
        }

        return writer.Encode();
    }

    /// <summary>
    /// Null when the basic response is signed by the issuer itself or by a responder certificate it carries that the
    /// issuer issued for OCSP signing (RFC 6960 4.2.2.2) and that is valid now; otherwise what is wrong.
    /// </summary>
    private string? SignerProblem(BasicOcspResp basic, byte[] basicBytes, X509Certificate2 issuer)
    {
        var carried = basic.GetCerts();
        if (carried.Length == 0 || carried[0].GetEncoded().AsSpan().SequenceEqual(issuer.RawData))
        {
            return NotaryCertificates.IsSignedBy(basicBytes, issuer) ? null : "the OCSP answer is not signed by the certificate's issuer";
        }

        using var responder = X509CertificateLoader.LoadCertificate(carried[0].GetEncoded());
        if (!NotaryCertificates.IsIssuedBy(responder, issuer))
        {
            return $"the OCSP responder certificate {NotaryCertificates.Name(responder)} is not issued by {NotaryCertificates.Name(issuer)}";
        }

        if (responder.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is not { } usages
            || !usages.EnhancedKeyUsages.Cast<Oid>().Any(u => u.Value == OcspSigningUsage))
        {
            return $"the OCSP responder certificate {NotaryCertificates.Name(responder)} lacks the OCSP signing extended key usage";
        }

        var now = _time.GetUtcNow();
        if (now < responder.NotBefore.ToUniversalTime() || now > responder.NotAfter.ToUniversalTime())
        {
            return $"the OCSP responder certificate {NotaryCertificates.Name(responder)} is not valid now";
        }

        return NotaryCertificates.IsSignedBy(basicBytes, responder) ? null : "the OCSP answer is not signed by its responder certificate";
    }

    private enum OcspStatus
    {
        Successful = 0,
        MalformedRequest = 1,
        InternalError = 2,
        TryLater = 3,
        SigRequired = 5,
        Unauthorized = 6,
    }

    // ---- CRL (RFC 5280 section 5) ----

    /// <summary>
    /// Every distribution point is read (a certificate's CRL may be partitioned across them): revoked on any decides;
    /// any that cannot be read, verified or understood makes the status unknown, as notation-core-go does.
    /// </summary>
    private async Task<CertificateStatus> CheckCrlAsync(X509Certificate2 certificate, X509Certificate2 issuer, IReadOnlyList<string> distributionPoints, DateTimeOffset? signingTime, CancellationToken cancellationToken)
    {
        var serial = new BcInteger(certificate.SerialNumberBytes.ToArray());
        foreach (var point in distributionPoints)
        {
            var (crl, error) = await DownloadCrlAsync(point, issuer, cancellationToken).ConfigureAwait(false);
            if (crl is null)
            {
                return new CertificateStatus(Outcome.Unknown, $"{point}: {error}");
            }

            CertificateStatus? status;
            try
            {
                status = CrlEntryStatus(crl, serial, point, signingTime);
            }
            catch (Exception e) when (IsMalformed(e))
            {
                return new CertificateStatus(Outcome.Unknown, $"{point}: the CRL is malformed: {e.Message}");
            }

            if (status is { } decided)
            {
                return decided;
            }
        }

        return new CertificateStatus(Outcome.Good, "CRL: not listed");
    }

    /// <summary>The status one CRL gives the certificate: null when it does not list it (or lists it as invalid only after the signing).</summary>
    private static CertificateStatus? CrlEntryStatus(X509Crl crl, BcInteger serial, string point, DateTimeOffset? signingTime)
    {
        var entry = crl.GetRevokedCertificate(serial);
        if (entry is null)
        {
            return null;
        }

        foreach (var oid in (IEnumerable<string>?)entry.GetCriticalExtensionOids() ?? [])
        {
            if (oid != InvalidityDateOid)
            {
                return new CertificateStatus(Outcome.Unknown, $"{point}: the CRL entry has the unsupported critical extension {oid}");
            }
        }

        if (entry.GetExtensionValue(new DerObjectIdentifier(InvalidityDateOid)) is { } invalidity)
        {
            var invalidFrom = ReadGeneralizedTime(invalidity.GetOctets());
            if (invalidFrom is null)
            {
                return new CertificateStatus(Outcome.Unknown, $"{point}: the CRL entry's invalidity date is malformed");
            }

            if (signingTime is { } signedAt && signedAt < invalidFrom)
            {
                return null;
            }
        }

        return new CertificateStatus(Outcome.Revoked, $"CRL {point}: revoked at {new DateTimeOffset(DateTime.SpecifyKind(entry.RevocationDate, DateTimeKind.Utc)).ToString("u", CultureInfo.InvariantCulture)}");
    }

    /// <summary>
    /// The body of one OCSP or CRL request within <paramref name="timeout"/> and <paramref name="maxBytes"/>, or why there
    /// is none (unreachable, an HTTP error, too slow, too large), in words naming <paramref name="who"/> answers and
    /// <paramref name="what"/> it gives.
    /// </summary>
    private async Task<(byte[]? Body, string? Error)> FetchAsync(HttpRequestMessage message, TimeSpan timeout, long maxBytes, string who, string what, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            if ((int)response.StatusCode is < 200 or >= 300)
            {
                return (null, $"{who} answered HTTP {(int)response.StatusCode}");
            }

            var body = await HttpBody.ReadAtMostAsync(response, maxBytes, deadline.Token).ConfigureAwait(false);
            return body is null ? (null, $"the {what} is larger than {maxBytes} bytes") : (body, null);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return (null, $"no {what} within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }
        catch (HttpRequestException e)
        {
            return (null, "unreachable: " + e.Message);
        }
    }

    private async Task<(X509Crl? Crl, string? Error)> DownloadCrlAsync(string point, X509Certificate2 issuer, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(point, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            return (null, "only http CRL distribution points are used");
        }

        using var message = new HttpRequestMessage(HttpMethod.Get, uri);
        var (body, fetchError) = await FetchAsync(message, CrlTimeout, MaxCrlBytes, "the distribution point", "CRL", cancellationToken).ConfigureAwait(false);
        if (body is null)
        {
            return (null, fetchError);
        }

        X509Crl crl;
        try
        {
            // DER only (Go's parser takes nothing else); the structure is checked by BouncyCastle's reader.
            crl = new X509Crl(CertificateList.GetInstance(Asn1Object.FromByteArray(body)));
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidCastException or InvalidOperationException)
        {
            return (null, "the CRL is malformed: " + e.Message);
        }

        if (issuer.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true }
            || issuer.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && !usage.KeyUsages.HasFlag(X509KeyUsageFlags.CrlSign))
        {
            return (null, $"the issuer {NotaryCertificates.Name(issuer)} may not sign CRLs");
        }

        if (!NotaryCertificates.IsSignedBy(body, issuer))
        {
            return (null, $"the CRL is not signed by {NotaryCertificates.Name(issuer)}");
        }

        if (crl.NextUpdate is { } nextUpdate && _time.GetUtcNow() > new DateTimeOffset(DateTime.SpecifyKind(nextUpdate, DateTimeKind.Utc)))
        {
            return (null, "the CRL has expired");
        }

        foreach (var oid in (IEnumerable<string>?)crl.GetNonCriticalExtensionOids() ?? [])
        {
            // Delta CRLs are not read here, so a CRL that points to one cannot be trusted as complete.
            if (oid == FreshestCrlOid)
            {
                return (null, "the CRL names a delta CRL, which is not supported");
            }
        }

        foreach (var oid in (IEnumerable<string>?)crl.GetCriticalExtensionOids() ?? [])
        {
            if (oid == FreshestCrlOid)
            {
                return (null, "the CRL names a delta CRL, which is not supported");
            }

            if (oid != IssuingDistributionPointOid)
            {
                return (null, $"the CRL has the unsupported critical extension {oid}");
            }
        }

        return (crl, null);
    }

    // ---- Certificate extensions ----

    /// <summary>The OCSP responder URIs of the authority information access extension; null when it cannot be read.</summary>
    private static List<string>? OcspResponders(X509Certificate2 certificate)
    {
        try
        {
            return certificate.Extensions.OfType<X509AuthorityInformationAccessExtension>().FirstOrDefault() is { } access
                ? [.. access.EnumerateOcspUris()]
                : [];
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    /// <summary>
    /// The URIs of the full names of the certificate's CRL distribution points (those Go reads); null when the extension
    /// cannot be read (Go would not even load such a certificate).
    /// </summary>
    private static List<string>? CrlDistributionPoints(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        if (certificate.Extensions[CrlDistributionPointsOid] is not { } extension)
        {
            return uris;
        }

        try
        {
            foreach (var point in CrlDistPoint.GetInstance(Asn1Object.FromByteArray(extension.RawData)).GetDistributionPoints())
            {
                if (point.DistributionPointName is { Type: DistributionPointName.FullName } name)
                {
                    uris.AddRange(GeneralNames.GetInstance(name.Name).GetNames()
                        .Where(n => n.TagNo == GeneralName.UniformResourceIdentifier)
                        .Select(n => DerIA5String.GetInstance(n.Name).GetString()));
                }
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidCastException)
        {
            return null;
        }

        return uris;
    }

    private static DateTimeOffset? InvalidityDate(X509Extensions? extensions) =>
        extensions?.GetExtension(new DerObjectIdentifier(InvalidityDateOid)) is { } extension ? ReadGeneralizedTime(extension.Value.GetOctets()) : null;

    private static DateTimeOffset? ReadGeneralizedTime(byte[] der)
    {
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            var time = reader.ReadGeneralizedTime();
            return reader.HasData ? null : time;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// Why a chain does not pass revocation. <paramref name="StatusUnknown"/>: no certificate is known to be revoked, but one's
/// status could not be learnt (a service unreachable, slow, or without an answer), which may change at the next review.
/// </summary>
public readonly record struct RevocationProblem(string Reason, bool StatusUnknown);
