using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Tests.Infrastructure;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// One or more tests per diagnostic of <see cref="DiagnosticDescriptors"/>: the ID, the part of the message that tells
/// the user what is wrong, and the exact 1-based line and column in the YAML (see <see cref="DiagnosticAssert.At"/>).
/// </summary>
public sealed class DiagnosticTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    [Fact]
    public void Every_descriptor_is_covered_by_a_test()
    {
        var ids = typeof(DiagnosticDescriptors)
            .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => ((Microsoft.CodeAnalysis.DiagnosticDescriptor)f.GetValue(null)!).Id)
            .Order(StringComparer.Ordinal);

        // Diagnostics of conditions, context entries and webhookConfiguration are tested beside them.
        var tested = typeof(DiagnosticTests).GetMethods().Concat(typeof(AttestationConditionTests).GetMethods()).Concat(typeof(ImageExtractorJmesPathTests).GetMethods()).Concat(typeof(ContextEntryTests).GetMethods()).Concat(typeof(WebhookConfigurationTests).GetMethods())
            .Select(m => m.Name)
            .Where(n => n.StartsWith("PC", StringComparison.Ordinal))
            .Select(n => n[..6])
            .Distinct()
            .Order(StringComparer.Ordinal);

        Assert.Equal(ids, tested);
    }

    [Fact]
    public void PC0001_malformed_yaml_points_at_the_syntax_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
               namespace: default
            spec:
              rules: []
            """);

        var diagnostic = run.Single("PC0001");
        DiagnosticAssert.MessageContains(diagnostic, "not valid YAML");
        DiagnosticAssert.At(diagnostic, File, 5, 13);
        Assert.Empty(run.PolicySources);
    }

    [Theory]
    // Minimised by build/fuzz.sh (corpus/policy-yaml/found-crash-*): YamlDotNet throws InvalidOperationException and
    // ArgumentException rather than YamlException for these, which escaped the generator (CS8785, no policy compiled).
    [InlineData(": {\n0")]
    [InlineData(":\n :")]
    public void PC0001_yaml_the_reader_throws_on_is_a_diagnostic_not_a_generator_crash(string yaml)
    {
        var run = GeneratorHarness.Run("policy.yaml", yaml);

        var diagnostic = run.Single("PC0001");
        DiagnosticAssert.MessageContains(diagnostic, "not valid YAML");
        Assert.Empty(run.PolicySources);
    }

    [Fact]
    public void PC0001_duplicate_key_points_at_the_second_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              validationFailureAction: Enforce
              validationFailureAction: Audit
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0001");
        DiagnosticAssert.MessageContains(diagnostic, "Duplicate key validationFailureAction");
        DiagnosticAssert.At(diagnostic, File, 7, 3);
    }

    [Fact]
    public void PC0002_unknown_field_points_at_the_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds:
                          - Pod
                  verifyImages:
                  - mutateDigest: false
                    imageReference:
                    - "ghcr.io/kyverno/test-verify-image:*"
            """);

        var unknown = Assert.Single(run.GeneratorDiagnostics, d => d.Id == "PC0002");
        DiagnosticAssert.MessageContains(unknown, "'imageReference' is not a field of ImageVerification ('spec.rules[0].verifyImages[0]')");
        DiagnosticAssert.MessageContains(unknown, "imageReferences");
        DiagnosticAssert.At(unknown, File, 15, 9);

        // The typo leaves the entry without patterns, which is reported where the entry starts.
        var empty = Assert.Single(run.GeneratorDiagnostics, d => d.Id == "PC0007");
        DiagnosticAssert.At(empty, File, 14, 9);
        Assert.Equal(2, run.GeneratorDiagnostics.Length);
    }

    [Fact]
    public void PC0003_string_where_a_list_is_expected()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: Pod
                  verifyImages:
                  - imageReferences:
                    - "ghcr.io/kyverno/test-verify-image:*"
            """);

        var wrongType = Assert.Single(run.GeneratorDiagnostics, d => d.Id == "PC0003");
        DiagnosticAssert.MessageContains(wrongType, "'spec.rules[0].match.any[0].resources.kinds' must be a list, but here it is the string \"Pod\"");
        DiagnosticAssert.At(wrongType, File, 11, 20);

        // Without kinds the filter also lacks the kinds a match needs; that follows from the same line.
        var missing = Assert.Single(run.GeneratorDiagnostics, d => d.Id == "PC0004");
        DiagnosticAssert.At(missing, File, 11, 13);
        Assert.Equal(2, run.GeneratorDiagnostics.Length);
    }

    [Fact]
    public void PC0003_quoted_number_for_webhookTimeoutSeconds()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              webhookTimeoutSeconds: "30"
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0003");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.webhookTimeoutSeconds' must be an integer, but here it is the string \"30\"");
        DiagnosticAssert.At(diagnostic, File, 6, 26);
    }

    [Fact]
    public void PC0004_missing_metadata_name()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            # A policy without a name.
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              labels:
                team: a
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.MessageContains(diagnostic, "A Kyverno policy requires 'metadata.name'");
        DiagnosticAssert.At(diagnostic, File, 2, 1);
    }

    [Fact]
    public void PC0004_policy_without_namespace()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: Policy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.MessageContains(diagnostic, "A namespaced Policy requires 'metadata.namespace'");
        DiagnosticAssert.At(diagnostic, File, 1, 1);
    }

    [Theory]
    [InlineData("kyverno.io/v2", "ClusterPolicy", 1, 13, "'kyverno.io/v2/ClusterPolicy'")]
    [InlineData("apps/v1", "Deployment", 1, 13, "'apps/v1/Deployment'")]
    [InlineData("kyverno.io/v1", "Deployment", 2, 7, "'kyverno.io/v1/Deployment'")]
    public void PC0005_not_a_kyverno_v1_policy(string apiVersion, string kind, int line, int column, string message)
    {
        var run = GeneratorHarness.Run("policy.yaml", $"""
            apiVersion: {apiVersion}
            kind: {kind}
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0005");
        DiagnosticAssert.MessageContains(diagnostic, "This document is " + message + ", not a Kyverno policy");
        DiagnosticAssert.At(diagnostic, File, line, column);
    }

    [Fact]
    public void PC0006_text_that_is_not_pem()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: "cosign.pub"
            """);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "The public key at .attestors[0] cannot be used: unexpected text 'cosign.pub' outside a PEM block");
        DiagnosticAssert.At(diagnostic, File, 17, 27);
    }

    [Fact]
    public void PC0006_pem_body_that_is_not_base64()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            this is not base64!
                            -----END PUBLIC KEY-----
            """);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "The public key #1 at .attestors[0].entries[0] cannot be used: the PEM body is not valid base64");
        DiagnosticAssert.At(diagnostic, File, 18, 17);
    }

    [Fact]
    public void PC0006_certificate_instead_of_public_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN CERTIFICATE-----
                            MIIBcjCCARmgAwIBAgIUdemo14K5GMEZCPSf+uOsPrlKuZ0wCgYIKoZIzj0EAwIw
                            DzENMAsGA1UEAwwEdGVzdDAeFw0yNjExMjcxMTIxMjJaFw0yNjExMjgxMTIxMjJa
                            MA8xDTALBgNVBAMMBHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARGMd+9
                            OsDViXycX9ukOKUzqqvDFW+f3KYJe2KW3HxemhzamcsdHO7i7wPwPtCixPThn75Y
                            52I8Iu5CwAPqX4cQo1MwUTAdBgNVHQ4EFgQUpyv4ZUuGDJImlr2H45YhEQqDtngw
                            HwYDVR0jBBgwFoAUpyv4ZUuGDJImlr2H45YhEQqDtngwDwYDVR0TAQH/BAUwAwEB
                            /zAKBggqhkjOPQQDAgNHADBEAiBzBb7h/SjVk1lYECO24TJTgiyczNNZwE2BXhT/
                            IpdrWwIgHqUT0NFeZLTVraCS+T29aA2LE9z5x/eyXXzunt0XcYc=
                            -----END CERTIFICATE-----
            """);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "it is a certificate, not a public key");
        DiagnosticAssert.At(diagnostic, File, 18, 17);
    }

    [Fact]
    public void PC0006_private_key()
    {
        // A throwaway P-256 key generated for this test; it protects nothing.
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PRIVATE KEY-----
                            MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIdlSSKIEdTSlqGDc
                            2txliFhcU8ycZrL72Jfw/wzbjlahRANCAATb0zJaiFdrDkIM/Ld2g8Ww0hQNsELe
                            0VT82i0nL8eH6Z6s009S80OUqyN4TQSaR3hUW/WjQBorNqvRh4WYzyUK
                            -----END PRIVATE KEY-----
            """);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "the PEM block is 'PRIVATE KEY', expected 'PUBLIC KEY' (never put a private key in a policy)");
        DiagnosticAssert.At(diagnostic, File, 18, 17);
    }

    [Fact]
    public void PC0006_ec_key_on_an_unsupported_curve()
    {
        // secp256k1 (1.3.132.0.10): a valid key that cosign's verifiers do not accept.
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEEpfgBWUaokro2XqQ2nPaQKKgBv39owc9
                            KdjO+NTCk/eCQyX3VZVDp7WSBiXjnZdW7Ao16cXc+RwljlIBQ1Mfdg==
                            -----END PUBLIC KEY-----
            """);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "the elliptic curve 1.3.132.0.10 is not supported (use P-256, P-384 or P-521)");
        DiagnosticAssert.At(diagnostic, File, 18, 17);
    }

    [Fact]
    public void PC0006_ec_point_not_on_the_curve()
    {
        // The reference page's P-256 key with the last byte of its y coordinate flipped.
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZQ==
                            -----END PUBLIC KEY-----
            """);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "the EC point is not on the EcdsaP256 curve");
        DiagnosticAssert.At(diagnostic, File, 18, 17);
    }

    [Fact]
    public void PC0006_rsa_1024_as_second_block_points_at_that_blocks_begin_line()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                            -----END PUBLIC KEY-----
                            -----BEGIN PUBLIC KEY-----
                            MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCrQ7ISFa2Iv6syzYC8Ah2/6PnQ
                            l4uI1hBC+KGSuF7autj2AeOBy9DR/4uVg680l/gLljLMBIMGNELEaBDBwz9/i4wo
                            dzYe0pvAq4s0D+wGqLNas2IjnphdpjkZ0fPEENGdSgD+cAWtre3Fj7h54dtgfuR2
                            5IDqOuGR2ENAWn2QIQIDAQAB
                            -----END PUBLIC KEY-----
            """);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "The public key #2 at .attestors[0].entries[1] cannot be used: the RSA key has 1024 bits; at least 2048 are required");
        DiagnosticAssert.At(diagnostic, File, 22, 17);
    }

    [Fact]
    public void PC0006_same_bad_key_in_two_entries_is_reported_at_each_block_with_kyvernos_entry_index()
    {
        // The same X25519 block (a key-agreement key, never a signer) twice: alone in the first entry, after a valid key in the second. Each report points
        // at its own BEGIN line, and entries are numbered as Kyverno expands them (the second value holds entries 1 and 2).
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MCowBQYDK2VuAyEAS7hdQ79vE54UpoD3P7Zo78+gXq0aDHQiTnIsPHByA1c=
                            -----END PUBLIC KEY-----
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                            -----END PUBLIC KEY-----
                            -----BEGIN PUBLIC KEY-----
                            MCowBQYDK2VuAyEAS7hdQ79vE54UpoD3P7Zo78+gXq0aDHQiTnIsPHByA1c=
                            -----END PUBLIC KEY-----
            """);

        Assert.Equal(2, run.GeneratorDiagnostics.Length);
        Assert.All(run.GeneratorDiagnostics, d => Assert.Equal("PC0006", d.Id));
        DiagnosticAssert.MessageContains(run.GeneratorDiagnostics[0], "#1 at .attestors[0].entries[0] cannot be used: the key algorithm 1.3.101.110 is not supported");
        DiagnosticAssert.At(run.GeneratorDiagnostics[0], File, 18, 17);
        DiagnosticAssert.MessageContains(run.GeneratorDiagnostics[1], "#2 at .attestors[0].entries[2] cannot be used: the key algorithm 1.3.101.110 is not supported");
        DiagnosticAssert.At(run.GeneratorDiagnostics[1], File, 27, 17);
    }

    [Fact]
    public void PC0006_position_of_a_pem_block_with_windows_line_endings()
    {
        var yaml = """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                            -----END PUBLIC KEY-----
                            -----BEGIN PUBLIC KEY-----
                            MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEEpfgBWUaokro2XqQ2nPaQKKgBv39owc9
                            KdjO+NTCk/eCQyX3VZVDp7WSBiXjnZdW7Ao16cXc+RwljlIBQ1Mfdg==
                            -----END PUBLIC KEY-----
            """.ReplaceLineEndings("\r\n");

        var run = GeneratorHarness.Run("policy.yaml", yaml);

        var diagnostic = run.Single("PC0006");
        DiagnosticAssert.MessageContains(diagnostic, "#2 at .attestors[0].entries[1] cannot be used: the elliptic curve 1.3.132.0.10 is not supported");
        DiagnosticAssert.At(diagnostic, File, 22, 17);
    }

    [Fact]
    public void PC0007_empty_imageReferences_points_at_the_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - mutateDigest: false
                    imageReferences: []
            """);

        var diagnostic = run.Single("PC0007");
        DiagnosticAssert.MessageContains(diagnostic, "'imageReferences' is empty");
        DiagnosticAssert.At(diagnostic, File, 14, 9);
    }

    [Fact]
    public void PC0008_count_larger_than_entries_counts_every_pem_block()
    {
        // Two PEM blocks in one publicKeys value are two entries, so count 2 would pass and 3 cannot.
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - count: 3
                      entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                            -----END PUBLIC KEY-----
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDFqVqeBAvNw5haUpO0LJv+hea5gP
                            5KoixZ5dFCmMpUarlt2Qm1rn7bs2sKfgCxxFndSZD7MHyxrNVXB2F9PNuA==
                            -----END PUBLIC KEY-----
            """);

        var diagnostic = run.Single("PC0008");
        DiagnosticAssert.MessageContains(diagnostic, "'count' is 3 but the attestor set has only 2 entries");
        DiagnosticAssert.At(diagnostic, File, 15, 18);
    }

    [Theory]
    [InlineData("\"ghcr.io/kyverno/{{request.namespace}}/*\"", "variables are not allowed in patterns")]
    [InlineData("\"ghcr.io/kyverno/ app\"", "it contains whitespace")]
    [InlineData("\"\"", "it is empty")]
    public void PC0009_invalid_image_pattern(string pattern, string reason)
    {
        var run = GeneratorHarness.Run("policy.yaml", $"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences:
                    - "ghcr.io/kyverno/*"
                    - {pattern}
            """);

        var diagnostic = run.Single("PC0009");
        DiagnosticAssert.MessageContains(diagnostic, "is not a usable pattern: " + reason);
        DiagnosticAssert.At(diagnostic, File, 15, 11);
    }

    [Theory]
    [InlineData("validationFailureAction: Deny", "", "'Deny' is not a valid value for 'validationFailureAction'. Use one of: Enforce, Audit", 6, 28)]
    [InlineData("failurePolicy: fail", "", "'fail' is not a valid value for 'failurePolicy'. Use one of: Fail, Ignore", 6, 18)]
    [InlineData("applyRules: one", "", "'one' is not a valid value for 'applyRules'. Use one of: All, One", 6, 15)]
    [InlineData("applyRules: First", "", "'First' is not a valid value for 'applyRules'. Use one of: All, One", 6, 15)]
    [InlineData("background: false", "type: cosign", "'cosign' is not a valid value for 'type'. Use one of: Cosign, SigstoreBundle, Notary", 15, 15)]
    [InlineData("background: false", "mutateDigest: true", "'create' is not a valid value for 'operations'. Use one of: CREATE, UPDATE, DELETE, CONNECT", 13, 26)]
    public void PC0010_invalid_enum_value(string specLine, string entryLine, string message, int line, int column)
    {
        var run = GeneratorHarness.Run("policy.yaml", $"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              {specLine}
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                        operations: [{(entryLine.StartsWith("mutate", StringComparison.Ordinal) ? "create" : "CREATE")}]
                  verifyImages:
                  - {entryLine}
                    imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0010");
        DiagnosticAssert.MessageContains(diagnostic, message);
        DiagnosticAssert.At(diagnostic, File, line, column);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    public void PC0011_webhookTimeoutSeconds_out_of_range(int seconds)
    {
        var run = GeneratorHarness.Run("policy.yaml", $"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              background: false
              webhookTimeoutSeconds: {seconds}
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0011");
        DiagnosticAssert.MessageContains(diagnostic, $"webhookTimeoutSeconds is {seconds}; the Kubernetes API server accepts 1 to 30 seconds");
        DiagnosticAssert.At(diagnostic, File, 7, 26);
    }

    [Fact]
    public void PC0012_duplicate_rule_name_points_at_the_second_name()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Deployment]
                  verifyImages:
                  - imageReferences: ["ghcr.io/other/*"]
            """);

        var diagnostic = run.Single("PC0012");
        DiagnosticAssert.MessageContains(diagnostic, "Rule name 'check-image' is used twice in policy 'check-image'");
        DiagnosticAssert.At(diagnostic, File, 14, 13);
    }

    [Fact]
    public void PC0013_duplicate_policy_across_two_files_points_at_the_later_files_name()
    {
        const string Policy = """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """;

        var run = GeneratorHarness.Run(
            GeneratorHarness.Policy("team-b/check.yaml", "# A copy of team-a's policy.\n" + Policy),
            GeneratorHarness.Policy("team-a/check.yaml", Policy));

        var diagnostic = run.Single("PC0013");
        DiagnosticAssert.MessageContains(diagnostic, "ClusterPolicy 'check-image' is defined more than once (also in team-a/check.yaml)");
        DiagnosticAssert.At(diagnostic, GeneratorHarness.PolicyDirectory + "team-b/check.yaml", 5, 9);

        // The catalogue keeps the first file's policy only.
        Assert.Contains("CheckImagePolicy.Definition,", run.Catalog, StringComparison.Ordinal);
    }

    [Fact]
    public void PC0013_duplicate_policy_in_two_documents_of_one_file()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: Policy
            metadata:
              name: check-image
              namespace: team-a
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            ---
            apiVersion: kyverno.io/v1
            kind: Policy
            metadata:
              namespace: team-a
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/other/*"]
            """);

        var diagnostic = run.Single("PC0013");
        DiagnosticAssert.MessageContains(diagnostic, "Policy 'team-a/check-image' is defined more than once (also in policy.yaml)");
        DiagnosticAssert.At(diagnostic, File, 20, 9);
        Assert.Empty(run.PolicySources);
    }

    [Theory]
    [InlineData("pod", "the kind 'pod' must start with an uppercase letter")]
    [InlineData("apps//Deployment", "it has an empty segment")]
    [InlineData("a/b/c/Deployment", "it has too many '/' segments")]
    public void PC0014_invalid_kind_selector(string kind, string reason)
    {
        var run = GeneratorHarness.Run("policy.yaml", $"""
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds:
                          - Pod
                          - {kind}
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0014");
        DiagnosticAssert.MessageContains(diagnostic, $"'{kind}' is not a resource kind selector: {reason}");
        DiagnosticAssert.At(diagnostic, File, 13, 17);
    }

    [Fact]
    public void PC0015_cluster_policy_with_namespace()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
              namespace: default
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "a ClusterPolicy is cluster-scoped and has no namespace");
        DiagnosticAssert.At(diagnostic, File, 5, 14);
    }

    [Fact]
    public void PC0015_policy_name_that_is_not_a_dns_name()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: Check_Image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "'Check_Image' is not a valid policy name: use lowercase letters, digits, '-' and '.'");
        DiagnosticAssert.At(diagnostic, File, 4, 9);
    }

    [Fact]
    public void PC0015_match_with_any_and_all_together()
    {
        // Kyverno refuses this ("Can't specify any and all together"), so it must not compile to some meaning here.
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                    all:
                    - resources:
                        namespaces: [prod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].match' is not a valid block: write either 'any' or 'all', not both");
        DiagnosticAssert.At(diagnostic, File, 9, 9);
    }

    [Fact]
    public void PC0016_empty_rules_points_at_the_rules_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              validationFailureAction: Enforce
              rules: []
            """);

        var diagnostic = run.Single("PC0016");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules' is empty. A policy needs at least one rule.");
        DiagnosticAssert.At(diagnostic, File, 7, 3);
    }

    [Fact]
    public void PC0016_empty_attestor_entries_points_at_the_entries_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - count: 1
                      entries: []
            """);

        var diagnostic = run.Single("PC0016");
        DiagnosticAssert.MessageContains(diagnostic, "'attestors[0].entries' is empty");
        DiagnosticAssert.At(diagnostic, File, 16, 11);
    }

    [Fact]
    public void PC0004_attestation_without_any_attestor_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: attest
            spec:
              rules:
                - name: attest
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestations:
                    - type: https://example.com/CodeReview/v1
            """);

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.MessageContains(diagnostic, "requires 'attestors'");
        DiagnosticAssert.At(diagnostic, File, 15, 11);
    }

    [Fact]
    public void PC0017_keyless_attestor_without_identity_accepts_anyone()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestors:
                    - entries:
                      - keyless:
                          ctlog:
                            ignoreSCT: true
            """);

        var diagnostic = run.Single("PC0017");
        DiagnosticAssert.MessageContains(diagnostic, "would accept a signature from anyone");
        DiagnosticAssert.At(diagnostic, File, 17, 15);
    }

    [Fact]
    public void PC0018_certificate_chain_without_its_root_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestors:
                    - entries:
                      - certificates:
                          certChain: |-
                            -----BEGIN CERTIFICATE-----
                            MIIF1zCCA7+gAwIBAgIUWaGMXpgHpAaZjDIw807QKIZigWcwDQYJKoZIhvcNAQEL
                            BQAwbjELMAkGA1UEBhMCRVMxETAPBgNVBAcMCFZhbGVuY2lhMQswCQYDVQQKDAJJ
                            VDERMA8GA1UECwwIU2VjdXJpdHkxLDAqBgNVBAMMI0xpbnV4ZXJhIFJvb3QgQ2Vy
                            dGlmaWNhdGUgQXV0aG9yaXR5MCAXDTI0MTAwMTE0Mjg0MVoYDzIwNTIwMjE2MTQy
                            ODQxWjB2MQswCQYDVQQGEwJFUzERMA8GA1UEBwwIVmFsZW5jaWExCzAJBgNVBAoM
                            AklUMREwDwYDVQQLDAhTZWN1cml0eTE0MDIGA1UEAwwrTGludXhlcmEgSW50ZXJt
                            ZWRpYXRlIENlcnRpZmljYXRlIEF1dGhvcml0eTCCAiIwDQYJKoZIhvcNAQEBBQAD
                            ggIPADCCAgoCggIBAMCtiALzYoD6dW9kbquYudWOBHToKbFDir1FbuZn3R0KVn/z
                            5w8W8j1hwEOpd9Lrk10LRxXlITbWwkLvJmfMNCIMJUV8ua0j2P8XZXwYsI2cD+T+
                            Sa4qouBQshRYilnehh2U8/HFLKtu3xUsMPMrWABI2i/vXZbqAqT3PzzYVYT+B8Yx
                            4segCpXUnsJnencneOX6pc8euPkDvVw9RTH8B5ygyhSBMzfhzX9XZTOgiOj+R157
                            7ESr+axhojP3ztkMmvNnDyCK2+LibaK8SCZNNvmiqzxLdSV91zy1fYT6WlR+mxJ4
                            2BjgI6/npS+k+iIQFdmvexhf5hcolhqbq/wtEr1HL3RFval3zDH1OgXLgAWmuOs0
                            odvKnnJkSba1fcwdNQNsDWYkM0zuP14e4WAH3ySO5lrgakH/eTYef1vVZHw1+oZ9
                            0DvgpbeV91HJ8PnYArE8VhkaV5MmZzjPzxvERJFrB12tJkdzfEylZRrtJfPBDRn0
                            exDiNMn9WoMG0MeknYz7ywM10vZJbilI50hYmPreuWfiBWE1yksT7SzK0tHmBaWz
                            xc5RnI+q/9L3bklwuhUIMraDwAK7h+gHpOIdvc3yHKh7gvxBeLranSbP7afWtpta
                            VxLdKsyGcTGpKaf0hulF93WKcruI4gvAG5kfx+Awy6Nr8jDF1Yslgnyjo4AxAgMB
                            AAGjYzBhMB0GA1UdDgQWBBQdTHvrLI0PHPYP25j9T7o/UTCnZzALBgNVHQ8EBAMC
                            AgQwEgYDVR0TAQH/BAgwBgEB/wIBAjAfBgNVHSMEGDAWgBRaVw0/crBartJIf4lr
                            PauMjeO3DzANBgkqhkiG9w0BAQsFAAOCAgEAbZ2Iq6SJlZmJKalhzfaYYFWa88Pe
                            eu/UhRYdCcJtaGMX4HKIcg29E27mnxbj7iPHrsMqtr51CiR4sl2QEPJ/BVvlRYth
                            jceGSTI78TTgCD7i0yXRWZAZdCL81oearmfGSz4MkPpCPjE7VGdmKSjU1H572Ta3
                            1RoM2l8SMTg5kM5f9W/gG4jfXzwddlOpWbWCHty3plZeqZUahyImSYkXQnqXONxa
                            9w5SZ95wnH4/IwRp2NpvKtvnxTK3xO9nqJOJb4ML/pzwD8SUDTz2aG89GoAvO4wj
                            DxjgcYVsdL37WUife0SbdWM8XOmrK9X9hv+NuWnTYODKGdV/FiBl5yAG2ENrfZoE
                            tSoehqB9gIVsgF8MZPi9xTqOM02qKSryes/4gHy7uZYg1/QDqdyAc6/l88AAiswe
                            hEII9CFatcFdNL2F3WdGUnLo7sdB6FibOX23G2pvvgJEE0jRPYWGothlu5blFlT0
                            0acJf9tLFEw5uw6Du53qHPVNqyJ1hSz3eKbUaPtZXda6xFR2n/WtjN/ASsAjMiWD
                            YA+pciDIcUY+8q9u1eh/vtdRxnrdAwZl/yVIizXBKX6FOul7CpZ6sKUlQTm3tsRn
                            aOtswTsKfoapyth9kFIDeRlr7IT2Pv6W1LeuLL28hl50f+DbFeh4Vbk1QRBWjx2j
                            a+uS+G24eP8F/EA=
                            -----END CERTIFICATE-----
            """);

        var diagnostic = run.Single("PC0018");
        DiagnosticAssert.MessageContains(diagnostic, "the chain has no root certificate");
        DiagnosticAssert.At(diagnostic, File, 17, 26);
    }

    [Fact]
    public void PC0018_public_key_where_a_certificate_belongs_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestors:
                    - entries:
                      - certificates:
                          cert: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                            -----END PUBLIC KEY-----
            """);

        var diagnostic = run.Single("PC0018");
        DiagnosticAssert.MessageContains(diagnostic, "expected 'CERTIFICATE'");
        DiagnosticAssert.At(diagnostic, File, 17, 21);
    }

    [Fact]
    public void PC0019_invalid_subject_regex_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestors:
                    - entries:
                      - keyless:
                          subjectRegExp: "^https://github.com/(org$"
                          issuer: https://token.actions.githubusercontent.com
            """);

        var diagnostic = run.Single("PC0019");
        DiagnosticAssert.MessageContains(diagnostic, "is not a valid regular expression");
        DiagnosticAssert.At(diagnostic, File, 17, 30);
    }

    [Fact]
    public void PC0019_backtracking_only_regex_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestors:
                    - entries:
                      - keyless:
                          subjectRegExp: "^https://github.com/(?!evil)org/.*$"
                          issuer: https://token.actions.githubusercontent.com
            """);

        var diagnostic = run.Single("PC0019");
        DiagnosticAssert.MessageContains(diagnostic, "is not supported by RE2-style matching");
        DiagnosticAssert.At(diagnostic, File, 17, 30);
    }

    [Fact]
    public void PC0020_attestor_entry_with_two_kinds_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                            -----END PUBLIC KEY-----
                        keyless:
                          issuer: https://token.actions.githubusercontent.com
            """);

        var diagnostic = run.Single("PC0020");
        DiagnosticAssert.MessageContains(diagnostic, "Give exactly one of keys, certificates, keyless or attestor");
        DiagnosticAssert.At(diagnostic, File, 16, 13);
    }

    [Fact]
    public void PC0021_private_rekor_without_its_key_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: |-
                            -----BEGIN PUBLIC KEY-----
                            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                            5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                            -----END PUBLIC KEY-----
                          rekor:
                            url: https://rekor.internal.example.com
            """);

        var diagnostic = run.Single("PC0021");
        DiagnosticAssert.MessageContains(diagnostic, "is not the public Rekor");
        DiagnosticAssert.At(diagnostic, File, 23, 22);
    }

    [Fact]
    public void PC0022_unknown_autogen_controller_is_refused()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: p
              annotations:
                pod-policies.kyverno.io/autogen-controllers: "Deployment,Pods"
            spec:
              rules:
                - name: r
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/*"]
            """);

        var diagnostic = run.Single("PC0022");
        DiagnosticAssert.MessageContains(diagnostic, "'Pods' is not a Pod controller");
        DiagnosticAssert.At(diagnostic, File, 6, 50);
    }

    [Fact]
    public void PC0015_kms_key_with_an_unknown_scheme()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          kms: "gcpkm://projects/p/locations/global/keyRings/r/cryptoKeys/k"
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "is not a valid KMS key reference: the KMS schemes are awskms://, gcpkms://, hashivault:// and azurekms://");
        DiagnosticAssert.At(diagnostic, File, 17, 20);
    }

    [Fact]
    public void PC0015_awskms_key_that_is_neither_id_alias_nor_arn()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          kms: "awskms:///my-key"
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "'awskms:///my-key' is not a valid KMS key reference: write awskms:///<key id>, awskms:///alias/<name>");
        DiagnosticAssert.At(diagnostic, File, 17, 20);
    }

    [Fact]
    public void PC0015_gcpkms_key_without_its_key_ring()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          kms: "gcpkms://projects/p/locations/global/cryptoKeys/k"
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "is not a valid KMS key reference: write gcpkms://projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>");
        DiagnosticAssert.At(diagnostic, File, 17, 20);
    }

    [Fact]
    public void PC0015_hashivault_key_with_a_path()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          kms: "hashivault://transit/keys/k"
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "is not a valid KMS key reference: write hashivault://<transit key name>");
        DiagnosticAssert.At(diagnostic, File, 17, 20);
    }

    [Fact]
    public void PC0015_azurekms_key_without_a_key_name()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          kms: "azurekms://myvault.vault.azure.net"
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "is not a valid KMS key reference: write azurekms://<vault>.vault.azure.net/<key>[/<version>]");
        DiagnosticAssert.At(diagnostic, File, 17, 20);
    }

    [Fact]
    public void PC0015_kms_uri_in_public_keys_is_checked_like_kms()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: "awskms://localhost:4566"
            """);

        var diagnostic = run.Single("PC0015");
        DiagnosticAssert.MessageContains(diagnostic, "'awskms://localhost:4566' is not a valid KMS key reference");
        DiagnosticAssert.At(diagnostic, File, 17, 27);
    }

    [Fact]
    public void PC0020_kms_beside_public_keys()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    attestors:
                    - entries:
                      - keys:
                          publicKeys: "k8s://ns/name"
                          kms: "awskms:///alias/signer"
            """);

        var diagnostic = run.Single("PC0020");
        DiagnosticAssert.MessageContains(diagnostic, "both publicKeys and kms");
        DiagnosticAssert.At(diagnostic, File, 18, 20);
    }

    [Fact]
    public void PC0024_cel_preconditions_on_a_verify_images_rule_are_refused_as_kyverno_refuses_them()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: check-image
            spec:
              rules:
                - name: check-image
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  celPreconditions:
                  - name: only-nginx
                    expression: "object.metadata.name.matches('nginx')"
                  verifyImages:
                  - imageReferences: ["ghcr.io/kyverno/*"]
                    mutateDigest: false
                    verifyDigest: true
            """);

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].celPreconditions' cannot be combined with 'verifyImages'");
        DiagnosticAssert.MessageContains(diagnostic, "only in validate.cel rules");
        DiagnosticAssert.MessageContains(diagnostic, "write the condition as 'preconditions'");
        DiagnosticAssert.At(diagnostic, File, 12, 7);
    }

    [Fact]
    public void PC0099_rule_of_another_type_is_not_supported_yet()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: require-labels
            spec:
              rules:
                - name: require-team
                  match:
                    any:
                    - resources:
                        kinds: [Pod]
                  validate:
                    message: "label 'team' is required"
                    pattern:
                      metadata:
                        labels:
                          team: "?*"
            """);

        var diagnostic = run.Single("PC0099");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].validate' is valid Kyverno");
        DiagnosticAssert.MessageContains(diagnostic, "PolicyCompiler compiles verifyImages rules only");
        DiagnosticAssert.At(diagnostic, File, 12, 7);
    }
}
