namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// One cosign signature: a layer of the <c>sha256-&lt;hex&gt;.sig</c> manifest, with the payload it signs and the
/// annotations cosign put on the layer (<c>dev.cosignproject.cosign/signature</c>, certificate, chain, bundle).
/// </summary>
public sealed class CosignSignature(byte[] payload, IReadOnlyDictionary<string, string> annotations)
{
    public const string SignatureAnnotation = "dev.cosignproject.cosign/signature";
    public const string CertificateAnnotation = "dev.sigstore.cosign/certificate";
    public const string ChainAnnotation = "dev.sigstore.cosign/chain";
    public const string BundleAnnotation = "dev.sigstore.cosign/bundle";
    public const string TimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp";

    public byte[] Payload { get; } = payload;

    public IReadOnlyDictionary<string, string> Annotations { get; } = annotations;

    /// <summary>The decoded signature, or <see langword="null"/> when the annotation is missing or not base64.</summary>
    public byte[]? SignatureBytes
    {
        get
        {
            if (!Annotations.TryGetValue(SignatureAnnotation, out var b64) || string.IsNullOrWhiteSpace(b64))
            {
                return null;
            }

            try
            {
                return Convert.FromBase64String(b64);
            }
            catch (FormatException)
            {
                return null;
            }
        }
    }
}

/// <summary>
/// The outcome of checking one attestor against an image's signatures. <paramref name="MayChange"/>: the failure rests on
/// an answer that can change without the image changing (a revocation service that could not be asked, or did not know
/// the certificate), so the verdict must not be kept.
/// </summary>
public readonly record struct SignatureCheck(bool Verified, string Reason, bool MayChange = false)
{
    public static SignatureCheck Pass { get; } = new(true, "verified");

    public static SignatureCheck Fail(string reason, bool mayChange = false) => new(false, reason, mayChange);
}

/// <summary>Checks cosign signatures against a static key, as <c>cosign verify --key</c> does.</summary>
public static class CosignKeyVerifier
{
    public const string SignatureNotFound = "signature not found";
    public const string InvalidSignature = "invalid signature";

    /// <summary>
    /// True when at least one signature verifies under <paramref name="key"/> and its payload claims exactly
    /// <paramref name="digest"/> as a cosign container image signature (no transparency log required).
    /// </summary>
    public static SignatureCheck Verify(IReadOnlyList<CosignSignature> signatures, string digest, VerificationKey key) =>
        CosignVerifier.Verify(signatures, digest, new StaticKeySigner(key), SignatureRequirements.None, TimeProvider.System);
}
