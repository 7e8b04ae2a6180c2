using System.Security.Cryptography;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Sigstore;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// The generated code compiled against the runtime and run: its definitions carry what the YAML says, and its match
/// and image predicates decide as Kyverno does.
/// </summary>
public sealed class GeneratedCodeBehaviourTests
{
    private const string ReferenceKeyPem = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
        5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
        -----END PUBLIC KEY-----
        """;

    /// <summary>The namespaced baseline policy, compiled once for the theories below.</summary>
    private static readonly Lazy<PolicyDefinition> s_teamA = new(() => Assert.Single(Load(("team-a-images.yaml", TestFiles.Read("baselines", "team-a-images.yaml")))));

    [Fact]
    public void First_reference_sample_compiles_to_its_definition()
    {
        var policy = Assert.Single(Load(("check-image.yaml", TestFiles.Read("reference-samples", "01-check-image.yaml"))));

        Assert.Equal("check-image", policy.Name);
        Assert.Null(policy.Namespace);
        Assert.Equal(FailureAction.Enforce, policy.FailureAction);
        Assert.Equal(FailurePolicy.Fail, policy.FailurePolicy);
        Assert.Equal(30, policy.WebhookTimeoutSeconds);
        Assert.Equal("check-image.yaml", policy.SourcePath);
        Assert.True(policy.AppliesToNamespace("any-namespace"));

        var rule = AuthoredRule(policy);
        Assert.Equal("check-image", rule.Name);
        var entry = Assert.Single(rule.VerifyImages);
        Assert.Equal("verifyImages[0]", entry.Path);
        Assert.True(entry.MutateDigest);
        Assert.True(entry.VerifyDigest);
        Assert.True(entry.Required);
        Assert.Null(entry.Repository);

        var set = Assert.Single(entry.Attestors);
        Assert.Equal(".attestors[0]", set.Path);
        Assert.Equal(1, set.Count);
        var attestor = Assert.IsType<PublicKeyAttestorDefinition>(Assert.Single(set.Entries));
        Assert.Equal(".attestors[0].entries[0].keys", attestor.Path);
        Assert.Equal(KeyAlgorithm.EcdsaP256, attestor.Key.Algorithm);
        Assert.Equal(HashAlgorithmName.SHA256, attestor.Key.Hash);
        Assert.Equal(VerificationKey.FromPem(ReferenceKeyPem).SubjectPublicKeyInfo.ToArray(), attestor.Key.SubjectPublicKeyInfo.ToArray());
    }

    [Fact]
    public void First_reference_sample_matches_pods_and_its_image_pattern()
    {
        var rule = AuthoredRule(Assert.Single(Load(("check-image.yaml", TestFiles.Read("reference-samples", "01-check-image.yaml")))));
        var images = Assert.Single(rule.VerifyImages);

        Assert.True(rule.Matches(Request("Pod")));
        Assert.True(rule.Matches(Request("Pod", operation: "UPDATE", @namespace: "kube-system")));
        Assert.False(rule.Matches(Request("Deployment", group: "apps")));
        Assert.False(rule.Matches(Request("Pod", subResource: "status")));

        Assert.True(images.ImageReferences("ghcr.io/kyverno/test-verify-image:signed"));
        Assert.True(images.ImageReferences("ghcr.io/kyverno/test-verify-image:unsigned"));
        Assert.True(images.ImageReferences("ghcr.io/kyverno/test-verify-image:"));
        Assert.False(images.ImageReferences("ghcr.io/kyverno/other:signed"));
        Assert.False(images.ImageReferences("ghcr.io/kyverno/test-verify-image"));
        Assert.False(images.ImageReferences("docker.io/ghcr.io/kyverno/test-verify-image:signed"));

        // Through the runtime's normalisation: an untagged reference is matched as ':latest'.
        Assert.True(images.Matches(ImageReference.Parse("ghcr.io/kyverno/test-verify-image")));
        Assert.True(images.Matches(ImageReference.Parse("ghcr.io/kyverno/test-verify-image:signed")));
        Assert.False(images.Matches(ImageReference.Parse("ghcr.io/kyverno/other:signed")));
    }

    [Fact]
    public void Namespaced_policy_carries_its_settings()
    {
        var policy = s_teamA.Value;

        Assert.Equal("verify-team-images", policy.Name);
        Assert.Equal("team-a", policy.Namespace);
        Assert.True(policy.AppliesToNamespace("team-a"));
        Assert.False(policy.AppliesToNamespace("team-b"));
        Assert.False(policy.AppliesToNamespace(null));
        Assert.Equal(FailureAction.Enforce, policy.FailureAction);
        Assert.Equal(FailurePolicy.Ignore, policy.FailurePolicy);
        Assert.Equal(15, policy.WebhookTimeoutSeconds);
        Assert.Equal(["verify-images", "debug-containers"], policy.Rules.Select(r => r.Name));

        var open = policy.Rules[0].VerifyImages[1];
        Assert.Equal("verifyImages[1]", open.Path);
        Assert.True(open.ImageReferences("quay.io/anything/at:all"));
        Assert.Empty(open.Attestors);
        Assert.False(open.MutateDigest);
        Assert.False(open.VerifyDigest);
        Assert.False(open.Required);
    }

    [Theory]
    [InlineData("Pod", "", "v1", "CREATE", "web", null, true)]
    [InlineData("Pod", "", "v1", "UPDATE", "web", null, true)]
    [InlineData("Pod", "", "v1", "DELETE", "web", null, false)] // operations: CREATE, UPDATE
    [InlineData("Deployment", "apps", "v1", "CREATE", "web", null, true)]
    [InlineData("Deployment", "extensions", "v1beta1", "CREATE", "web", null, false)] // apps/v1/Deployment names the group
    [InlineData("Job", "batch", "v1", "DELETE", "nightly-report", null, true)] // batch/*/Job with names, any operation
    [InlineData("Job", "batch", "v1", "CREATE", "weekly-report", null, false)]
    [InlineData("CronJob", "batch", "v1", "CREATE", "nightly-report", null, false)]
    [InlineData("Pod", "", "v1", "CREATE", "debug-1", null, false)] // excluded: debug-?
    [InlineData("Pod", "", "v1", "CREATE", "debug-12", null, true)] // '?' is exactly one character
    [InlineData("Pod", "", "v1", "CREATE", "web-canary", null, false)] // excluded: *-canary
    [InlineData("Pod", "", "v1", "CREATE", "web", "status", false)] // a subresource needs a selector naming it
    public void Match_and_exclude_decide_as_kyverno(string kind, string group, string version, string operation, string name, string? subResource, bool expected)
    {
        var rule = s_teamA.Value.Rules[0];

        Assert.Equal(expected, rule.Matches(Request(kind, "team-b", name, operation, group, version, subResource)));
    }

    [Fact]
    public void Exclude_filter_with_namespaces_and_operations_needs_both()
    {
        var rule = s_teamA.Value.Rules[0];

        Assert.False(rule.Matches(Request("Pod", "team-a", operation: "UPDATE")));
        Assert.True(rule.Matches(Request("Pod", "team-a", operation: "CREATE")));
        Assert.True(rule.Matches(Request("Pod", "team-b", operation: "UPDATE")));
    }

    [Theory]
    [InlineData("Pod", null, "debug-shell", true)]
    [InlineData("Pod", "ephemeralcontainers", "debug-shell", true)] // Pod/* and */* take subresources
    [InlineData("Pod", "ephemeralcontainers", "web", false)]
    [InlineData("ConfigMap", null, "debug-shell", false)] // every 'all' filter must hold
    public void Match_all_requires_every_filter(string kind, string? subResource, string name, bool expected)
    {
        var rule = s_teamA.Value.Rules[1];

        Assert.Equal(expected, rule.Matches(Request(kind, name: name, subResource: subResource)));
    }

    [Theory]
    [InlineData("docker.io/library/nginx:1.27", true)] // exact
    [InlineData("docker.io/library/nginx:1.28", false)]
    [InlineData("ghcr.io/team-a/app:1.0", true)] // prefix
    [InlineData("ghcr.io/team-ab/app:1.0", false)]
    [InlineData("quay.io/org/app:signed", true)] // suffix
    [InlineData("quay.io/org/app:signed-2", false)]
    [InlineData("registry.example.com/app:v1", true)] // prefix and suffix
    [InlineData("registry.example.com/:v1", true)] // '*' may be empty
    [InlineData("registry.example.com/app:v10", false)]
    [InlineData("quay.io/mirror/app:1", true)] // contains
    [InlineData("registry.example.com/app-x:2", true)] // '?'
    [InlineData("registry.example.com/app-xy:2", false)]
    [InlineData("ghcr.io/org/base:3", true)] // several '*'
    [InlineData("ghcr.io/org/team/base:3", true)] // '*' crosses '/'
    [InlineData("ghcr.io/base:3", false)]
    public void Image_patterns_decide_as_kyverno(string image, bool expected)
    {
        var entry = s_teamA.Value.Rules[0].VerifyImages[0];

        Assert.Equal(expected, entry.ImageReferences(image));
    }

    /// <summary>Every shape the emitter specialises must decide exactly as the general wildcard matcher.</summary>
    [Fact]
    public void Specialised_patterns_agree_with_the_general_wildcard_matcher()
    {
        string[] patterns = ["exact", "ab*", "*ab", "ab*ba", "a*b", "*ab*", "**", "*", "a?c", "a*b*c", "*a*b", "?", "a**b", "*/*", "x*x"];
        string[] texts = ["", "a", "ab", "aba", "abba", "abab", "ba", "exact", "exactly", "abc", "axc", "aXbYc", "a/b", "/", "xx", "x", "xax", "ab/ba", "cab", "abcab"];
        var entries = string.Join("\n", patterns.Select(p => $"      - imageReferences: [\"{p}\"]\n        verifyDigest: false"));
        var yaml = $"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: patterns
            spec:
              rules:
                - name: patterns
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
            {entries}
            """;

        var verifyImages = AuthoredRule(Assert.Single(Load(("patterns.yaml", yaml)))).VerifyImages;

        Assert.Equal(patterns.Length, verifyImages.Length);
        for (var i = 0; i < patterns.Length; i++)
        {
            foreach (var text in texts)
            {
                Assert.True(
                    Wildcard.Match(patterns[i], text) == verifyImages[i].ImageReferences(text),
                    $"pattern '{patterns[i]}' on '{text}': the generated predicate says {verifyImages[i].ImageReferences(text)}, Wildcard.Match says {Wildcard.Match(patterns[i], text)}");
            }
        }
    }

    [Fact]
    public void Cluster_policy_excluding_namespaces()
    {
        var rule = Assert.Single(Assert.Single(Load(("exclude.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: all-but-system
            spec:
              rules:
                - name: workloads
                  match:
                    any:
                    - resources:
                        kinds: [Pod, apps/*/Deployment]
                  exclude:
                    any:
                    - resources:
                        namespaces: [kube-system, "tenant-*-sandbox"]
                  verifyImages:
                  - imageReferences: ["*"]
                    verifyDigest: false
            """))).Rules);

        Assert.True(rule.Matches(Request("Pod", "default")));
        Assert.True(rule.Matches(Request("Deployment", "tenant-a", group: "apps", version: "v1beta2")));
        Assert.False(rule.Matches(Request("Pod", "kube-system")));
        Assert.False(rule.Matches(Request("Pod", "tenant-a-sandbox")));
        Assert.True(rule.Matches(Request("Pod", "tenant-a-sandbox-2")));
        Assert.False(rule.Matches(Request("StatefulSet", "default", group: "apps")));
    }

    [Theory]
    [InlineData("Pod", "", "v1", null, true)]
    [InlineData("Pod", "", "v1", "status", true)]
    [InlineData("Pod", "", "v1", "ephemeralcontainers", true)]
    [InlineData("Deployment", "apps", "v1", "scale", true)]
    [InlineData("Deployment", "apps", "v1", null, false)] // '*/scale' names the subresource only
    [InlineData("ConfigMap", "", "v1", null, true)] // v1/ConfigMap: version and kind
    [InlineData("ConfigMap", "", "v2", null, false)]
    [InlineData("Secret", "", "v1", null, false)]
    public void Kind_selectors_decide_as_kyverno(string kind, string group, string version, string? subResource, bool expected)
    {
        var rule = Assert.Single(Assert.Single(Load(("kinds.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: kinds
            spec:
              rules:
                - name: kinds
                  match:
                    any:
                    - resources:
                        kinds: ["Pod/*", "*/scale", v1/ConfigMap]
                  verifyImages:
                  - imageReferences: ["*"]
                    verifyDigest: false
            """))).Rules);

        Assert.Equal(expected, rule.Matches(Request(kind, group: group, version: version, subResource: subResource)));
    }

    [Fact]
    public void Deprecated_image_and_key_become_a_reference_and_an_attestor_set()
    {
        var policy = Assert.Single(Load(("deprecated-image-key.yaml", TestFiles.Read("baselines", "deprecated-image-key.yaml"))));

        Assert.Equal(FailureAction.Audit, policy.FailureAction);
        Assert.Equal(10, policy.WebhookTimeoutSeconds);
        var rule = AuthoredRule(policy);
        Assert.True(rule.Matches(Request("Pod")));
        Assert.False(rule.Matches(Request("Service")));

        var entry = Assert.Single(rule.VerifyImages);
        Assert.Equal("registry.io/signatures", entry.Repository);
        Assert.True(entry.ImageReferences("ghcr.io/kyverno/test-verify-image:signed"));
        Assert.False(entry.ImageReferences("ghcr.io/kyverno/other:signed"));

        var set = Assert.Single(entry.Attestors);
        Assert.Null(set.Count);
        Assert.Equal(1, set.RequiredCount);
        var attestor = Assert.IsType<PublicKeyAttestorDefinition>(Assert.Single(set.Entries));
        Assert.Equal(".attestors[0].entries[0].keys", attestor.Path);
        Assert.Equal(VerificationKey.FromPem(ReferenceKeyPem).SubjectPublicKeyInfo.ToArray(), attestor.Key.SubjectPublicKeyInfo.ToArray());
    }

    [Fact]
    public void Several_pem_blocks_are_several_entries_and_a_repeated_key_is_one_object()
    {
        var policy = Assert.Single(Load(("multi-key-count.yaml", TestFiles.Read("baselines", "multi-key-count.yaml"))));
        var sets = Assert.Single(AuthoredRule(policy).VerifyImages).Attestors;

        Assert.Equal(2, sets.Length);
        Assert.Equal(2, sets[0].Count);
        Assert.Equal(2, sets[0].RequiredCount);
        Assert.Null(sets[1].Count);
        Assert.Equal(2, sets[1].RequiredCount);

        var first = sets[0].Entries.Cast<PublicKeyAttestorDefinition>().ToList();
        Assert.Equal([".attestors[0].entries[0].keys", ".attestors[0].entries[1].keys", ".attestors[0].entries[2].keys"], first.Select(e => e.Path));
        Assert.Equal([KeyAlgorithm.EcdsaP256, KeyAlgorithm.EcdsaP256, KeyAlgorithm.Rsa], first.Select(e => e.Key.Algorithm));
        Assert.Equal([HashAlgorithmName.SHA256, HashAlgorithmName.SHA256, HashAlgorithmName.SHA512], first.Select(e => e.Key.Hash));

        var second = sets[1].Entries.Cast<PublicKeyAttestorDefinition>().ToList();
        Assert.Equal([".attestors[1].entries[0].keys", ".attestors[1].entries[1].keys"], second.Select(e => e.Path));
        Assert.Equal([KeyAlgorithm.EcdsaP256, KeyAlgorithm.EcdsaP384], second.Select(e => e.Key.Algorithm));
        Assert.Same(first[0].Key, second[0].Key);
    }

    [Fact]
    public void Catalog_lists_every_policy_once_ordered_by_class_name()
    {
        var all = Load(
            ("b.yaml", TestFiles.Read("baselines", "multi-key-count.yaml")),
            ("a.yaml", TestFiles.Read("reference-samples", "01-check-image.yaml")),
            ("c.yaml", TestFiles.Read("baselines", "team-a-images.yaml")));

        Assert.Equal(["check-image", "verify-team-images", "two-of-three-signers"], all.Select(p => p.Name));
    }

    /// <summary>The one rule a Pod-only policy was written with; the others must be its auto-generated variants.</summary>
    private static RuleDefinition AuthoredRule(PolicyDefinition policy)
    {
        var authored = Assert.Single(policy.Rules, r => !r.Name.StartsWith("autogen-", StringComparison.Ordinal));
        Assert.All(policy.Rules.Where(r => r != authored), r => Assert.Equal(authored.VerifyImages, r.VerifyImages));
        return authored;
    }

    [Fact]
    public void Pod_rules_are_auto_generated_for_every_pod_controller()
    {
        var policy = Assert.Single(Load(("check-image.yaml", TestFiles.Read("reference-samples", "01-check-image.yaml"))));

        Assert.Equal(["check-image", "autogen-check-image", "autogen-cronjob-check-image"], policy.Rules.Select(r => r.Name));
        var controllers = policy.Rules[1];
        var cronJobs = policy.Rules[2];
        foreach (var kind in new[] { "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job" })
        {
            Assert.True(controllers.Matches(Request(kind, group: kind == "Job" ? "batch" : "apps")), kind);
            Assert.False(cronJobs.Matches(Request(kind, group: "apps")), kind);
        }

        Assert.True(controllers.Matches(Request("ReplicationController")));
        Assert.False(controllers.Matches(Request("Pod")));
        Assert.True(cronJobs.Matches(Request("CronJob", group: "batch")));
        Assert.False(policy.Rules[0].Matches(Request("Deployment", group: "apps")));
        Assert.Equal(policy.Rules[0].VerifyImages, controllers.VerifyImages);
        Assert.Equal(policy.Rules[0].VerifyImages, cronJobs.VerifyImages);
    }

    [Theory]
    [InlineData("none", new string[0])]
    [InlineData("Deployment,CronJob", new[] { "autogen-r", "autogen-cronjob-r" })]
    [InlineData("Deployment", new[] { "autogen-r" })]
    [InlineData("CronJob", new[] { "autogen-cronjob-r" })]
    public void Autogen_annotation_chooses_the_controllers(string annotation, string[] generated)
    {
        var policy = Assert.Single(Load(("autogen.yaml", $$"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: autogen
              annotations:
                pod-policies.kyverno.io/autogen-controllers: "{{annotation}}"
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["*"]
                    verifyDigest: false
            """)));

        Assert.Equal(["r", .. generated], policy.Rules.Select(r => r.Name));
        if (annotation == "Deployment")
        {
            Assert.True(policy.Rules[1].Matches(Request("Deployment", group: "apps")));
            Assert.False(policy.Rules[1].Matches(Request("StatefulSet", group: "apps")));
        }
    }

    [Fact]
    public void No_rule_is_auto_generated_when_a_rule_matches_other_kinds_or_names()
    {
        var policy = Assert.Single(Load(("mixed.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: mixed
            spec:
              rules:
                - name: pods
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["*"]
                - name: named
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                        names: ["web-*"]
                  verifyImages:
                  - imageReferences: ["*"]
            """)));

        Assert.Equal(["pods", "named"], policy.Rules.Select(r => r.Name));
    }

    [Fact]
    public void Webhook_rules_name_the_resources_and_operations_of_the_match_blocks()
    {
        var policy = Assert.Single(Load(("webhook.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: webhook
            spec:
              rules:
                - name: pods
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                        operations: [CREATE]
                  verifyImages:
                  - imageReferences: ["*"]
                - name: tekton
                  match:
                    any:
                    - resources:
                        kinds: [tekton.dev/v1beta1/TaskRun, Pod/ephemeralcontainers]
                  verifyImages:
                  - imageReferences: ["*"]
            """)));

        var pods = policy.Rules.Single(r => r.Name == "pods").Webhook!;
        Assert.Equal(["CREATE"], pods.Operations.ToArray());
        Assert.Equal(["/v1/pods"], Describe(pods));

        var tekton = policy.Rules.Single(r => r.Name == "tekton").Webhook!;
        Assert.Equal(["CREATE", "UPDATE"], tekton.Operations.ToArray());
        Assert.Equal(["/v1/pods/ephemeralcontainers", "tekton.dev/v1beta1/taskruns"], Describe(tekton));
    }

    [Fact]
    public void Auto_generated_rules_register_the_controllers()
    {
        var policy = Assert.Single(Load(("check-image.yaml", TestFiles.Read("reference-samples", "01-check-image.yaml"))));

        Assert.Equal(
            ["daemonsets", "deployments", "jobs", "replicasets", "replicationcontrollers", "statefulsets"],
            policy.Rules.Single(r => r.Name == "autogen-check-image").Webhook!.Resources.Select(r => r.Resource).Order(StringComparer.Ordinal));
        Assert.Equal(["batch/v1/cronjobs"], Describe(policy.Rules.Single(r => r.Name == "autogen-cronjob-check-image").Webhook!));
    }

    [Fact]
    public void Sigstore_bundle_type_reads_signatures_from_referrers()
    {
        var policy = Assert.Single(Load(("bundle.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: bundle
            spec:
              rules:
                - name: bundle
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    type: SigstoreBundle
                    attestors:
                    - entries:
                      - keyless:
                          subject: "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/*"
                          issuer: https://token.actions.githubusercontent.com
                  - imageReferences: ["docker.io/*"]
            """)));

        var entries = AuthoredRule(policy).VerifyImages;
        Assert.Equal(SignatureFormat.SigstoreBundle.ToString(), entries[0].Format.ToString());
        Assert.Equal(SignatureFormat.Cosign.ToString(), entries[1].Format.ToString());
    }

    private static string[] Describe(WebhookRule rule) => [.. rule.Resources.Select(r => $"{r.Group}/{r.Version}/{r.Resource}")];
}
