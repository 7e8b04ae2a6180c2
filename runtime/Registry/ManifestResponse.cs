namespace PolicyCompiler.Runtime.Registry;

/// <summary>A manifest exactly as served, with the digest we computed over its bytes.</summary>
public sealed class ManifestResponse(byte[] content, string mediaType, string digest)
{
    public byte[] Content { get; } = content;

    public string MediaType { get; } = mediaType;

    /// <summary><c>sha256:…</c> of <see cref="Content"/>, computed here; never the registry's word.</summary>
    public string Digest { get; } = digest;
}
