using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Notary;

/// <summary>
/// A Notation attestation as Kyverno reads one: a referrer of the image whose artifact type is the attestation's
/// <c>type</c>, its manifest's descriptor (what its own Notation signatures must name), those signatures (referrers of
/// the referrer), and its one layer read as the predicate, or why it could not be read.
/// </summary>
public sealed record NotaryAttestation(string ManifestDigest, NotaryArtifact Descriptor, IReadOnlyList<NotarySignature> Signatures, InTotoStatement? Statement, string? Problem);

/// <summary>Reads the Notation attestations of an image, by artifact type.</summary>
public sealed class NotaryAttestationStore(RegistryClient registry)
{
    /// <summary>Kyverno's bound on a predicate layer (<c>maxPayloadSize</c>, 10 MB): SBOMs outgrow the signature bound.</summary>
    public const long MaxPredicateBytes = 10 * 1000 * 1000;

    private readonly NotarySignatureStore _signatures = new(registry);

    public async Task<IReadOnlyList<NotaryAttestation>> GetAttestationsAsync(string registryHost, string repository, string digest, string artifactType, CancellationToken cancellationToken)
    {
        var manifests = await ReferrerManifests.GetAsync(registry, registryHost, repository, digest, t => t == artifactType, $"attestations of type {artifactType}", cancellationToken).ConfigureAwait(false);
        var attestations = new List<NotaryAttestation>(manifests.Count);
        foreach (var (manifestDigest, manifest) in manifests)
        {
            // The referrer is an artifact like the image: Notation signs its manifest's descriptor and attaches the
            // signatures as its own referrers, in the same repository.
            var descriptor = await _signatures.GetArtifactAsync(registryHost, repository, manifestDigest, cancellationToken).ConfigureAwait(false);
            var signatures = await _signatures.GetSignaturesAsync(registryHost, repository, manifestDigest, cancellationToken).ConfigureAwait(false);
            InTotoStatement? statement = null;
            string? problem;
            if (manifest.Layers is not [var layer])
            {
                // Kyverno reads no predicate from a manifest without layers, and refuses several.
                problem = $"the attestation has {manifest.Layers?.Count ?? 0} layers; Kyverno reads exactly one, the predicate";
            }
            else if (layer.Digest is null || layer.Size < 0 || layer.Size > MaxPredicateBytes)
            {
                problem = $"the attestation's layer has no digest or exceeds {MaxPredicateBytes} bytes";
            }
            else
            {
                var predicate = await registry.GetBlobAsync(registryHost, repository, layer.Digest, layer.Size, cancellationToken).ConfigureAwait(false);
                statement = Statement(artifactType, predicate, out problem);
            }

            attestations.Add(new NotaryAttestation(manifestDigest, descriptor, signatures, statement, problem));
        }

        return attestations;
    }

    /// <summary>
    /// The statement Kyverno builds for conditions: <c>type</c> (the artifact type) and <c>predicate</c> (the layer, a
    /// JSON object). Null, with the reason, when the layer is not a JSON object.
    /// </summary>
    public static InTotoStatement? Statement(string artifactType, byte[] predicate, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        try
        {
            using var document = JsonDocument.Parse(predicate, new JsonDocumentOptions { MaxDepth = 64 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                problem = "the attestation's predicate is not a JSON object";
                return null;
            }

            if (!JsonText.IsReadable(document.RootElement))
            {
                problem = "the attestation's predicate holds a string that is not valid UTF-8 or Unicode";
                return null;
            }

            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteString("type", artifactType);
                writer.WritePropertyName("predicate");
                document.RootElement.WriteTo(writer);
                writer.WriteEndObject();
            }

            problem = null;
            return InTotoStatement.ForNotaryAttestation(artifactType, JsonDocument.Parse(buffer.ToArray()).RootElement.Clone());
        }
        catch (JsonException e)
        {
            problem = "the attestation's predicate is not JSON: " + e.Message;
            return null;
        }
    }

    /// <summary>
    /// The statements of the attestations whose Notation signature verifies for <paramref name="trusted"/>. An
    /// attestation that is not signed by a trusted chain is passed over (it cannot vouch, and cannot block another); a
    /// signed one whose predicate cannot be read fails. None verified: the first reason.
    /// </summary>
    public static async Task<AttestationCheck> VerifyAsync(IReadOnlyList<NotaryAttestation> attestations, string artifactType, IReadOnlyList<X509Certificate2> trusted, DateTimeOffset now, NotaryRevocation revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attestations);
        if (attestations.Count == 0)
        {
            return AttestationCheck.Fail($"no attestations of type {artifactType} found");
        }

        var statements = new List<InTotoStatement>();
        string? reason = null;
        var mayChange = false;
        foreach (var attestation in attestations)
        {
            var check = await NotaryVerifier.VerifyAsync(attestation.Signatures, attestation.Descriptor, trusted, now, revocation, cancellationToken).ConfigureAwait(false);
            if (!check.Verified)
            {
                reason ??= $"attestation {attestation.ManifestDigest}: {check.Reason}";
                mayChange |= check.MayChange;
                continue;
            }

            if (attestation.Statement is null)
            {
                return AttestationCheck.Fail($"attestation {attestation.ManifestDigest}: {attestation.Problem}");
            }

            statements.Add(attestation.Statement);
        }

        // Statements found are judged by the conditions; an attestation passed over for an unknown revocation status
        // could still join them at the next review, so such a verdict is not kept either way.
        return statements.Count > 0 ? new AttestationCheck(true, "verified", statements, mayChange) : AttestationCheck.Fail(reason!, mayChange);
    }
}
