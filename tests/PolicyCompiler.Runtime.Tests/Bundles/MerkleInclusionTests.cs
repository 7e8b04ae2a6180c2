using System.Text;
using PolicyCompiler.Runtime.Sigstore.Bundles;

namespace PolicyCompiler.Runtime.Tests.Bundles;

/// <summary>
/// Inclusion proofs checked against trees built here by RFC 6962 section 2.1's recursive definitions (MTH and PATH),
/// for every leaf of every tree up to 17 leaves: balanced and unbalanced shapes alike.
/// </summary>
public sealed class MerkleInclusionTests
{
    private static List<byte[]> Leaves(int count) =>
        Enumerable.Range(0, count).Select(i => MerkleInclusion.LeafHash(Encoding.UTF8.GetBytes($"entry {i}"))).ToList();

    /// <summary>MTH(D[n]): the leaf hash for one entry, else the node hash of the left 2^k and the rest.</summary>
    private static byte[] Root(List<byte[]> leaves)
    {
        if (leaves.Count == 1)
        {
            return leaves[0];
        }

        var k = LargestPowerOfTwoBelow(leaves.Count);
        return MerkleInclusion.NodeHash(Root(leaves[..k]), Root(leaves[k..]));
    }

    /// <summary>PATH(m, D[n]): the audit path of leaf m, deepest sibling first.</summary>
    private static List<byte[]> Path(int m, List<byte[]> leaves)
    {
        if (leaves.Count == 1)
        {
            return [];
        }

        var k = LargestPowerOfTwoBelow(leaves.Count);
        return m < k
            ? [.. Path(m, leaves[..k]), Root(leaves[k..])]
            : [.. Path(m - k, leaves[k..]), Root(leaves[..k])];
    }

    private static int LargestPowerOfTwoBelow(int n)
    {
        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }

        return k;
    }

    [Fact]
    public void EveryLeafOfEveryTreeUpTo17LeavesIsProven()
    {
        var checkedProofs = 0;
        for (var size = 1; size <= 17; size++)
        {
            var leaves = Leaves(size);
            var root = Root(leaves);
            for (var index = 0; index < size; index++)
            {
                var proof = Path(index, leaves);
                Assert.True(MerkleInclusion.Verify(index, size, leaves[index], proof, root), $"leaf {index} of {size}");
                checkedProofs++;
            }
        }

        Assert.Equal(153, checkedProofs);
    }

    [Fact]
    public void AProofFailsForAnotherLeafIndexSizeOrRoot()
    {
        var leaves = Leaves(11);
        var root = Root(leaves);
        var proof = Path(6, leaves);

        Assert.True(MerkleInclusion.Verify(6, 11, leaves[6], proof, root));
        Assert.False(MerkleInclusion.Verify(6, 11, leaves[5], proof, root));
        Assert.False(MerkleInclusion.Verify(7, 11, leaves[6], proof, root));
        Assert.False(MerkleInclusion.Verify(6, 7, leaves[6], proof, root));
        Assert.False(MerkleInclusion.Verify(6, 11, leaves[6], proof, Root(Leaves(12))));
    }

    [Fact]
    public void AProofWithAFlippedBitOrAWrongLengthFails()
    {
        var leaves = Leaves(9);
        var root = Root(leaves);
        var proof = Path(3, leaves);
        var corrupted = proof.Select(h => h.ToArray()).ToList();
        corrupted[1][0] ^= 0x01;

        Assert.False(MerkleInclusion.Verify(3, 9, leaves[3], corrupted, root));
        Assert.False(MerkleInclusion.Verify(3, 9, leaves[3], proof[..^1], root));
        Assert.False(MerkleInclusion.Verify(3, 9, leaves[3], [.. proof, root], root));
    }

    [Theory]
    [InlineData(-1, 4)]
    [InlineData(4, 4)]
    [InlineData(0, 0)]
    public void IndicesOutsideTheTreeAreRejected(long index, long size)
    {
        var leaf = Leaves(1)[0];

        Assert.Null(MerkleInclusion.RootFromInclusionProof(index, size, leaf, []));
    }

    [Fact]
    public void LeafAndNodeHashesAreDomainSeparated()
    {
        var data = Encoding.UTF8.GetBytes("x");

        Assert.Equal(Convert.FromHexString("3c7e9bc930dc93f01fa69985ef242d9f9e861f3c5355aa24ce5ef4b4b8a70ccb"), MerkleInclusion.LeafHash(data));
        Assert.NotEqual(MerkleInclusion.LeafHash([.. data, .. data]), MerkleInclusion.NodeHash(data, data));
    }
}
