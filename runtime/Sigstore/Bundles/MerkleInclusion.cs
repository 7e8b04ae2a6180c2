using System.Security.Cryptography;

namespace PolicyCompiler.Runtime.Sigstore.Bundles;

/// <summary>RFC 6962 / RFC 9162 §2.1.3 Merkle tree hashing and inclusion proof verification (SHA-256).</summary>
public static class MerkleInclusion
{
    /// <summary>The leaf hash of an entry: SHA-256(0x00 || entry).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> entry)
    {
        var buffer = new byte[entry.Length + 1];
        entry.CopyTo(buffer.AsSpan(1));
        return SHA256.HashData(buffer);
    }

    /// <summary>The hash of an interior node: SHA-256(0x01 || left || right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> buffer = stackalloc byte[1 + left.Length + right.Length];
        buffer[0] = 1;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + left.Length)..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>
    /// Recomputes the root from a leaf hash and its audit path (RFC 9162 §2.1.3.2); null when the path does not fit
    /// a tree of <paramref name="treeSize"/> leaves (too short, too long, index outside the tree).
    /// </summary>
    public static byte[]? RootFromInclusionProof(long index, long treeSize, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (index < 0 || treeSize <= 0 || index >= treeSize || leafHash.Length != SHA256.HashSizeInBytes)
        {
            return null;
        }

        var fn = index;
        var sn = treeSize - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (sn == 0 || p is null || p.Length != SHA256.HashSizeInBytes)
            {
                return null;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 ? r : null;
    }

    /// <summary>True when the audit path leads from <paramref name="leafHash"/> to <paramref name="rootHash"/>.</summary>
    public static bool Verify(long index, long treeSize, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> rootHash)
    {
        var computed = RootFromInclusionProof(index, treeSize, leafHash, proof);
        return computed is not null && CryptographicOperations.FixedTimeEquals(computed, rootHash);
    }
}
