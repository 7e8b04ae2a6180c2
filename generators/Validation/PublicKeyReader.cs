using System;
using System.Collections.Generic;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace PolicyCompiler.Generators.Validation;

/// <summary>One PEM block found in a <c>publicKeys</c> value, with its offset inside the value.</summary>
internal sealed record PemBlock(string Label, string Base64, int Offset, int Length);

/// <summary>A key that passed every check: algorithm, curve membership or RSA size.</summary>
internal sealed record CheckedKey(string Algorithm, byte[] SubjectPublicKeyInfo);

/// <summary>
/// Reads PEM public keys and checks their SubjectPublicKeyInfo with a DER reader of our own, so the generator
/// needs no platform crypto (it runs inside every compiler host) and a policy with a broken key never builds.
/// </summary>
internal static class PublicKeyReader
{
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private const string RsaEncryptionOid = "1.2.840.113549.1.1.1";
    private const string Ed25519Oid = "1.3.101.112";

    private static readonly Dictionary<string, Curve> s_curves = new(StringComparer.Ordinal)
    {
        ["1.2.840.10045.3.1.7"] = new("EcdsaP256", 32,
            "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
            "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
        ["1.3.132.0.34"] = new("EcdsaP384", 48,
            "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
            "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef"),
        ["1.3.132.0.35"] = new("EcdsaP521", 66,
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00"),
    };

    /// <summary>Splits a value into PEM blocks; text between blocks other than whitespace is an error.</summary>
    public static List<PemBlock> SplitPem(string value, out string? error)
    {
        var blocks = new List<PemBlock>();
        error = null;
        var position = 0;
        while (true)
        {
            var begin = value.IndexOf("-----BEGIN ", position, StringComparison.Ordinal);
            var between = begin < 0 ? value.Substring(position) : value.Substring(position, begin - position);
            if (between.Trim().Length > 0)
            {
                error = $"unexpected text '{Shorten(between.Trim())}' outside a PEM block";
                return blocks;
            }

            if (begin < 0)
            {
                return blocks;
            }

            var labelEnd = value.IndexOf("-----", begin + 11, StringComparison.Ordinal);
            if (labelEnd < 0)
            {
                error = "a PEM BEGIN line is not closed with '-----'";
                return blocks;
            }

            var label = value.Substring(begin + 11, labelEnd - begin - 11);
            var endMarker = "-----END " + label + "-----";
            var end = value.IndexOf(endMarker, labelEnd + 5, StringComparison.Ordinal);
            if (end < 0)
            {
                error = $"the PEM block '{label}' has no matching '{endMarker}' line";
                return blocks;
            }

            var body = value.Substring(labelEnd + 5, end - labelEnd - 5);
            blocks.Add(new PemBlock(label, body, begin, end + endMarker.Length - begin));
            position = end + endMarker.Length;
        }
    }

    public static CheckedKey? Check(PemBlock block, out string? error)
    {
        if (block.Label == "CERTIFICATE")
        {
            error = "it is a certificate, not a public key (certificates go under 'certificates.cert')";
            return null;
        }

        if (block.Label != "PUBLIC KEY")
        {
            error = $"the PEM block is '{block.Label}', expected 'PUBLIC KEY'" + (block.Label.Contains("PRIVATE") ? " (never put a private key in a policy)" : string.Empty);
            return null;
        }

        byte[] der;
        try
        {
            der = Convert.FromBase64String(block.Base64);
        }
        catch (FormatException)
        {
            error = "the PEM body is not valid base64";
            return null;
        }

        try
        {
            var algorithm = CheckSubjectPublicKeyInfo(der);
            error = null;
            return new CheckedKey(algorithm, der);
        }
        catch (DerException e)
        {
            error = e.Message;
            return null;
        }
    }

    public static string Fingerprint(byte[] spki)
    {
        using var sha = SHA256.Create();
        var hash = sha.ComputeHash(spki);
        var builder = new StringBuilder("sha256:");
        foreach (var b in hash)
        {
            builder.Append(b.ToString("x2", CultureInfo.InvariantCulture));
        }

        return builder.ToString();
    }

    internal static string CheckSubjectPublicKeyInfo(byte[] der)
    {
        var outer = new DerReader(der);
        var spki = outer.ReadSequence();
        outer.EnsureEnd("after the SubjectPublicKeyInfo");

        var algorithmIdentifier = spki.ReadSequence();
        var oid = algorithmIdentifier.ReadOid();
        var keyBits = spki.ReadBitString();
        spki.EnsureEnd("in the SubjectPublicKeyInfo");

        switch (oid)
        {
            case EcPublicKeyOid:
                var curveOid = algorithmIdentifier.ReadOid();
                algorithmIdentifier.EnsureEnd("in the EC algorithm parameters");
                if (!s_curves.TryGetValue(curveOid, out var curve))
                {
                    throw new DerException($"the elliptic curve {curveOid} is not supported (use P-256, P-384 or P-521)");
                }

                curve.CheckPoint(keyBits);
                return curve.Algorithm;

            case RsaEncryptionOid:
                if (algorithmIdentifier.HasMore)
                {
                    algorithmIdentifier.ReadNull();
                }

                algorithmIdentifier.EnsureEnd("in the RSA algorithm parameters");
                var rsaKey = new DerReader(keyBits).ReadSequence();
                var modulus = rsaKey.ReadPositiveInteger();
                var exponent = rsaKey.ReadPositiveInteger();
                rsaKey.EnsureEnd("in the RSA public key");
                var bits = BitLength(modulus);
                if (bits < 2048)
                {
                    throw new DerException($"the RSA key has {bits.ToString(CultureInfo.InvariantCulture)} bits; at least 2048 are required");
                }

                if (exponent < 3 || exponent.IsEven)
                {
                    throw new DerException("the RSA public exponent must be odd and at least 3");
                }

                return "Rsa";

            case Ed25519Oid:
                // RFC 8410: no parameters, and the key is the 32-byte encoded point.
                algorithmIdentifier.EnsureEnd("in the Ed25519 algorithm identifier (RFC 8410 allows no parameters)");
                if (keyBits.Length != 32)
                {
                    throw new DerException($"the Ed25519 key is {keyBits.Length.ToString(CultureInfo.InvariantCulture)} bytes; an Ed25519 public key is 32");
                }

                return "Ed25519";

            default:
                throw new DerException($"the key algorithm {oid} is not supported");
        }
    }

    private static int BitLength(BigInteger value)
    {
        var bytes = value.ToByteArray();
        var top = bytes[bytes.Length - 1];
        var bits = (bytes.Length - 1) * 8;
        while (top != 0)
        {
            bits++;
            top >>= 1;
        }

        return bits;
    }

    private static string Shorten(string text) => text.Length <= 30 ? text : text.Substring(0, 27) + "...";

    private sealed class Curve(string algorithm, int fieldBytes, string pHex, string bHex)
    {
        private readonly BigInteger _p = ParseHex(pHex);
        private readonly BigInteger _b = ParseHex(bHex);

        public string Algorithm { get; } = algorithm;

        public void CheckPoint(byte[] point)
        {
            if (point.Length > 0 && (point[0] == 2 || point[0] == 3))
            {
                throw new DerException("the key uses a compressed EC point, which the runtime cannot import; export it uncompressed");
            }

            if (point.Length != 1 + (2 * fieldBytes) || point[0] != 4)
            {
                throw new DerException($"the EC point is {point.Length.ToString(CultureInfo.InvariantCulture)} bytes; an uncompressed {Algorithm} point is {(1 + (2 * fieldBytes)).ToString(CultureInfo.InvariantCulture)}");
            }

            var x = FromBigEndian(point, 1, fieldBytes);
            var y = FromBigEndian(point, 1 + fieldBytes, fieldBytes);
            if (x >= _p || y >= _p)
            {
                throw new DerException("the EC point's coordinates are outside the field");
            }

            // y² = x³ − 3x + b over the prime field (a = −3 for the NIST curves).
            var left = BigInteger.ModPow(y, 2, _p);
            var right = (BigInteger.ModPow(x, 3, _p) - (3 * x) + _b) % _p;
            if (right.Sign < 0)
            {
                right += _p;
            }

            if (left != right)
            {
                throw new DerException($"the EC point is not on the {Algorithm} curve");
            }
        }

        private static BigInteger ParseHex(string hex) => BigInteger.Parse("0" + hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

        private static BigInteger FromBigEndian(byte[] data, int offset, int length)
        {
            var little = new byte[length + 1];
            for (var i = 0; i < length; i++)
            {
                little[i] = data[offset + length - 1 - i];
            }

            return new BigInteger(little);
        }
    }
}
