using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Model;

namespace PolicyCompiler.Generators.Emit;

/// <summary>
/// The keys, certificates and signature requirements of one policy, written once each as static readonly fields
/// (imported at type initialisation, shared by every review) and referred to by name from the definition.
/// </summary>
internal sealed class TrustMaterial(SourceWriter writer)
{
    private readonly Dictionary<PublicKeyModel, string> _keys = [];
    private readonly Dictionary<CertificateModel, string> _certificates = [];
    private readonly Dictionary<RequirementsModel, string> _requirements = [];
    private readonly List<(string Name, string Field, Conditions.KyvernoTemplate Template, string Text)> _templates = [];

    /// <summary>The methods that substitute attestor templates, named in the order the definition asked for them.</summary>
    public IReadOnlyList<(string Name, string Field, Conditions.KyvernoTemplate Template, string Text)> Templates => _templates;

    /// <summary>The name of the method substituting this attestor's <c>publicKeys</c>, written after the definition.</summary>
    public string KeyTemplate(VariableKeyModel key) => Template("publicKeys", key.Template, key.Text);

    /// <summary>The name of the method substituting one attestor field (<c>subject</c>, <c>certChain</c>, …), written after the definition.</summary>
    public string Template(string field, Conditions.KyvernoTemplate template, string text)
    {
        // An extension's field carries its name (or an OID) after a dot: the method is named for the map alone.
        var member = field.Split('.')[0];
        var name = char.ToUpperInvariant(member[0]) + member.Substring(1) + "Template" + _templates.Count.ToString(CultureInfo.InvariantCulture);
        _templates.Add((name, field, template, text));
        return name;
    }

    public void WriteAll(PolicyModel policy)
    {
        foreach (var attestor in AllAttestors(policy))
        {
            if (attestor.Key is { } key)
            {
                Declare(key);
            }

            if (attestor.Requirements.Tlog.Key is { } rekorKey)
            {
                Declare(rekorKey);
            }

            if ((attestor.Keyless?.CtLog ?? attestor.Certificates?.CtLog)?.Key is { } ctKey)
            {
                Declare(ctKey);
            }

            foreach (var certificate in attestor.Certificates is { } c ? (c.Certificate is null ? c.Chain : c.Chain.Prepend(c.Certificate)) : attestor.Keyless?.Roots ?? EquatableArray<CertificateModel>.Empty)
            {
                Declare(certificate);
            }

            foreach (var certificate in attestor.Requirements.TsaChain)
            {
                Declare(certificate);
            }
        }

        foreach (var attestor in AllAttestors(policy))
        {
            Declare(attestor.Requirements);
        }
    }

    public string Key(PublicKeyModel key) => _keys[key];

    public string Certificate(CertificateModel certificate) => _certificates[certificate];

    public string Requirements(RequirementsModel requirements) =>
        IsNone(requirements) ? "SignatureRequirements.None" : _requirements[requirements];

    private static IEnumerable<AttestorModel> AllAttestors(PolicyModel policy) =>
        policy.Rules.SelectMany(r => r.VerifyImages)
            .SelectMany(v => v.Attestors.Concat(v.Attestations.SelectMany(a => a.Attestors)))
            .SelectMany(Flatten);

    private static IEnumerable<AttestorModel> Flatten(AttestorSetModel set) =>
        set.Entries.SelectMany(e => e.Nested is { } nested ? Flatten(nested).Prepend(e) : [e]);

    private static bool IsNone(RequirementsModel requirements) => requirements.Tlog.Ignore && requirements.Annotations.IsEmpty && requirements.TsaChain.IsEmpty;

    private void Declare(PublicKeyModel key)
    {
        if (_keys.ContainsKey(key))
        {
            return;
        }

        var name = "Key" + _keys.Count.ToString(CultureInfo.InvariantCulture);
        _keys[key] = name;
        writer.WriteLine($"/// <summary>{PolicyEmitter.Xml(PolicyEmitter.DescribeAlgorithm(key.Algorithm))} public key {key.Fingerprint}, signatures hashed with {key.Hash.ToUpperInvariant()}.</summary>");
        writer.WriteLine($"private static readonly VerificationKey {name} = new(");
        writer.Indentation++;
        writer.WriteLine($"KeyAlgorithm.{key.Algorithm},");
        writer.WriteLine($"{CSharp.Literal(key.SubjectPublicKeyInfoBase64)},");
        writer.WriteLine($"{PolicyEmitter.HashName(key.Hash)});");
        writer.Indentation--;
        writer.WriteLine();
    }

    private void Declare(CertificateModel certificate)
    {
        if (_certificates.ContainsKey(certificate))
        {
            return;
        }

        var name = "Certificate" + _certificates.Count.ToString(CultureInfo.InvariantCulture);
        _certificates[certificate] = name;
        writer.WriteLine($"/// <summary>Certificate {certificate.Fingerprint}.</summary>");
        writer.WriteLine($"private static readonly X509Certificate2 {name} = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(");
        writer.Indentation++;
        writer.WriteLine($"{CSharp.Literal(certificate.DerBase64)}));");
        writer.Indentation--;
        writer.WriteLine();
    }

    private void Declare(RequirementsModel requirements)
    {
        if (IsNone(requirements) || _requirements.ContainsKey(requirements))
        {
            return;
        }

        var name = "Requirements" + _requirements.Count.ToString(CultureInfo.InvariantCulture);
        _requirements[requirements] = name;
        var tlog = requirements.Tlog switch
        {
            { Ignore: true } => "TransparencyLogPolicy.Ignore",
            { Key: { } key } => $"TransparencyLogPolicy.WithKey({CSharp.Literal(requirements.Tlog.Url ?? string.Empty)}, {Key(key)})",
            _ => "TransparencyLogPolicy.TrustedRootLogs",
        };
        var description = requirements.Tlog switch
        {
            { Ignore: true } => "no transparency log entry is required",
            { Substituted: true } => "a Rekor bundle is required, from the log that rekor's variables name (substituted per review in place of this default)",
            { Key: not null } => "a Rekor bundle from the log with this key is required",
            _ => "a Rekor bundle from a log of the trusted root is required",
        };
        if (!requirements.TsaChain.IsEmpty)
        {
            description += "; RFC 3161 timestamps are verified against the policy's TSA chain";
        }

        if (!requirements.Annotations.IsEmpty)
        {
            description = "the annotations " + string.Join(", ", requirements.Annotations.Select(a => $"{a.Key}={a.Value}")) + " are required; " + description;
        }

        writer.WriteLine($"/// <summary>Signature requirements: {PolicyEmitter.Xml(description)}.</summary>");
        writer.WriteLine($"private static readonly SignatureRequirements {name} = new()");
        writer.OpenBrace();
        writer.WriteLine($"Tlog = {tlog},");
        if (!requirements.TsaChain.IsEmpty)
        {
            writer.WriteLine($"TimestampAuthorities = [CertificateAuthority.ForTimestampChain([{string.Join(", ", requirements.TsaChain.Select(Certificate))}])],");
        }

        if (!requirements.Annotations.IsEmpty)
        {
            writer.WriteLine("Annotations = new Dictionary<string, string>(StringComparer.Ordinal)");
            writer.OpenBrace();
            foreach (var annotation in requirements.Annotations)
            {
                writer.WriteLine($"[{CSharp.Literal(annotation.Key)}] = {CSharp.Literal(annotation.Value)},");
            }

            writer.CloseBrace(",");
        }

        writer.CloseBrace(";");
        writer.WriteLine();
    }
}
