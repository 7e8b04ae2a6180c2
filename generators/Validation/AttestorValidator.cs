using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Parsing;
using PolicyCompiler.Generators.Yaml;

namespace PolicyCompiler.Generators.Validation;

/// <summary>
/// Gives attestors their meaning: Kyverno's defaults (a Rekor entry is required unless <c>ignoreTlog</c>, SCTs are
/// checked unless <c>ignoreSCT</c>), the expansion of multi-key <c>publicKeys</c> into entries, and build-time checks
/// of every key, certificate, regular expression and count.
/// </summary>
internal static class AttestorValidator
{
    public const string PublicRekorUrl = "https://rekor.sigstore.dev";

    private static readonly string[] s_hashes = ["sha224", "sha256", "sha384", "sha512"];
    private static readonly Regex s_oid = new("^[0-2](\\.[0-9]+)+$", RegexOptions.CultureInvariant);
    private static readonly Regex s_backtrackingOnly = new(@"(?<!\\)(\\[1-9]|\\k<|\(\?(=|!|<=|<!|>|\())", RegexOptions.CultureInvariant);

    private static readonly HashSet<string> s_extensionNames = new(StringComparer.Ordinal)
    {
        "issuer", "githubWorkflowTrigger", "githubWorkflowSha", "githubWorkflowName", "githubWorkflowRepository", "githubWorkflowRef",
        "otherName", "issuerV2", "buildSignerURI", "buildSignerDigest", "runnerEnvironment", "sourceRepositoryURI",
        "sourceRepositoryDigest", "sourceRepositoryRef", "sourceRepositoryIdentifier", "sourceRepositoryOwnerURI",
        "sourceRepositoryOwnerIdentifier", "buildConfigURI", "buildConfigDigest", "buildTrigger", "runInvocationURI",
        "sourceRepositoryVisibilityAtSigning",
    };

    /// <param name="notary">The set belongs to a <c>type: Notary</c> entry: certificates are a trust store, not a signer's chain.</param>
    public static AttestorSetModel? ValidateSet(AttestorSetSyntax set, string path, IReadOnlyDictionary<string, Located<string>>? inheritedAnnotations, YamlFile file, bool notary = false)
    {
        if (set.Entries.Count == 0)
        {
            file.Report(DiagnosticDescriptors.EmptyList, set.EntriesLocation ?? set.Location, path.TrimStart('.') + ".entries", "An attestor set needs at least one entry, e.g. '- keys: { publicKeys: ... }'.");
            return null;
        }

        var ok = true;
        var entries = new List<AttestorModel>();

        // Kyverno numbers entries after expanding every PEM block of a publicKeys value into an entry of its own;
        // entries with errors are counted too, so that messages name the entry the user sees.
        var next = 0;
        foreach (var attestor in set.Entries)
        {
            var models = ValidateEntry(attestor, path, next, inheritedAnnotations, file, notary, out var width);
            next += Math.Max(width, 1);
            if (models is null)
            {
                ok = false;
            }
            else
            {
                entries.AddRange(models);
            }
        }

        if (set.Count is { } count)
        {
            if (count.Value < 1)
            {
                file.Report(DiagnosticDescriptors.InvalidEnumValue, count.Location, count.Value.ToString(CultureInfo.InvariantCulture), "count", "a whole number of at least 1");
                ok = false;
            }
            else if (ok && count.Value > entries.Count)
            {
                file.Report(DiagnosticDescriptors.CountExceedsEntries, count.Location, count.Value.ToString(CultureInfo.InvariantCulture), entries.Count.ToString(CultureInfo.InvariantCulture), entries.Count == 1 ? "y" : "ies");
                ok = false;
            }
        }

        return ok ? new AttestorSetModel(path, set.Count?.Value, entries.ToEquatableArray()) : null;
    }

    private static List<AttestorModel>? ValidateEntry(AttestorSyntax attestor, string setPath, int index, IReadOnlyDictionary<string, Located<string>>? inheritedAnnotations, YamlFile file, bool notary, out int width)
    {
        width = 1;
        var entryPath = $"{setPath}.entries[{index.ToString(CultureInfo.InvariantCulture)}]";
        if (attestor.KindCount != 1)
        {
            // keys with kms/secret has its PC0099 already.
            if (attestor.KindCount > 1 || !(attestor.Keys?.IsOtherKeySource ?? false))
            {
                file.Report(DiagnosticDescriptors.AttestorKind, attestor.Location, attestor.KindCount == 0 ? "none of them" : "several");
            }

            return null;
        }

        var ok = true;
        if (attestor.Repository is { } repository && !PolicyValidator.IsRepositoryName(repository.Value))
        {
            file.Report(DiagnosticDescriptors.InvalidName, repository.Location, repository.Value, "signature repository", "write a repository without tag or digest, e.g. registry.io/signatures");
            ok = false;
        }

        ValidateEntryHash(attestor, file, ref ok);

        var annotations = (attestor.Annotations ?? inheritedAnnotations ?? new Dictionary<string, Located<string>>())
            .OrderBy(a => a.Key, StringComparer.Ordinal)
            .Select(a => new KeyValueModel(a.Key, a.Value.Value))
            .ToEquatableArray();

        if (attestor.Nested is { } nested)
        {
            var set = ValidateSet(nested, entryPath + ".attestor", inheritedAnnotations, file, notary);
            return ok && set is not null
                ? [new AttestorModel(entryPath + ".attestor", null, null, null, set, new RequirementsModel(annotations, new TransparencyLogModel(true, null, null)), attestor.Repository?.Value)]
                : null;
        }

        if (attestor.Keys is { } keys)
        {
            var secret = SecretReference(keys, file, ref ok);
            if (!ok)
            {
                return null;
            }

            var keysTsa = ValidateTsaChain(keys.CtLog, file, ref ok);
            var kms = KmsReference(keys, secret is not null, file, ref ok);
            if (!ok)
            {
                return null;
            }

            // Every kind of key substitutes its log the same way; a key read at admission (Secret, KMS, publicKeys with
            // variables) is read once its log is substituted, with the requirements that gave.
            var keyLogTemplates = LogTemplates(keys.Rekor, keys.CtLog);
            if (kms is not null)
            {
                var kmsTlog = ValidateRekor(keys.Rekor, file);
                var hash = ValidateHash(keys.SignatureAlgorithm, file, ref ok);
                return ok && kmsTlog is not null
                    ? [new AttestorModel(entryPath + ".keys", null, null, null, null, new RequirementsModel(annotations, kmsTlog) { TsaChain = keysTsa }, attestor.Repository?.Value) { KmsKey = new KmsKeyModel(kms, hash), LogTemplates = keyLogTemplates }]
                    : null;
            }

            if (secret is not null)
            {
                var secretTlog = ValidateRekor(keys.Rekor, file);
                var hash = ValidateHash(keys.SignatureAlgorithm, file, ref ok);
                return ok && secretTlog is not null
                    ? [new AttestorModel(entryPath + ".keys", null, null, null, null, new RequirementsModel(annotations, secretTlog) { TsaChain = keysTsa }, attestor.Repository?.Value) { SecretKey = secret with { Hash = hash }, LogTemplates = keyLogTemplates }]
                    : null;
            }

            if (keys.PublicKeysTemplate is { } template)
            {
                // The PEM is known at admission only: the runtime parses it there, and a bad key fails this attestor.
                var variableTlog = ValidateRekor(keys.Rekor, file);
                var variableHash = ValidateHash(keys.SignatureAlgorithm, file, ref ok);
                return ok && variableTlog is not null
                    ? [new AttestorModel(entryPath + ".keys", null, null, null, null, new RequirementsModel(annotations, variableTlog) { TsaChain = keysTsa }, attestor.Repository?.Value) { VariableKey = new VariableKeyModel(template, keys.PublicKeysText!, variableHash) { ReadsRequest = ConditionParser.ReadsRequest(template) }, LogTemplates = keyLogTemplates }]
                    : null;
            }

            if (keys.PublicKeys is not { } publicKeys)
            {
                if (!keys.IsOtherKeySource)
                {
                    file.Report(DiagnosticDescriptors.MissingField, keys.Location, "keys", "publicKeys", "publicKeys: |- followed by a PEM public key");
                }

                return null;
            }

            var tlog = ValidateRekor(keys.Rekor, file);
            var requirements = tlog is null ? null : new RequirementsModel(annotations, tlog) { TsaChain = keysTsa };
            var expanded = ValidateKeys(publicKeys, keys.SignatureAlgorithm, setPath, index, file, out width);
            if (!ok || expanded is null || requirements is null)
            {
                return null;
            }

            return expanded.Select((key, i) => new AttestorModel($"{setPath}.entries[{(index + i).ToString(CultureInfo.InvariantCulture)}].keys", key, null, null, null, requirements, attestor.Repository?.Value) { LogTemplates = keyLogTemplates }).ToList();
        }

        if (attestor.Certificates is { } certificates)
        {
            var tlog = ValidateRekor(certificates.Rekor, file);
            var certificatesTsa = ValidateTsaChain(certificates.CtLog, file, ref ok);
            var model = notary ? ValidateTrustStore(certificates, file) : ValidateCertificates(certificates, file);
            return ok && tlog is not null && model is not null
                ? [new AttestorModel(entryPath + ".certificates", null, model, null, null, new RequirementsModel(annotations, tlog) { TsaChain = certificatesTsa }, attestor.Repository?.Value) { LogTemplates = LogTemplates(certificates.Rekor, certificates.CtLog) }]
                : null;
        }

        var keyless = attestor.Keyless!;
        var keylessTlog = ValidateRekor(keyless.Rekor, file);
        var keylessModel = ValidateKeyless(keyless, file);
        var keylessTsa = ValidateTsaChain(keyless.CtLog, file, ref ok);
        return ok && keylessTlog is not null && keylessModel is not null
            ? [new AttestorModel(entryPath + ".keyless", null, null, keylessModel, null, new RequirementsModel(annotations, keylessTlog) { TsaChain = keylessTsa }, attestor.Repository?.Value) { LogTemplates = LogTemplates(keyless.Rekor, keyless.CtLog) }]
            : null;
    }

    /// <summary>
    /// <c>ctlog.tsaCertChain</c>: the timestamp authority's root, any intermediates, and optionally its leaf (otherwise
    /// the leaf embedded in each timestamp must chain to them). Empty when absent: the trusted root's authorities apply.
    /// </summary>
    private static EquatableArray<CertificateModel> ValidateTsaChain(CtLogSyntax? ctlog, YamlFile file, ref bool ok)
    {
        if (ctlog?.HasTemplateError == true)
        {
            ok = false;
        }

        // A chain with variables is PEM known at admission only; text that is not certificates then fails the attestor.
        if (ctlog?.TsaCertChain is not { } chainText || ctlog.Templates.ContainsKey("ctlog.tsaCertChain"))
        {
            return EquatableArray<CertificateModel>.Empty;
        }

        var parsed = CertificateReader.ReadAll(chainText.Value, out var error);
        var chainError = parsed is null ? error : CertificateReader.CheckChain(parsed, null);
        if (parsed is null || chainError is not null)
        {
            file.Report(DiagnosticDescriptors.InvalidCertificate, chainText.Location, "ctlog.tsaCertChain", chainError!);
            ok = false;
            return EquatableArray<CertificateModel>.Empty;
        }

        return parsed.Select(ToModel).ToEquatableArray();
    }

    /// <summary>Kyverno's default, without a <c>rekor</c> block, is the public Rekor with the log required.</summary>
    public static TransparencyLogModel? ValidateRekor(RekorSyntax? rekor, YamlFile file)
    {
        if (rekor is null)
        {
            return new TransparencyLogModel(false, null, null);
        }

        if (rekor.HasTemplateError)
        {
            return null;
        }

        if (rekor.IgnoreTlog?.Value == true)
        {
            return new TransparencyLogModel(true, null, null);
        }

        var urlTemplated = rekor.Templates.ContainsKey("rekor.url");
        var url = urlTemplated ? null : rekor.Url?.Value.TrimEnd('/');
        if (rekor.Templates.Count > 0)
        {
            // Checked at admission once substituted: the key is parsed, the URL must be http(s), and a URL other than the
            // public Rekor still needs a key, so a literal key and URL are checked here and the rest is left to the runtime.
            var literalKey = rekor.PubKey is { } literalPem && !rekor.Templates.ContainsKey("rekor.pubkey") ? SinglePublicKey(literalPem, "rekor.pubkey", file) : null;
            if (url is not null && !(Uri.TryCreate(url, UriKind.Absolute, out var literalUri) && (literalUri.Scheme == "https" || literalUri.Scheme == "http")))
            {
                file.Report(DiagnosticDescriptors.InvalidName, rekor.Url!.Location, rekor.Url.Value, "Rekor URL", "write an absolute http(s) URL such as https://rekor.sigstore.dev");
                return null;
            }

            if (url is not null && rekor.PubKey is null && !string.Equals(url, PublicRekorUrl, StringComparison.OrdinalIgnoreCase))
            {
                file.Report(DiagnosticDescriptors.PrivateRekorWithoutKey, rekor.Url!.Location, url);
                return null;
            }

            return rekor.PubKey is not null && !rekor.Templates.ContainsKey("rekor.pubkey") && literalKey is null
                ? null
                : new TransparencyLogModel(false, url, literalKey) { Substituted = true };
        }

        if (url is not null && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == "https" || uri.Scheme == "http")))
        {
            file.Report(DiagnosticDescriptors.InvalidName, rekor.Url!.Location, rekor.Url.Value, "Rekor URL", "write an absolute http(s) URL such as https://rekor.sigstore.dev");
            return null;
        }

        if (rekor.PubKey is { } pubkey)
        {
            var key = SinglePublicKey(pubkey, "rekor.pubkey", file);
            return key is null ? null : new TransparencyLogModel(false, url ?? string.Empty, key);
        }

        if (url is not null && !string.Equals(url, PublicRekorUrl, StringComparison.OrdinalIgnoreCase))
        {
            file.Report(DiagnosticDescriptors.PrivateRekorWithoutKey, rekor.Url!.Location, url);
            return null;
        }

        return new TransparencyLogModel(false, null, null);
    }

    private static CtLogModel? ValidateCtLog(CtLogSyntax? ctlog, YamlFile file)
    {
        if (ctlog is null)
        {
            return new CtLogModel(false, null);
        }

        if (ctlog.HasTemplateError)
        {
            return null;
        }

        if (ctlog.IgnoreSct?.Value == true)
        {
            return new CtLogModel(true, null);
        }

        // A key with variables is substituted at admission (see AttestorModel.LogTemplates) and parsed there.
        if (ctlog.PubKey is { } pubkey && !ctlog.Templates.ContainsKey("ctlog.pubkey"))
        {
            var key = SinglePublicKey(pubkey, "ctlog.pubkey", file);
            return key is null ? null : new CtLogModel(false, key);
        }

        return new CtLogModel(false, null);
    }

    /// <summary>
    /// The certificates of a Notary entry's attestor. Kyverno joins <c>cert</c> and <c>certChain</c> and loads every PEM
    /// block of both into Notation's CA trust store, which trusts a signature when any certificate of its chain is one of
    /// them: so each field may hold several certificates, and they need not form a chain among themselves.
    /// </summary>
    private static CertificatesModel? ValidateTrustStore(CertificatesSyntax certificates, YamlFile file)
    {
        if (certificates.Cert is null && certificates.CertChain is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, certificates.Location, "certificates", "cert or certChain", "cert: |- followed by the PEM root or CA certificates to trust");
            return null;
        }

        if (certificates.HasTemplateError)
        {
            return null;
        }

        var trusted = new List<CheckedCertificate>();
        foreach (var (name, field) in new[] { ("cert", certificates.Cert), ("certChain", certificates.CertChain) })
        {
            if (field is null || certificates.Templates.ContainsKey(name))
            {
                continue;
            }

            var parsed = CertificateReader.ReadAll(field.Value, out var error);
            if (parsed is null)
            {
                file.Report(DiagnosticDescriptors.InvalidCertificate, field.Location, "certificates." + name, error!);
                return null;
            }

            trusted.AddRange(parsed);
        }

        return new CertificatesModel(null, trusted.Select(ToModel).ToEquatableArray(), "sha256", new CtLogModel(true, null))
        {
            Templates = Templates(certificates.Templates, [("cert", certificates.Cert), ("certChain", certificates.CertChain)]),
            IsTrustStore = true,
        };
    }

    private static CertificatesModel? ValidateCertificates(CertificatesSyntax certificates, YamlFile file)
    {
        if (certificates.Cert is null && certificates.CertChain is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, certificates.Location, "certificates", "cert or certChain", "certChain: |- followed by the PEM CA certificates");
            return null;
        }

        if (certificates.HasTemplateError)
        {
            return null;
        }

        CheckedCertificate? leaf = null;
        if (certificates.Cert is { } cert && !certificates.Templates.ContainsKey("cert"))
        {
            var parsed = CertificateReader.ReadAll(cert.Value, out var error);
            if (parsed is null || parsed.Count != 1)
            {
                file.Report(DiagnosticDescriptors.InvalidCertificate, cert.Location, "certificates.cert", error ?? "give exactly one certificate");
                return null;
            }

            leaf = parsed[0];
        }

        var chain = new List<CheckedCertificate>();
        if (certificates.CertChain is { } chainText && !certificates.Templates.ContainsKey("certChain"))
        {
            var parsed = CertificateReader.ReadAll(chainText.Value, out var error);
            var chainError = parsed is null ? error : CertificateReader.CheckChain(parsed, leaf);
            if (parsed is null || chainError is not null)
            {
                file.Report(DiagnosticDescriptors.InvalidCertificate, chainText.Location, "certificates.certChain", chainError!);
                return null;
            }

            chain = parsed;
        }

        // Kyverno leaves cosign's IgnoreSCT false unless ctlog says otherwise; a chain makes cosign validate the signing
        // certificate and its SCT, while a bare cert only becomes a key verifier and its extensions are never read.
        // A chain with variables is known at admission only: ctlog is read here and set aside there if the chain is empty.
        var chainTemplated = certificates.Templates.ContainsKey("certChain");
        var ctlog = chain.Count == 0 && !chainTemplated ? new CtLogModel(true, null) : ValidateCtLog(certificates.CtLog, file);
        return ctlog is null
            ? null
            : new CertificatesModel(leaf is null ? null : ToModel(leaf), chain.Select(ToModel).ToEquatableArray(), "sha256", ctlog)
            {
                Templates = Templates(certificates.Templates, [("cert", certificates.Cert), ("certChain", certificates.CertChain)]),
            };
    }

    private static KeylessModel? ValidateKeyless(KeylessSyntax keyless, YamlFile file)
    {
        var ok = !keyless.HasTemplateError;
        if (keyless.Subject is null && keyless.SubjectRegExp is null && keyless.Issuer is null && keyless.IssuerRegExp is null && (keyless.AdditionalExtensions?.Count ?? 0) == 0)
        {
            file.Report(DiagnosticDescriptors.KeylessWithoutIdentity, keyless.Location);
            ok = false;
        }

        foreach (var regex in new[] { keyless.SubjectRegExp, keyless.IssuerRegExp })
        {
            // A regex with variables is known at admission only; one that does not compile then fails its attestor.
            if (regex is null || regex.Value.Contains("{{"))
            {
                continue;
            }

            try
            {
                _ = new Regex(regex.Value, RegexOptions.CultureInvariant);
                if (s_backtrackingOnly.Match(regex.Value) is { Success: true } construct)
                {
                    // The runtime matches in linear time (NonBacktracking, like Go's RE2 that Kyverno uses), so an
                    // attacker-chosen subject can never stall admission; these constructs need backtracking.
                    file.Report(DiagnosticDescriptors.InvalidRegex, regex.Location, regex.Value, $"'{construct.Value}' (backreferences, lookarounds, atomic groups and conditionals) is not supported by RE2-style matching");
                    ok = false;
                }
            }
            catch (ArgumentException e)
            {
                file.Report(DiagnosticDescriptors.InvalidRegex, regex.Location, regex.Value, e.Message);
                ok = false;
            }
        }

        var extensions = new List<KeyValueModel>();
        foreach (var pair in keyless.AdditionalExtensions ?? new Dictionary<string, Located<string>>())
        {
            if (!s_extensionNames.Contains(pair.Key) && !s_oid.IsMatch(pair.Key))
            {
                file.Report(DiagnosticDescriptors.InvalidEnumValue, keyless.ExtensionKeyLocations.TryGetValue(pair.Key, out var location) ? location : pair.Value.Location, pair.Key, "additionalExtensions", "a Fulcio extension name (githubWorkflowTrigger, githubWorkflowSha, githubWorkflowName, githubWorkflowRepository, githubWorkflowRef, buildSignerURI, sourceRepositoryURI, ...) or an OID");
                ok = false;
            }
            else if (!pair.Value.Value.Contains("{{"))
            {
                extensions.Add(new KeyValueModel(pair.Key, pair.Value.Value));
            }
        }

        var roots = new List<CheckedCertificate>();
        // Roots with variables are PEM known at admission only; text that is not certificates then fails the attestor.
        if (keyless.Roots is { } rootsText && !rootsText.Value.Contains("{{"))
        {
            var parsed = CertificateReader.ReadAll(rootsText.Value, out var error);
            var chainError = parsed is null ? error : CertificateReader.CheckChain(parsed, null);
            if (parsed is null || chainError is not null)
            {
                file.Report(DiagnosticDescriptors.InvalidCertificate, rootsText.Location, "keyless.roots", chainError!);
                ok = false;
            }
            else
            {
                roots = parsed;
            }
        }

        var ctlog = ValidateCtLog(keyless.CtLog, file);
        return ok && ctlog is not null
            ? new KeylessModel(
                Literal(keyless.Subject),
                Literal(keyless.SubjectRegExp),
                Literal(keyless.Issuer),
                Literal(keyless.IssuerRegExp),
                roots.Select(ToModel).ToEquatableArray(),
                extensions.OrderBy(e => e.Key, StringComparer.Ordinal).ToEquatableArray(),
                ctlog)
            {
                Templates = Templates(keyless.Templates, [
                    ("subject", keyless.Subject), ("subjectRegExp", keyless.SubjectRegExp), ("issuer", keyless.Issuer), ("issuerRegExp", keyless.IssuerRegExp), ("roots", keyless.Roots),
                    .. (keyless.AdditionalExtensions ?? []).OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => (KeylessModel.ExtensionField + e.Key, (Located<string>?)e.Value)),
                ]),
            }
            : null;

        static string? Literal(Located<string>? value) => value is null || value.Value.Contains("{{") ? null : value.Value;
    }

    /// <summary>The <c>rekor</c> and <c>ctlog</c> fields written with variables, in a fixed order.</summary>
    private static EquatableArray<TemplateFieldModel> LogTemplates(RekorSyntax? rekor, CtLogSyntax? ctlog)
    {
        var templates = new Dictionary<string, Conditions.KyvernoTemplate>(StringComparer.Ordinal);
        foreach (var pair in (rekor?.Templates ?? []).Concat(ctlog?.Templates ?? []))
        {
            templates[pair.Key] = pair.Value;
        }

        return Templates(templates, [("rekor.url", rekor?.Url), ("rekor.pubkey", rekor?.PubKey), ("ctlog.pubkey", ctlog?.PubKey), ("ctlog.tsaCertChain", ctlog?.TsaCertChain)]);
    }

    /// <summary>The fields written with variables, in the given order, each with its text as written.</summary>
    private static EquatableArray<TemplateFieldModel> Templates(Dictionary<string, Conditions.KyvernoTemplate> templates, (string Field, Located<string>? Value)[] order) =>
        order.Where(f => templates.ContainsKey(f.Field))
            .Select(f => new TemplateFieldModel(f.Field, templates[f.Field], f.Value!.Value, ConditionParser.ReadsRequest(templates[f.Field])))
            .ToEquatableArray();

    private static PublicKeyModel? SinglePublicKey(Located<string> pem, string field, YamlFile file)
    {
        var blocks = PublicKeyReader.SplitPem(pem.Value, out var splitError);
        if (splitError is not null || blocks.Count != 1)
        {
            file.Report(DiagnosticDescriptors.InvalidPublicKey, pem.Location, $"in {field}", splitError ?? "give exactly one PEM public key");
            return null;
        }

        var key = PublicKeyReader.Check(blocks[0], out var error);
        if (key is null)
        {
            file.Report(DiagnosticDescriptors.InvalidPublicKey, pem.Location, $"in {field}", error!);
            return null;
        }

        return ToModel(key, "sha256");
    }

    /// <summary>
    /// The KMS key reference of <c>keys.kms</c>, or of a KMS URI written in <c>publicKeys</c> (cosign reads both as a
    /// key reference), its grammar checked as cosign's providers check it. Null when the key is not in a KMS (or the
    /// reference is wrong, reported and <paramref name="ok"/> false).
    /// </summary>
    private static string? KmsReference(KeysSyntax keys, bool hasSecret, YamlFile file, ref bool ok)
    {
        Located<string>? reference = null;
        if (keys.Kms is { } kms)
        {
            var hasPublicKeys = keys.PublicKeys is not null || keys.PublicKeysTemplate is not null;
            if (hasPublicKeys || hasSecret)
            {
                file.Report(DiagnosticDescriptors.AttestorKind, kms.Location, hasPublicKeys ? "both publicKeys and kms" : "both secret and kms");
                ok = false;
                return null;
            }

            reference = kms;
        }
        else if (keys.PublicKeys is { } publicKeys && Runtime.Cloud.KmsKeyReference.IsKmsScheme(publicKeys.Value.Trim()))
        {
            reference = publicKeys;
        }

        if (reference is null)
        {
            return null;
        }

        var text = reference.Value.Trim();
        if (Runtime.Cloud.KmsKeyReference.Parse(text, out var error) is null)
        {
            file.Report(DiagnosticDescriptors.InvalidName, reference.Location, text, "KMS key reference", error!);
            ok = false;
            return null;
        }

        return text;
    }

    /// <summary>
    /// The Secret a key is read from: <c>secret: {name, namespace}</c>, or cosign's <c>k8s://namespace/name</c> written in
    /// <c>publicKeys</c>. Null when the key is static (or the reference is wrong, reported and <paramref name="ok"/> false).
    /// </summary>
    private static SecretKeyModel? SecretReference(KeysSyntax keys, YamlFile file, ref bool ok)
    {
        const string Scheme = "k8s://";
        if (keys.SecretLocation is { } location)
        {
            if (keys.PublicKeys is not null)
            {
                file.Report(DiagnosticDescriptors.AttestorKind, location, "both publicKeys and secret");
                ok = false;
                return null;
            }

            if (keys.SecretName is not { Value.Length: > 0 } name || keys.SecretNamespace is not { Value.Length: > 0 } ns)
            {
                file.Report(DiagnosticDescriptors.MissingField, location, "keys.secret", keys.SecretName is null or { Value.Length: 0 } ? "name" : "namespace", "secret: { name: cosign-public-key, namespace: kyverno }");
                ok = false;
                return null;
            }

            return new SecretKeyModel(ns.Value, name.Value, "sha256");
        }

        if (keys.PublicKeys is { } publicKeys && publicKeys.Value.Trim() is var text && text.StartsWith(Scheme, StringComparison.Ordinal))
        {
            var parts = text.Substring(Scheme.Length).Split('/');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            {
                file.Report(DiagnosticDescriptors.InvalidName, publicKeys.Location, text, "Secret reference", "write k8s://<namespace>/<name> of a Secret holding cosign.pub");
                ok = false;
                return null;
            }

            return new SecretKeyModel(parts[0], parts[1], "sha256");
        }

        return null;
    }

    /// <summary>
    /// An entry's own <c>signatureAlgorithm</c>. Kyverno copies it into its verifier options and then, for a
    /// <c>keys</c> entry, overwrites it with <c>keys.signatureAlgorithm</c> (which the API server defaults to sha256);
    /// certificates and keyless keys are loaded with SHA-256 whatever it says. So it never changes a verdict: it is
    /// accepted with no effect, and refused only where it contradicts the algorithm a keys entry is verified with,
    /// since the policy would then say one thing and Kyverno (and this build) do another.
    /// </summary>
    private static void ValidateEntryHash(AttestorSyntax attestor, YamlFile file, ref bool ok)
    {
        if (attestor.SignatureAlgorithm is not { } entryHash)
        {
            return;
        }

        if (Array.IndexOf(s_hashes, entryHash.Value) < 0)
        {
            file.Report(DiagnosticDescriptors.InvalidEnumValue, entryHash.Location, entryHash.Value, "signatureAlgorithm", string.Join(", ", s_hashes));
            ok = false;
            return;
        }

        var keysHash = attestor.Keys?.SignatureAlgorithm?.Value ?? "sha256";
        if (attestor.Keys is not null && Array.IndexOf(s_hashes, keysHash) >= 0 && !string.Equals(keysHash, entryHash.Value, StringComparison.Ordinal))
        {
            var used = attestor.Keys.SignatureAlgorithm is null ? "keys without signatureAlgorithm (sha256)" : $"keys.signatureAlgorithm: {keysHash}";
            file.Report(
                DiagnosticDescriptors.ConflictingSettings,
                entryHash.Location,
                $"signatureAlgorithm: {entryHash.Value}",
                used,
                $"Kyverno verifies a keys entry with keys.signatureAlgorithm and ignores the entry's own; write signatureAlgorithm: {entryHash.Value} under keys");
            ok = false;
        }
    }

    private static string ValidateHash(Located<string>? signatureAlgorithm, YamlFile file, ref bool ok)
    {
        if (signatureAlgorithm is not { } algorithm)
        {
            return "sha256";
        }

        if (Array.IndexOf(s_hashes, algorithm.Value) < 0)
        {
            file.Report(DiagnosticDescriptors.InvalidEnumValue, algorithm.Location, algorithm.Value, "signatureAlgorithm", string.Join(", ", s_hashes));
            ok = false;
            return "sha256";
        }

        return algorithm.Value;
    }

    public static List<PublicKeyModel>? ValidateKeys(Located<string> publicKeys, Located<string>? signatureAlgorithm, string setPath, int firstIndex, YamlFile file, out int blockCount)
    {
        blockCount = 0;
        var ok = true;
        var hash = ValidateHash(signatureAlgorithm, file, ref ok);

        var blocks = PublicKeyReader.SplitPem(publicKeys.Value, out var splitError);
        blockCount = blocks.Count;
        if (splitError is not null || blocks.Count == 0)
        {
            file.Report(DiagnosticDescriptors.InvalidPublicKey, publicKeys.Location, $"at {setPath}", splitError ?? "no PEM block was found");
            return null;
        }

        var result = new List<PublicKeyModel>();
        for (var i = 0; i < blocks.Count; i++)
        {
            var block = blocks[i];
            var index = (firstIndex + i).ToString(CultureInfo.InvariantCulture);
            var key = PublicKeyReader.Check(block, out var error);
            if (key is null)
            {
                file.Report(DiagnosticDescriptors.InvalidPublicKey, PolicyValidator.LocateBlock(publicKeys, block, file), $"#{(i + 1).ToString(CultureInfo.InvariantCulture)} at {setPath}.entries[{index}]", error!);
                ok = false;
                continue;
            }

            result.Add(ToModel(key, hash));
        }

        return ok ? result : null;
    }

    private static PublicKeyModel ToModel(CheckedKey key, string hash) =>
        new(key.Algorithm, Convert.ToBase64String(key.SubjectPublicKeyInfo), hash, PublicKeyReader.Fingerprint(key.SubjectPublicKeyInfo));

    private static CertificateModel ToModel(CheckedCertificate certificate) =>
        new(Convert.ToBase64String(certificate.Der), PublicKeyReader.Fingerprint(certificate.Der));
}
