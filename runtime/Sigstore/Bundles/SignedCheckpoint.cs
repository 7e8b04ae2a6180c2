using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Sigstore.Bundles;

/// <summary>One signature line of a signed note: <c>— &lt;name&gt; base64(key hint ‖ signature)</c>.</summary>
public sealed record NoteSignature(string Name, byte[] KeyHint, byte[] Signature);

/// <summary>
/// A transparency log checkpoint in the signed note format (C2SP <c>signed-note</c> and <c>tlog-checkpoint</c>): the
/// note text — origin line, tree size, base64 root hash, optional extension lines — a blank line, then one or more
/// signature lines. The log signs the note text; witnesses may add cosignatures, which this verifier does not need.
/// </summary>
public sealed class SignedCheckpoint
{
    private const string SignaturePrefix = "\u2014 ";

    private SignedCheckpoint(string origin, long treeSize, byte[] rootHash, IReadOnlyList<string> extensions, byte[] text, IReadOnlyList<NoteSignature> signatures)
    {
        Origin = origin;
        TreeSize = treeSize;
        RootHash = rootHash;
        Extensions = extensions;
        Text = text;
        Signatures = signatures;
    }

    /// <summary>The log's name, for example <c>rekor.sigstore.dev - 2605736670972794746</c> or <c>log2025-1.rekor.sigstore.dev</c>.</summary>
    public string Origin { get; }

    public long TreeSize { get; }

    public byte[] RootHash { get; }

    public IReadOnlyList<string> Extensions { get; }

    /// <summary>The signed bytes: the note text up to and including its last newline, without the blank separator line.</summary>
    public byte[] Text { get; }

    public IReadOnlyList<NoteSignature> Signatures { get; }

    public static bool TryParse(string envelope, [NotNullWhen(true)] out SignedCheckpoint? checkpoint, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        checkpoint = null;
        var separator = envelope.IndexOf("\n\n", StringComparison.Ordinal);
        if (separator < 0)
        {
            error = "the checkpoint has no blank line between its note and its signatures";
            return false;
        }

        var text = envelope[..(separator + 1)];
        var lines = text[..^1].Split('\n');
        if (lines.Length < 3)
        {
            error = "the checkpoint note needs an origin, a tree size and a root hash";
            return false;
        }

        var origin = lines[0];
        if (origin.Length == 0)
        {
            error = "the checkpoint has an empty origin line";
            return false;
        }

        if (!long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            error = "the checkpoint's second line is not a tree size";
            return false;
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(lines[2]);
        }
        catch (FormatException)
        {
            error = "the checkpoint's third line is not a base64 root hash";
            return false;
        }

        if (root.Length != 32)
        {
            error = "the checkpoint's root hash is not a SHA-256 hash";
            return false;
        }

        // The origin line must not itself look like a size: a note missing its origin shifts every line up.
        if (long.TryParse(origin, NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            error = "the checkpoint has no origin line";
            return false;
        }

        var signatures = new List<NoteSignature>();
        foreach (var line in envelope[(separator + 2)..].Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (!line.StartsWith(SignaturePrefix, StringComparison.Ordinal))
            {
                error = "a checkpoint signature line does not start with an em dash";
                return false;
            }

            var rest = line[SignaturePrefix.Length..];
            var space = rest.LastIndexOf(' ');
            if (space <= 0)
            {
                error = "a checkpoint signature line lacks a name or a signature";
                return false;
            }

            byte[] blob;
            try
            {
                blob = Convert.FromBase64String(rest[(space + 1)..]);
            }
            catch (FormatException)
            {
                error = "a checkpoint signature is not base64";
                return false;
            }

            if (blob.Length < 5)
            {
                error = "a checkpoint signature is too short to hold a key hint and a signature";
                return false;
            }

            signatures.Add(new NoteSignature(rest[..space], blob[..4], blob[4..]));
        }

        if (signatures.Count == 0)
        {
            error = "the checkpoint carries no signature";
            return false;
        }

        checkpoint = new SignedCheckpoint(origin, size, root, lines[3..], Encoding.UTF8.GetBytes(text), signatures);
        error = null;
        return true;
    }

    /// <summary>
    /// Null when a signature line of <paramref name="log"/> verifies: its name is the log's (the origin, or the origin's
    /// host part before <c>" - "</c> as Rekor v1 writes it), its key hint is the first four bytes of the log ID, and the
    /// log key verifies it over the note text. Lines from other signers (witness cosignatures) are ignored.
    /// </summary>
    public string? VerifySignature(TransparencyLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var hostPart = Origin.Split(" - ", 2)[0];
        var candidates = 0;
        foreach (var signature in Signatures)
        {
            if (!string.Equals(signature.Name, Origin, StringComparison.Ordinal) && !string.Equals(signature.Name, hostPart, StringComparison.Ordinal))
            {
                continue;
            }

            if (log.LogId.Length < 4 || !signature.KeyHint.AsSpan().SequenceEqual(log.LogId.AsSpan(0, 4)))
            {
                continue;
            }

            candidates++;
            if (log.Key.Verify(Text, signature.Signature))
            {
                return null;
            }
        }

        return candidates == 0
            ? $"the checkpoint carries no signature by the log '{Origin}' with its key hint"
            : "the checkpoint signature does not verify with the log key";
    }
}
