using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>A signature manifest as pushed: where it is and what it holds.</summary>
public sealed record PushedSignature(string Repository, string Tag, string ManifestDigest, byte[] Payload, string SignatureBase64, int LayerCount);

/// <summary>
/// Signs images the way <c>cosign sign --key</c> does with the legacy tag scheme, without cosign:
/// a simple-signing payload (<see cref="CreatePayload"/>) signed with ECDSA P-256 / SHA-256 (ASN.1 DER),
/// pushed as one layer of an OCI manifest tagged <c>sha256-&lt;hex&gt;.sig</c>, with the base64 signature in
/// the layer annotation <c>dev.cosignproject.cosign/signature</c>. Signing an image that already has
/// signatures appends a layer, as cosign does.
/// </summary>
public sealed class CosignSigner : IDisposable
{
    public const string SignatureAnnotation = "dev.cosignproject.cosign/signature";
    public const string PayloadType = "cosign container image signature";

    private readonly ECDsa _key;

    private CosignSigner(ECDsa key)
    {
        _key = key;
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem();
    }

    /// <summary>The public key as cosign.pub holds it (<c>-----BEGIN PUBLIC KEY-----</c>, SubjectPublicKeyInfo).</summary>
    public string PublicKeyPem { get; }

    /// <summary>A fresh P-256 key pair, as <c>cosign generate-key-pair</c> makes.</summary>
    public static CosignSigner Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>
    /// The payload cosign signs: sigstore's <c>payload.Cosign</c> marshalled by Go's encoding/json, fields in
    /// struct order, no whitespace, <c>"optional":null</c> when there are no annotations.
    /// </summary>
    public static byte[] CreatePayload(string dockerReference, string manifestDigest, IReadOnlyDictionary<string, string>? annotations = null)
    {
        ArgumentNullException.ThrowIfNull(dockerReference);
        ArgumentNullException.ThrowIfNull(manifestDigest);
        using var buffer = new MemoryStream();
        // Go's encoder leaves '+' and non-ASCII alone (the relaxed encoder's behaviour) but escapes <, > and &;
        // none of those occur in references, digests or the test annotations.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject("critical");
            json.WriteStartObject("identity");
            json.WriteString("docker-reference", dockerReference);
            json.WriteEndObject();
            json.WriteStartObject("image");
            json.WriteString("docker-manifest-digest", manifestDigest);
            json.WriteEndObject();
            json.WriteString("type", PayloadType);
            json.WriteEndObject();
            if (annotations is null)
            {
                json.WriteNull("optional");
            }
            else
            {
                // Go marshals map keys sorted.
                json.WriteStartObject("optional");
                foreach (var (key, value) in annotations.OrderBy(a => a.Key, StringComparer.Ordinal))
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary><c>sha256:abc…</c> → <c>sha256-abc….sig</c>.</summary>
    public static string SignatureTag(string manifestDigest) => "sha256-" + Digests.Hex(manifestDigest) + ".sig";

    /// <summary>ECDSA P-256 over SHA-256 of <paramref name="payload"/>, DER-encoded, base64 (what the annotation holds).</summary>
    public string Sign(byte[] payload) =>
        Convert.ToBase64String(_key.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

    /// <summary>Checks a DER signature of cosign's kind against a PEM public key.</summary>
    public static bool Verify(string publicKeyPem, byte[] payload, string signatureBase64)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(publicKeyPem);
        return key.VerifyData(payload, Convert.FromBase64String(signatureBase64), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }

    /// <summary>
    /// Signs <paramref name="image"/> and pushes the signature to the image's repository, or to
    /// <paramref name="signatureRepository"/> in the same registry (cosign's COSIGN_REPOSITORY).
    /// </summary>
    public Task<PushedSignature> SignAsync(RegistryProcess registry, PushedImage image, string? signatureRepository = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(image);
        var payload = CreatePayload(image.RepositoryReference, image.Digest);
        return PushSignatureAsync(registry.Distribution, signatureRepository ?? image.Repository, image.Digest, payload, Sign(payload), cancellationToken);
    }

    /// <summary>
    /// Pushes an already made payload and signature as cosign lays them out. Public so that tests can push
    /// deliberately wrong combinations (a payload naming another digest, a signature of other bytes).
    /// </summary>
    public static Task<PushedSignature> PushSignatureAsync(DistributionClient distribution, string repository, string imageDigest, byte[] payload, string signatureBase64, CancellationToken cancellationToken = default) =>
        PushSignatureAsync(distribution, repository, imageDigest, payload, new Dictionary<string, string>(StringComparer.Ordinal) { [SignatureAnnotation] = signatureBase64 }, cancellationToken);

    /// <summary>
    /// Pushes a payload with the layer annotations given (the signature, and for keyless signatures cosign's
    /// <c>dev.sigstore.cosign/certificate</c>, <c>chain</c> and <c>bundle</c>), appended to the signature manifest.
    /// </summary>
    public static async Task<PushedSignature> PushSignatureAsync(DistributionClient distribution, string repository, string imageDigest, byte[] payload, IReadOnlyDictionary<string, string> annotations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(distribution);
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(annotations);
        var signatureBase64 = annotations.TryGetValue(SignatureAnnotation, out var value) ? value : string.Empty;
        var tag = SignatureTag(imageDigest);

        // Like cosign: keep the layers of an existing signature manifest and append this one.
        var layers = new List<JsonObject>();
        var existing = await distribution.TryGetManifestAsync(repository, tag, MediaTypes.OciManifest, cancellationToken).ConfigureAwait(false);
        if (existing?.Json["layers"] is JsonArray existingLayers)
        {
            layers.AddRange(existingLayers.Select(l => (JsonObject)l!.DeepClone()));
        }

        var layerDigest = await distribution.PushBlobAsync(repository, payload, cancellationToken).ConfigureAwait(false);
        var alreadyThere = layers.Any(l =>
            l["digest"]?.GetValue<string>() == layerDigest
            && l["annotations"]?[SignatureAnnotation]?.GetValue<string>() == signatureBase64);
        if (!alreadyThere)
        {
            layers.Add(new JsonObject
            {
                ["mediaType"] = MediaTypes.CosignSimpleSigning,
                ["size"] = payload.Length,
                ["digest"] = layerDigest,
                ["annotations"] = new JsonObject(annotations.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)JsonValue.Create(a.Value)))),
            });
        }

        var config = CreateConfig(layers.Select(l => l["digest"]!.GetValue<string>()));
        var configDigest = await distribution.PushBlobAsync(repository, config, cancellationToken).ConfigureAwait(false);

        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = new JsonObject
            {
                ["mediaType"] = MediaTypes.OciConfig,
                ["size"] = config.Length,
                ["digest"] = configDigest,
            },
            ["layers"] = new JsonArray([.. layers]),
        };
        var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var manifestDigest = await distribution.PutManifestAsync(repository, tag, MediaTypes.OciManifest, manifestBytes, cancellationToken).ConfigureAwait(false);
        return new PushedSignature(repository, tag, manifestDigest, payload, signatureBase64, layers.Count);
    }

    public void Dispose() => _key.Dispose();

    /// <summary>
    /// The image config cosign writes for a signature "image" (go-containerregistry's empty image with the
    /// signature layers appended): the layers are uncompressed, so their diff_ids are their digests.
    /// </summary>
    private static byte[] CreateConfig(IEnumerable<string> layerDigests)
    {
        var digests = layerDigests.ToList();
        var config = new JsonObject
        {
            ["architecture"] = string.Empty,
            ["created"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture),
            ["history"] = new JsonArray([.. digests.Select(_ => (JsonNode)new JsonObject { ["created"] = "0001-01-01T00:00:00Z" })]),
            ["os"] = string.Empty,
            ["rootfs"] = new JsonObject
            {
                ["type"] = "layers",
                ["diff_ids"] = new JsonArray([.. digests.Select(d => (JsonNode)JsonValue.Create(d))]),
            },
            ["config"] = new JsonObject(),
        };
        return Encoding.UTF8.GetBytes(config.ToJsonString());
    }
}
