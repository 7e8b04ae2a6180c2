namespace PolicyCompiler.Runtime.Admission;

/// <summary>Kyverno's wording for what users see, so that runbooks and tools written for Kyverno keep working.</summary>
public static class KyvernoMessages
{
    /// <summary>
    /// The message of a blocked review, byte for byte as Kyverno's <c>GetBlockedMessages</c> (pkg/webhooks/utils/block.go)
    /// writes it: two line breaks, <c>resource Kind/namespace/name was blocked due to the following policies </c> (with its
    /// trailing space; the namespace is empty for cluster-scoped objects), two line breaks, then the failures as yaml.v2
    /// prints a policy → rule → message map (<see cref="GoYamlV2"/>), which ends with a line break.
    /// </summary>
    public static string Blocked(string kind, string @namespace, string name, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> failures) =>
        $"\n\nresource {kind}/{@namespace}/{name} was blocked due to the following policies \n\n" + GoYamlV2.MarshalMapOfMaps(failures);
}
