using System;
using System.Collections.Generic;
using System.Linq;

namespace PolicyCompiler.Generators.Validation;

/// <summary>A certificate that parsed: its DER, the raw encodings of its names, and its key algorithm.</summary>
internal sealed record CheckedCertificate(byte[] Der, byte[] Issuer, byte[] Subject, string KeyAlgorithm)
{
    public bool IsSelfIssued => Issuer.SequenceEqual(Subject);
}

/// <summary>
/// Structural checks of PEM certificates at build time: X.509 shape, a usable public key, and, for chains, that every
/// certificate's issuer is in the chain and the chain ends at a root. Signatures are checked at admission time.
/// </summary>
internal static class CertificateReader
{
    public static List<CheckedCertificate>? ReadAll(string value, out string? error)
    {
        var blocks = PublicKeyReader.SplitPem(value, out error);
        if (error is not null)
        {
            return null;
        }

        if (blocks.Count == 0)
        {
            error = "no PEM certificate was found";
            return null;
        }

        var result = new List<CheckedCertificate>();
        for (var i = 0; i < blocks.Count; i++)
        {
            if (blocks[i].Label != "CERTIFICATE")
            {
                error = $"PEM block #{i + 1} is '{blocks[i].Label}', expected 'CERTIFICATE'";
                return null;
            }

            if (Check(blocks[i].Base64, out var certificateError) is not { } certificate)
            {
                error = $"certificate #{i + 1}: {certificateError}";
                return null;
            }

            result.Add(certificate);
        }

        return result;
    }

    /// <summary>Null when every certificate's issuer is in the chain and at least one root (self-issued) is present.</summary>
    public static string? CheckChain(IReadOnlyList<CheckedCertificate> chain, CheckedCertificate? leaf)
    {
        if (!chain.Any(c => c.IsSelfIssued))
        {
            return "the chain has no root certificate (a self-issued CA certificate); include the root";
        }

        foreach (var certificate in leaf is null ? chain : chain.Append(leaf))
        {
            if (!certificate.IsSelfIssued && !chain.Any(c => c.Subject.SequenceEqual(certificate.Issuer)))
            {
                return certificate == leaf
                    ? "the certificate's issuer is not in the chain"
                    : "a certificate's issuer is not in the chain, so it does not chain to the root";
            }
        }

        return null;
    }

    private static CheckedCertificate? Check(string base64, out string? error)
    {
        byte[] der;
        try
        {
            der = Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            error = "the PEM body is not valid base64";
            return null;
        }

        try
        {
            var outer = new DerReader(der);
            var certificate = outer.ReadSequence();
            outer.EnsureEnd("after the certificate");
            var tbs = certificate.ReadSequence();
            certificate.ReadSequence();
            certificate.ReadBitStringRaw();
            certificate.EnsureEnd("in the certificate");

            if (tbs.PeekTag() == 0xA0)
            {
                tbs.ReadConstructed(0xA0, "version");
            }

            tbs.ReadEncoded(out var serialTag);
            if (serialTag != 0x02)
            {
                throw new DerException("the serial number is not an INTEGER");
            }

            tbs.ReadSequence();
            var issuer = tbs.ReadEncoded(out _);
            tbs.ReadSequence();
            var subject = tbs.ReadEncoded(out _);
            var spki = tbs.ReadEncoded(out var spkiTag);
            if (spkiTag != 0x30)
            {
                throw new DerException("the certificate has no SubjectPublicKeyInfo");
            }

            var algorithm = PublicKeyReader.CheckSubjectPublicKeyInfo(spki);
            error = null;
            return new CheckedCertificate(der, issuer, subject, algorithm);
        }
        catch (DerException e)
        {
            error = "it is not an X.509 certificate: " + e.Message;
            return null;
        }
    }
}
