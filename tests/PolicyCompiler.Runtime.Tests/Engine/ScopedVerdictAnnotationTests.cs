using System.Text.Json;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Tests.Engine;

/// <summary>
/// The value of Kyverno 1.19's <c>kyverno.io/verify-images-scoped</c> annotation, as Kyverno's
/// <c>pkg/engine/api/imageverifymetadata.go</c> shapes it: version 1, then policy (<c>namespace/name</c>), rule and image.
/// </summary>
public sealed class ScopedVerdictAnnotationTests
{
    [Fact]
    public void Cluster_policies_are_keyed_with_an_empty_namespace_and_namespaced_ones_with_theirs()
    {
        var value = AdmissionEngine.ScopedVerdictAnnotation(
        [
            new(null, "check-image", "check-image", "ghcr.io/kyverno/test-verify-image:signed@sha256:aa", "pass"),
            new("team-a", "verify-team-images", "verify-images", "registry.example/team-a/app:1@sha256:bb", "pass"),
        ]);

        Assert.Equal(
            """{"version":1,"policies":{"/check-image":{"check-image":{"ghcr.io/kyverno/test-verify-image:signed@sha256:aa":"pass"}},"team-a/verify-team-images":{"verify-images":{"registry.example/team-a/app:1@sha256:bb":"pass"}}}}""",
            value);
    }

    [Fact]
    public void Rules_and_images_of_one_policy_are_grouped_and_sorted_as_Go_sorts_map_keys()
    {
        var value = AdmissionEngine.ScopedVerdictAnnotation(
        [
            new(null, "p", "z-rule", "b.example/x:1@sha256:02", "pass"),
            new(null, "p", "autogen-a-rule", "b.example/x:1@sha256:02", "pass"),
            new(null, "p", "z-rule", "a.example/y:1@sha256:01", "pass"),
            // The same image verified twice by one rule (two containers) is one entry.
            new(null, "p", "z-rule", "a.example/y:1@sha256:01", "pass"),
        ]);

        using var document = JsonDocument.Parse(value);
        var rules = document.RootElement.GetProperty("policies").GetProperty("/p");
        Assert.Equal(["autogen-a-rule", "z-rule"], rules.EnumerateObject().Select(r => r.Name));
        Assert.Equal(["a.example/y:1@sha256:01", "b.example/x:1@sha256:02"], rules.GetProperty("z-rule").EnumerateObject().Select(i => i.Name));
        Assert.Equal(1, document.RootElement.GetProperty("version").GetInt32());
    }

    [Fact]
    public void No_verdicts_still_name_the_version()
    {
        Assert.Equal("""{"version":1,"policies":{}}""", AdmissionEngine.ScopedVerdictAnnotation([]));
    }
}
