using System.Security.Cryptography;

namespace PolicyCompiler.Runtime.Sigstore.Bundles;

/// <summary>
/// What a Sigstore bundle must be about: the artifact's bytes, or only its digest (an OCI image is known by its
/// manifest digest). For a message signature it is the signed artifact; for a DSSE envelope, the in-toto statement's
/// subject.
/// </summary>
public sealed class BundleArtifact
{
    private static readonly HashAlgorithmName[] s_subjectAlgorithms = [HashAlgorithmName.SHA256, HashAlgorithmName.SHA384, HashAlgorithmName.SHA512];

    private readonly byte[]? _content;
    private readonly HashAlgorithmName _algorithm;
    private readonly byte[] _digest;

    private BundleArtifact(byte[]? content, HashAlgorithmName algorithm, byte[] digest)
    {
        _content = content;
        _algorithm = algorithm;
        _digest = digest;
    }

    /// <summary>The artifact's SHA-256 digest as <c>sha256:&lt;hex&gt;</c>, or the digest it was given as.</summary>
    public string Digest => Prefix(_algorithm) + Convert.ToHexStringLower(_digest);

    /// <summary>The artifact's bytes, when known.</summary>
    public ReadOnlyMemory<byte>? Content => _content is null ? (ReadOnlyMemory<byte>?)null : _content;

    public static BundleArtifact FromBytes(byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        return new BundleArtifact(content, HashAlgorithmName.SHA256, SHA256.HashData(content));
    }

    /// <summary>An artifact known by digest: <c>sha256:&lt;hex&gt;</c>, <c>sha384:…</c> or <c>sha512:…</c>.</summary>
    public static BundleArtifact FromDigest(string digest)
    {
        ArgumentNullException.ThrowIfNull(digest);
        var colon = digest.IndexOf(':', StringComparison.Ordinal);
        var algorithm = colon < 0 ? default : digest[..colon] switch
        {
            "sha256" => HashAlgorithmName.SHA256,
            "sha384" => HashAlgorithmName.SHA384,
            "sha512" => HashAlgorithmName.SHA512,
            _ => default,
        };
        if (algorithm == default)
        {
            throw new ArgumentException($"'{digest}' is not a sha256, sha384 or sha512 digest", nameof(digest));
        }

        var bytes = Convert.FromHexString(digest.AsSpan(colon + 1));
        if (bytes.Length != SizeOf(algorithm))
        {
            throw new ArgumentException($"'{digest}' has the wrong length for its algorithm", nameof(digest));
        }

        return new BundleArtifact(null, algorithm, bytes);
    }

    /// <summary>The digest under <paramref name="algorithm"/>: computed from the bytes, or the given digest; null when unknown.</summary>
    internal byte[]? DigestWith(HashAlgorithmName algorithm)
    {
        if (algorithm == _algorithm)
        {
            return _digest;
        }

        if (_content is null)
        {
            return null;
        }

        return algorithm == HashAlgorithmName.SHA384 ? SHA384.HashData(_content)
            : algorithm == HashAlgorithmName.SHA512 ? SHA512.HashData(_content)
            : algorithm == HashAlgorithmName.SHA256 ? SHA256.HashData(_content)
            : null;
    }

    /// <summary>Every <c>algorithm:hex</c> form an in-toto subject could name this artifact by.</summary>
    internal IEnumerable<string> SubjectDigests()
    {
        if (_content is null)
        {
            yield return Digest;
            yield break;
        }

        foreach (var algorithm in s_subjectAlgorithms)
        {
            yield return Prefix(algorithm) + Convert.ToHexStringLower(DigestWith(algorithm)!);
        }
    }

    private static string Prefix(HashAlgorithmName algorithm) =>
        algorithm == HashAlgorithmName.SHA384 ? "sha384:" : algorithm == HashAlgorithmName.SHA512 ? "sha512:" : "sha256:";

    private static int SizeOf(HashAlgorithmName algorithm) =>
        algorithm == HashAlgorithmName.SHA384 ? 48 : algorithm == HashAlgorithmName.SHA512 ? 64 : 32;
}
