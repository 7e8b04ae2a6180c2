using System.Text.Json;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Engine;

/// <summary>
/// <c>rekor.pubkey</c> written with a variable (a private Rekor's key kept in a ConfigMap): the attestor is built as the
/// generator writes it, substituted for one review, and its Rekor bundle check must use exactly the substituted key. The
/// signature is containers/image's key + Rekor fixture, whose SET only the real Rekor key (<c>rekor.pub</c>) verifies.
/// </summary>
public sealed class SubstitutedLogKeyTests
{
    private const string Image = "dir-img-cosign-key-rekor-valid";
    private const string Path = ".attestors[0].entries[0].keys";
    private const string Template = "{{ keys.data.rekor }}";

    private static readonly FakeTimeProvider s_now = new(new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero));

    private static readonly JmesFunc s_rekorKey = static (root, _) => KyvernoVariables.Require(root.Field("keys").Field("data").Field("rekor"), Template);

    private static readonly SignatureRequirements s_annotated = new()
    {
        Tlog = TransparencyLogPolicy.TrustedRootLogs,
        Annotations = new Dictionary<string, string>(StringComparer.Ordinal) { ["unused"] = "x" },
    };

    /// <summary>What the generator writes for <c>keys: {publicKeys: literal, rekor: {url: …, pubkey: "{{ keys.data.rekor }}"}}</c>.</summary>
    private static TemplatedAttestorDefinition Attestor(SignatureRequirements requirements) => new(
        Path,
        [new AttestorTemplate("rekor.pubkey", Template, s_rekorKey)],
        values => new PublicKeyAttestorDefinition(Path, CosignFixtures.Key("cosign2.pub"), requirements.With(tlog: TransparencyLogPolicy.WithKey("https://rekor.internal", PemPublicKeys.One(values[0], "rekor.pubkey")))));

    private static AttestorDefinition Substitute(string rekorPem, SignatureRequirements? requirements = null) =>
        Attestor(requirements ?? SignatureRequirements.None).Substitute(
            JmesValue.ParseJson(JsonSerializer.Serialize(new { keys = new { data = new { rekor = rekorPem } } })),
            new JmesContext());

    private static SignatureCheck Verify(AttestorDefinition attestor)
    {
        var signature = Assert.IsType<PublicKeyAttestorDefinition>(attestor);
        return CosignVerifier.Verify(CosignFixtures.Signatures(Image), CosignFixtures.ManifestDigest(Image), signature.Signer, signature.Requirements, s_now);
    }

    private static string Pem(string file) => File.ReadAllText(System.IO.Path.Combine(CosignFixtures.Root, file));

    [Fact]
    public void The_substituted_rekor_key_verifies_the_bundle_it_signed()
    {
        var check = Verify(Substitute(Pem("rekor.pub")));

        Assert.True(check.Verified, check.Reason);
    }

    [Fact]
    public void Another_substituted_key_fails_the_bundle_check_rather_than_falling_back_to_the_trusted_root()
    {
        // cosign.pub is a valid P-256 key, just not the log's: the public-good Rekor of the trusted root, which did sign
        // this bundle, must not be consulted once the policy names its own log.
        var attestor = Substitute(Pem("cosign.pub"));
        var check = Verify(attestor);

        Assert.False(check.Verified);
        Assert.Contains("transparency log", check.Reason, StringComparison.Ordinal);
        var log = Assert.Single(Assert.IsType<PublicKeyAttestorDefinition>(attestor).Requirements.Tlog.Logs);
        Assert.Equal(CosignFixtures.Key("cosign.pub").SubjectPublicKeyInfo.ToArray(), log.Key.SubjectPublicKeyInfo.ToArray());
        Assert.Equal("https://rekor.internal", log.BaseUrl);
    }

    [Fact]
    public void Text_that_is_not_one_public_key_fails_the_attestor_with_the_field_and_template()
    {
        var notPem = Assert.IsType<UnavailableAttestorDefinition>(Substitute("rekor"));
        Assert.Equal($"rekor.pubkey {Template} gave no usable attestor (rekor.pubkey holds no PEM public key)", notPem.Reason);

        var two = Assert.IsType<UnavailableAttestorDefinition>(Substitute(Pem("cosign.pub") + Pem("rekor.pub")));
        Assert.Equal($"rekor.pubkey {Template} gave no usable attestor (rekor.pubkey holds 2 PEM blocks, not one public key)", two.Reason);

        var corrupt = Assert.IsType<UnavailableAttestorDefinition>(Substitute("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
        Assert.StartsWith($"rekor.pubkey {Template} gave no usable attestor (rekor.pubkey: ", corrupt.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Substituting_the_log_keeps_the_other_requirements()
    {
        var attestor = Assert.IsType<PublicKeyAttestorDefinition>(Attestor(s_annotated).Substitute(
            JmesValue.ParseJson(JsonSerializer.Serialize(new { keys = new { data = new { rekor = Pem("rekor.pub") } } })),
            new JmesContext()));

        Assert.Equal("x", attestor.Requirements.Annotations!["unused"]);
        Assert.False(attestor.Requirements.Tlog.IgnoreTlog);
        Assert.Same(s_annotated.TimestampAuthorities, attestor.Requirements.TimestampAuthorities);
    }

    [Theory]
    [InlineData("https://rekor.sigstore.dev/", true)]
    [InlineData("https://rekor.internal", false)]
    [InlineData("rekor.internal", false)]
    public void A_substituted_url_without_a_key_names_the_public_rekor_or_nothing(string url, bool accepted)
    {
        if (accepted)
        {
            Assert.Same(TransparencyLogPolicy.TrustedRootLogs, TransparencyLogPolicy.ForUrl(TransparencyLogPolicy.CheckUrl(url)));
        }
        else
        {
            var error = Assert.Throws<ArgumentException>(() => TransparencyLogPolicy.ForUrl(TransparencyLogPolicy.CheckUrl(url)));
            Assert.Contains("rekor.url", error.Message, StringComparison.Ordinal);
        }
    }
}
