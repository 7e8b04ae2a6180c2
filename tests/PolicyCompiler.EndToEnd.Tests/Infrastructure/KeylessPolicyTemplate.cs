using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>The keyless attestor of a test policy: Kyverno's <c>keyless</c> fields, null when absent.</summary>
public sealed record KeylessAttestor
{
    public string? Subject { get; init; }

    public string? SubjectRegExp { get; init; }

    public string? Issuer { get; init; }

    public string? IssuerRegExp { get; init; }

    /// <summary>Extension names (githubWorkflowTrigger, …) or OIDs, and the value each must have.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> AdditionalExtensions { get; init; } = [];

    /// <summary>PEM certificates of the private Fulcio (<c>roots</c>).</summary>
    public required string RootsPem { get; init; }

    /// <summary><c>rekor.url</c>.</summary>
    public required string RekorUrl { get; init; }

    /// <summary><c>rekor.pubkey</c>.</summary>
    public required string RekorPublicKeyPem { get; init; }

    /// <summary><c>ctlog.pubkey</c>.</summary>
    public required string CtLogPublicKeyPem { get; init; }
}

/// <summary>
/// Policies with one keyless attestor, in the shape of the keyless sample of Kyverno's verifyImages page, with the
/// trust material of a private Sigstore deployment (<c>roots</c>, <c>rekor.url</c>/<c>rekor.pubkey</c>,
/// <c>ctlog.pubkey</c>).
/// </summary>
public static class KeylessPolicyTemplate
{
    public static string Create(string policyName, string ruleName, IReadOnlyList<string> imageReferences, KeylessAttestor attestor)
    {
        ArgumentNullException.ThrowIfNull(imageReferences);
        ArgumentNullException.ThrowIfNull(attestor);
        var yaml = new StringBuilder();
        yaml.Append($"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: {policyName}
            spec:
              validationFailureAction: Enforce
              background: false
              webhookTimeoutSeconds: 30
              failurePolicy: Fail
              rules:
                - name: {ruleName}
                  match:
                    any:
                    - resources:
                        kinds:
                          - Pod
                  verifyImages:
                  - imageReferences:

            """);
        foreach (var reference in imageReferences)
        {
            yaml.Append("        - ").Append(DoubleQuoted(reference)).Append('\n');
        }

        yaml.Append("        attestors:\n");
        yaml.Append("        - entries:\n");
        yaml.Append("          - keyless:\n");
        const int field = 14;
        Scalar(yaml, field, "subject", attestor.Subject, DoubleQuoted);
        Scalar(yaml, field, "subjectRegExp", attestor.SubjectRegExp, SingleQuoted);
        Scalar(yaml, field, "issuer", attestor.Issuer, DoubleQuoted);
        Scalar(yaml, field, "issuerRegExp", attestor.IssuerRegExp, SingleQuoted);
        if (attestor.AdditionalExtensions.Count > 0)
        {
            yaml.Append(' ', field).Append("additionalExtensions:\n");
            foreach (var (name, value) in attestor.AdditionalExtensions)
            {
                yaml.Append(' ', field + 2).Append(DoubleQuoted(name)).Append(": ").Append(DoubleQuoted(value)).Append('\n');
            }
        }

        Block(yaml, field, "roots", attestor.RootsPem);
        yaml.Append(' ', field).Append("rekor:\n");
        yaml.Append(' ', field + 2).Append("url: ").Append(DoubleQuoted(attestor.RekorUrl)).Append('\n');
        Block(yaml, field + 2, "pubkey", attestor.RekorPublicKeyPem);
        yaml.Append(' ', field).Append("ctlog:\n");
        Block(yaml, field + 2, "pubkey", attestor.CtLogPublicKeyPem);
        return yaml.ToString();
    }

    private static void Scalar(StringBuilder yaml, int indent, string name, string? value, Func<string, string> quote)
    {
        if (value is not null)
        {
            yaml.Append(' ', indent).Append(name).Append(": ").Append(quote(value)).Append('\n');
        }
    }

    /// <summary>A literal block scalar (<c>|-</c>): PEM lines verbatim, indented under the key.</summary>
    private static void Block(StringBuilder yaml, int indent, string name, string pem)
    {
        yaml.Append(' ', indent).Append(name).Append(": |-\n");
        foreach (var line in pem.Trim().Split('\n'))
        {
            yaml.Append(' ', indent + 2).Append(line.TrimEnd('\r')).Append('\n');
        }
    }

    /// <summary>YAML double quotes: backslash and quote escaped (wildcards like <c>*@…</c> need quoting).</summary>
    private static string DoubleQuoted(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    /// <summary>YAML single quotes: backslashes stay literal, which regular expressions want.</summary>
    private static string SingleQuoted(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}
