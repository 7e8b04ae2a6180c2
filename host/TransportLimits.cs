using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace PolicyCompiler.Host;

/// <summary>
/// Kestrel's connection and request limits, set deliberately for an admission webhook. The only legitimate client is
/// the API server: it sends one small JSON document per request at LAN speed, over long-lived keep-alive
/// connections, and gives up after the webhook's timeout (at most 30 s). Anything slower or larger than that is not
/// the API server, and must not be able to hold the process's threads, memory or sockets for long.
/// </summary>
public static class TransportLimits
{
    /// <summary>
    /// The whole request head must arrive within this time. Kestrel's default (30 s) equals the longest webhook
    /// timeout, so a client trickling header bytes (slowloris) could hold a connection for as long as any review may
    /// take; the API server sends its headers in one write.
    /// </summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A TLS handshake must finish within this time (Kestrel's default, stated here because idle connections that
    /// never send a ClientHello are closed by it and nothing else).
    /// </summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The body must keep arriving at this rate after a grace period. Kestrel's default (240 bytes/s) lets a 4 MiB
    /// body take almost five hours; 16 KiB/s bounds the worst case at about four minutes, and
    /// <see cref="BodyReadTimeout"/> bounds it further.
    /// </summary>
    public static readonly MinDataRate MinRequestBodyDataRate = new(bytesPerSecond: 16 * 1024, gracePeriod: TimeSpan.FromSeconds(5));

    /// <summary>
    /// The whole AdmissionReview must be read within this time, whatever its rate: the API server would have given up on
    /// a review whose body alone took longer than its 30 s maximum, so reading on only costs memory and a connection.
    /// </summary>
    public static readonly TimeSpan BodyReadTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Idle keep-alive connections are closed after this time. Kestrel's default (130 s) is kept on purpose and stated
    /// here: it must stay longer than the API server's idle timeout for its webhook connections (Go's 90 s), or the
    /// server could close a connection just as the API server sends a POST on it, which Go does not retry.
    /// </summary>
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(130);

    public static void Apply(KestrelServerOptions kestrel)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        var limits = kestrel.Limits;
        limits.MaxRequestBodySize = AdmissionEndpoints.MaxRequestBytes;
        limits.RequestHeadersTimeout = RequestHeadersTimeout;
        limits.MinRequestBodyDataRate = MinRequestBodyDataRate;
        limits.KeepAliveTimeout = KeepAliveTimeout;

        // The API server's headers are a few hundred bytes; Kestrel's defaults (32 KiB of headers, 100 of them, an
        // 8 KiB request line) are already far above that and are kept, written out so that they are a decision.
        limits.MaxRequestHeadersTotalSize = 32 * 1024;
        limits.MaxRequestHeaderCount = 100;
        limits.MaxRequestLineSize = 8 * 1024;

        // No cap on concurrent connections: refusing connections would fail the API server's calls (and with
        // failurePolicy: Fail, stop admissions cluster-wide) to protect against a flood that the handshake and header
        // timeouts already clear within seconds.
        limits.MaxConcurrentConnections = null;
        limits.MaxConcurrentUpgradedConnections = 0;
    }

    public static void Apply(HttpsConnectionAdapterOptions https)
    {
        ArgumentNullException.ThrowIfNull(https);
        https.HandshakeTimeout = HandshakeTimeout;
    }
}
