using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Tests.Infrastructure;

/// <summary>A signature as containers/image stores it: the layer's media type and the signature itself.</summary>
internal sealed record StoredSignature(string MimeType, CosignSignature Signature);

/// <summary>Reads the containers/image fixtures copied into <c>TestData/containers-image-cosign</c>.</summary>
internal static class CosignFixtures
{
    private const string SigstoreFormat = "sigstore-json";

    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "TestData", "containers-image-cosign");

    public static VerificationKey Key(string fileName) => VerificationKey.FromPem(File.ReadAllText(Path.Combine(Root, fileName)));

    /// <summary>The digest an admission would check: sha256 of the exact bytes of the image's manifest.</summary>
    public static string ManifestDigest(string image) => RegistryClient.ComputeDigest(File.ReadAllBytes(Path.Combine(Root, image, "manifest.json")));

    /// <summary>Every <c>signature-N</c> of an image directory, in N order (the order matters to "mixed").</summary>
    public static IReadOnlyList<StoredSignature> ImageSignatures(string image) =>
        Directory.GetFiles(Path.Combine(Root, image), "signature-*")
            .Select(path => (FullPath: path, Index: int.Parse(Path.GetFileName(path)["signature-".Length..], System.Globalization.CultureInfo.InvariantCulture)))
            .OrderBy(file => file.Index)
            .Select(file => Parse(File.ReadAllBytes(file.FullPath)))
            .ToList();

    public static IReadOnlyList<CosignSignature> Signatures(string image) => ImageSignatures(image).Select(s => s.Signature).ToList();

    public static StoredSignature SignatureFile(string fileName) => Parse(File.ReadAllBytes(Path.Combine(Root, fileName)));

    /// <summary>
    /// containers/image's storage form of a non-simple-signing signature: a NUL byte, the format name and a newline,
    /// then JSON <c>{"mimeType", "payload" (base64), "annotations"}</c>.
    /// </summary>
    public static StoredSignature Parse(byte[] blob)
    {
        ArgumentNullException.ThrowIfNull(blob);
        var newline = Array.IndexOf(blob, (byte)'\n');
        if (blob.Length == 0 || blob[0] != 0 || newline < 0)
        {
            throw new FormatException("not a containers/image signature blob in a non-default format");
        }

        var format = Encoding.UTF8.GetString(blob, 1, newline - 1);
        if (format != SigstoreFormat)
        {
            throw new FormatException($"unexpected signature format '{format}'");
        }

        using var document = JsonDocument.Parse(blob.AsMemory(newline + 1));
        var root = document.RootElement;
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("annotations", out var annotationsElement) && annotationsElement.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in annotationsElement.EnumerateObject())
            {
                annotations.Add(property.Name, property.Value.GetString()!);
            }
        }

        var mimeType = root.GetProperty("mimeType").GetString()!;
        var payload = root.GetProperty("payload").GetBytesFromBase64();
        return new StoredSignature(mimeType, new CosignSignature(payload, annotations));
    }
}
