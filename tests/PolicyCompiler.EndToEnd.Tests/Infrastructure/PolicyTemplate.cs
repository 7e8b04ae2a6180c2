using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Policies for the webhook under test, written at test time because they hold the key generated for the
/// run. The shape is the first sample of Kyverno's verifyImages page (ClusterPolicy, Enforce, one rule
/// matching Pods, one attestor set of count 1 with one public key).
/// </summary>
public static class PolicyTemplate
{
    public static string CheckImage(string policyName, string ruleName, IReadOnlyList<string> imageReferences, string publicKeyPem, int webhookTimeoutSeconds = 30, bool ignoreTlog = false, string failurePolicy = "Fail")
    {
        ArgumentNullException.ThrowIfNull(imageReferences);
        ArgumentNullException.ThrowIfNull(publicKeyPem);
        var yaml = new StringBuilder();
        yaml.Append($"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: {policyName}
            spec:
              validationFailureAction: Enforce
              background: false
              webhookTimeoutSeconds: {webhookTimeoutSeconds}
              failurePolicy: {failurePolicy}
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
            yaml.Append("        - \"").Append(reference).Append("\"\n");
        }

        yaml.Append("""
                    attestors:
                    - count: 1
                      entries:
                      - keys:
                          publicKeys: |-

            """);
        foreach (var line in publicKeyPem.Trim().Split('\n'))
        {
            yaml.Append(' ', 16).Append(line.TrimEnd('\r')).Append('\n');
        }

        // Without a rekor block Kyverno (and PolicyCompiler) require a transparency log entry.
        if (ignoreTlog)
        {
            yaml.Append(' ', 14).Append("rekor:\n").Append(' ', 16).Append("ignoreTlog: true\n");
        }

        return yaml.ToString();
    }

    /// <summary>Writes <paramref name="yaml"/> as <c>&lt;directory&gt;/&lt;name&gt;.yaml</c> and returns the path.</summary>
    public static string Write(string directory, string name, string yaml)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name + ".yaml");
        File.WriteAllText(path, yaml, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        return path;
    }
}
