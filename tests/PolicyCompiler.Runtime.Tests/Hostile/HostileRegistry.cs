using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>One request as the hostile registry saw it, with how many times that exact URL has been asked for.</summary>
internal sealed record HostileRequest(Uri Uri, string Kind, string Repository, string Reference, int Hit, AuthenticationHeaderValue? Authorization)
{
    public bool IsManifest => Kind == "manifests";

    public bool IsBlob => Kind == "blobs";
}

/// <summary>
/// A fault-injecting, in-process OCI registry. It serves what was pushed to it like a well-behaved registry, and
/// before answering asks <see cref="Fault"/> whether to lie instead: other bytes, other digests, endless bodies,
/// redirects, resets, stalls. The real docker-registry (used by RealRegistryVerificationTests) cannot be made to
/// misbehave like this, which is why the hostile suite uses this fake.
/// </summary>
internal sealed class HostileRegistry : HttpMessageHandler
{
    public const string Host = "hostile.test";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";

    private readonly ConcurrentDictionary<(string Repository, string Reference), (byte[] Content, string MediaType)> _manifests = new();
    private readonly ConcurrentDictionary<string, byte[]> _blobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _hits = new(StringComparer.Ordinal);

    /// <summary>Every request, in order.</summary>
    public ConcurrentQueue<HostileRequest> Requests { get; } = new();

    /// <summary>Returns a response to send instead of the honest one, or null to answer honestly.</summary>
    public Func<HostileRequest, CancellationToken, Task<HttpResponseMessage?>>? Fault { get; set; }

    public void Lie(Func<HostileRequest, HttpResponseMessage?> fault) => Fault = (request, _) => Task.FromResult(fault(request));

    public string PushBlob(byte[] content)
    {
        var digest = RegistryClient.ComputeDigest(content);
        _blobs[digest] = content;
        return digest;
    }

    public string PushManifest(string repository, string reference, byte[] content, string mediaType = OciManifest)
    {
        var digest = RegistryClient.ComputeDigest(content);
        _manifests[(repository, digest)] = (content, mediaType);
        if (reference != digest)
        {
            _manifests[(repository, reference)] = (content, mediaType);
        }

        return digest;
    }

    /// <summary>An image manifest whose config blob makes it unique; the tag points to it. Returns its digest.</summary>
    public string PushImage(string repository, string tag, string variant = "honest")
    {
        var configBytes = Encoding.UTF8.GetBytes($$"""{"architecture":"amd64","os":"linux","variant":"{{variant}}"}""");
        var config = PushBlob(configBytes);
        return PushManifest(repository, tag, Manifest(Descriptor("application/vnd.oci.image.config.v1+json", config, configBytes.Length), []));
    }

    /// <summary>The simple-signing payload cosign signs for an image.</summary>
    public static byte[] Payload(string repository, string digest, string type = SimpleSigningPayload.CosignSignatureType) =>
        Encoding.UTF8.GetBytes($$"""{"critical":{"identity":{"docker-reference":"{{Host}}/{{repository}}"},"image":{"docker-manifest-digest":"{{digest}}"},"type":"{{type}}"},"optional":null}""");

    /// <summary>
    /// Pushes a cosign <c>.sig</c> manifest for <paramref name="digest"/> whose layer is <paramref name="payload"/> signed
    /// by <paramref name="key"/> (the payload defaults to the honest one for the digest).
    /// </summary>
    public void PushSignature(string repository, string digest, ECDsa key, byte[]? payload = null, string? signatureRepository = null)
    {
        payload ??= Payload(repository, digest);
        var signature = key.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        PushSignatureLayers(signatureRepository ?? repository, digest, [(payload, Convert.ToBase64String(signature))]);
    }

    public void PushSignatureLayers(string repository, string digest, IEnumerable<(byte[] Payload, string SignatureBase64)> layers) =>
        PushSignatureLayers(repository, digest, layers.Select(l => (l.Payload, (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { [CosignSignature.SignatureAnnotation] = l.SignatureBase64 })));

    public void PushSignatureLayers(string repository, string digest, IEnumerable<(byte[] Payload, IReadOnlyDictionary<string, string> Annotations)> layers)
    {
        var array = new JsonArray();
        foreach (var (payload, annotations) in layers)
        {
            var descriptor = Descriptor(SimpleSigningPayload.MediaType, PushBlob(payload), payload.Length);
            var annotationObject = new JsonObject();
            foreach (var (key, value) in annotations)
            {
                annotationObject[key] = value;
            }

            descriptor["annotations"] = annotationObject;
            array.Add(descriptor);
        }

        var config = PushBlob("{}"u8.ToArray());
        PushManifest(repository, CosignSignatureStore.SignatureTag(digest), Manifest(Descriptor("application/vnd.oci.image.config.v1+json", config, 2), array));
    }

    /// <summary>Pushes a cosign <c>.att</c> manifest for <paramref name="digest"/> whose layers are these DSSE envelopes.</summary>
    public void PushAttestationLayers(string repository, string digest, IEnumerable<byte[]> envelopes)
    {
        var array = new JsonArray();
        foreach (var envelope in envelopes)
        {
            var descriptor = Descriptor(DsseEnvelope.MediaType, PushBlob(envelope), envelope.Length);
            descriptor["annotations"] = new JsonObject { [CosignSignature.SignatureAnnotation] = string.Empty };
            array.Add(descriptor);
        }

        var config = PushBlob("{}"u8.ToArray());
        PushManifest(repository, CosignSignatureStore.AttestationTag(digest), Manifest(Descriptor("application/vnd.oci.image.config.v1+json", config, 2), array));
    }

    public static JsonObject Descriptor(string mediaType, string digest, long size) =>
        new() { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = size };

    public static byte[] Manifest(JsonObject config, JsonArray layers) => Encoding.UTF8.GetBytes(new JsonObject
    {
        ["schemaVersion"] = 2,
        ["mediaType"] = OciManifest,
        ["config"] = config,
        ["layers"] = layers,
    }.ToJsonString());

    public (byte[] Content, string MediaType)? ManifestOf(string repository, string reference) =>
        _manifests.TryGetValue((repository, reference), out var found) ? found : null;

    public byte[]? BlobOf(string digest) => _blobs.TryGetValue(digest, out var found) ? found : null;

    public int Count(Func<HostileRequest, bool> predicate) => Requests.Count(predicate);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var uri = request.RequestUri!;
        var path = uri.AbsolutePath;
        var kind = path.Contains("/manifests/", StringComparison.Ordinal) ? "manifests" : path.Contains("/blobs/", StringComparison.Ordinal) ? "blobs" : "other";
        var repository = string.Empty;
        var reference = string.Empty;
        if (kind != "other" && path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            var marker = path.LastIndexOf("/" + kind + "/", StringComparison.Ordinal);
            repository = path[4..marker];
            reference = Uri.UnescapeDataString(path[(marker + kind.Length + 2)..]);
        }

        var hit = _hits.AddOrUpdate(uri.AbsoluteUri, 1, (_, n) => n + 1);
        var seen = new HostileRequest(uri, kind, repository, reference, hit, request.Headers.Authorization);
        Requests.Enqueue(seen);

        HttpResponseMessage? response = null;
        if (Fault is { } fault)
        {
            response = await fault(seen, cancellationToken).ConfigureAwait(false);
        }

        response ??= Honest(seen);
        response.RequestMessage = request;
        return response;
    }

    private HttpResponseMessage Honest(HostileRequest request)
    {
        if (request.IsManifest && _manifests.TryGetValue((request.Repository, request.Reference), out var manifest))
        {
            var response = Bytes(manifest.Content, manifest.MediaType);
            response.Headers.TryAddWithoutValidation("Docker-Content-Digest", RegistryClient.ComputeDigest(manifest.Content));
            return response;
        }

        if (request.IsBlob && _blobs.TryGetValue(request.Reference, out var blob))
        {
            return Bytes(blob, "application/octet-stream");
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new StringContent("""{"errors":[{"code":"MANIFEST_UNKNOWN"}]}""") };
    }

    public static HttpResponseMessage Bytes(byte[] content, string? mediaType)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(content) };
        if (mediaType is not null)
        {
            response.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        }

        return response;
    }

    /// <summary>A 200 whose body never ends (and declares no length): only a bounded reader survives it.</summary>
    public static HttpResponseMessage Endless(EndlessStream stream) => new(HttpStatusCode.OK) { Content = new StreamContent(stream) };

    /// <summary>A body that repeats a byte forever and counts how much was read from it.</summary>
    internal sealed class EndlessStream(byte fill = (byte)' ', TimeSpan? delayPerRead = null) : Stream
    {
        public long Served { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Served; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            buffer.AsSpan(offset, count).Fill(fill);
            Served += count;
            return count;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (delayPerRead is { } delay)
            {
                // A trickle: one byte per read, slowly, so that only the caller's deadline ends it.
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                buffer.Span[0] = fill;
                Served++;
                return 1;
            }

            buffer.Span.Fill(fill);
            Served += buffer.Length;
            return buffer.Length;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
