using System.Collections.Immutable;
using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Notary;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Sigstore.Bundles;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// Verifies one image against one <c>verifyImages</c> entry: resolve the tag to a digest once, fetch the signatures
/// for that digest, and count the attestors that accept them.
/// </summary>
public sealed class ImageVerifier(RegistryClient registry, VerificationCache cache, TimeProvider? time = null, ISecretKeySource? secretKeys = null, Cloud.IKmsKeySource? kmsKeys = null, NotaryRevocation? notaryRevocation = null)
{
    private readonly CosignSignatureStore _signatures = new(registry);
    private readonly BundleReferrers _bundles = new(registry);
    private readonly NotarySignatureStore _notary = new(registry);
    private readonly NotaryAttestationStore _notaryAttestations = new(registry);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly NotaryRevocation _notaryRevocation = notaryRevocation ?? NotaryRevocation.Shared;
    private readonly JmesContext _jmes = new(time ?? TimeProvider.System);

    /// <summary>The clock and settings compiled conditions run with.</summary>
    public JmesContext Conditions => _jmes;

    public VerificationCache Cache => cache;

    /// <summary>The registry client verifications read with; rule context entries of type <c>imageRegistry</c> read with it too.</summary>
    public RegistryClient Registry => registry;

    /// <summary>Resolves the digest the image's tag points to now; a digest reference resolves to itself without a registry call.</summary>
    public async Task<string> ResolveDigestAsync(ImageReference image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Digest is not null)
        {
            return image.Digest;
        }

        var manifest = await registry.GetManifestAsync(image.Registry, image.Repository, image.EffectiveTag!, cancellationToken).ConfigureAwait(false);
        return manifest.Digest;
    }

    public Task<ImageVerificationResult> VerifyAsync(
        PolicyDefinition policy,
        RuleDefinition rule,
        ImageVerificationDefinition entry,
        ImageReference image,
        string digest,
        CancellationToken cancellationToken,
        AdmissionContext? request = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(image);
        if (entry.Attestors.IsDefaultOrEmpty && entry.Attestations.IsEmpty)
        {
            return Task.FromResult(ImageVerificationResult.Pass($"no attestors to verify for {image.FullyQualified}", digest));
        }

        // A warm webhook answers most checks from the cache: the key is written into a stack or pooled buffer and
        // looked up from there, so a hit allocates no key string, closure or task (issue 8). Only a miss makes them.
        var scope = RegistryCredentialScope.Current?.Id ?? string.Empty;

        // A verdict reached with the rule's context (a key from a ConfigMap) holds only for that context's values.
        var ruleContext = request?.ContextFor(rule);
        if (ruleContext is { } loaded)
        {
            scope = scope + ";context=" + loaded.Fingerprint;
        }

        var length = CacheKeyLength(policy, rule, entry, image, digest, scope);
        char[]? rented = null;
        var buffer = length <= 256 ? stackalloc char[256] : (rented = System.Buffers.ArrayPool<char>.Shared.Rent(length));
        try
        {
            var key = buffer[..WriteCacheKey(buffer, policy, rule, entry, image, digest, scope)];
            return cache.TryGetCached(key, entry.VerdictIsReusable, out var cached)
                ? cached
                : VerifyOnMissAsync(new string(key), entry, image, digest, request, rule.Autogen, ruleContext?.Values, cancellationToken);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    // Apart from VerifyAsync so that its closure is allocated on a miss only, not on every call.
    private Task<ImageVerificationResult> VerifyOnMissAsync(string key, ImageVerificationDefinition entry, ImageReference image, string digest, AdmissionContext? request, RuleAutogen autogen, JmesObject? contextValues, CancellationToken cancellationToken) =>
        cache.GetOrVerifyAsync(key, entry.VerdictIsReusable, () => VerifyUncachedAsync(entry, image, digest, request, autogen, contextValues, cancellationToken), cancellationToken);

    /// <summary>
    /// The verification cache's key for a verdict: policy, rule, entry, image and digest, and the credential scope in
    /// effect, so that verdicts reached with a review's pull secrets are kept apart from those reached without them.
    /// </summary>
    public static string CacheKey(PolicyDefinition policy, RuleDefinition rule, ImageVerificationDefinition entry, ImageReference image, string digest)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(image);
        var scope = RegistryCredentialScope.Current?.Id ?? string.Empty;
        var key = new char[CacheKeyLength(policy, rule, entry, image, digest, scope)];
        return new string(key, 0, WriteCacheKey(key, policy, rule, entry, image, digest, scope));
    }

    private static int CacheKeyLength(PolicyDefinition policy, RuleDefinition rule, ImageVerificationDefinition entry, ImageReference image, string digest, string scope) =>
        (policy.Namespace?.Length ?? 0) + policy.Name.Length + rule.Name.Length + entry.Path.Length + image.Name.Length + (digest?.Length ?? 0) + scope.Length + 6;

    // The parts joined by newlines, the key's form before it was written into a buffer (string.Join).
    private static int WriteCacheKey(Span<char> destination, PolicyDefinition policy, RuleDefinition rule, ImageVerificationDefinition entry, ImageReference image, string digest, string scope)
    {
        var written = 0;
        void Append(Span<char> destination, string? part, bool last = false)
        {
            part.AsSpan().CopyTo(destination[written..]);
            written += part?.Length ?? 0;
            if (!last)
            {
                destination[written++] = '\n';
            }
        }

        Append(destination, policy.Namespace);
        Append(destination, policy.Name);
        Append(destination, rule.Name);
        Append(destination, entry.Path);
        Append(destination, image.Name);
        Append(destination, digest);
        Append(destination, scope, last: true);
        return written;
    }

    private async Task<ImageVerificationResult> VerifyUncachedAsync(ImageVerificationDefinition entry, ImageReference image, string digest, AdmissionContext? request, RuleAutogen autogen, JmesObject? contextValues, CancellationToken cancellationToken)
    {
        var mayChange = new System.Runtime.CompilerServices.StrongBox<bool>();
        var result = await VerifyUncachedAsync(entry, image, digest, request, autogen, contextValues, mayChange, cancellationToken).ConfigureAwait(false);

        // A Notation signature that failed only because a revocation service could not answer may verify once it
        // does: that verdict is given for this review and not kept for the cache's hour.
        return mayChange.Value && result.Status != VerificationStatus.Error ? result with { Cacheable = false } : result;
    }

    private async Task<ImageVerificationResult> VerifyUncachedAsync(ImageVerificationDefinition entry, ImageReference image, string digest, AdmissionContext? request, RuleAutogen autogen, JmesObject? contextValues, System.Runtime.CompilerServices.StrongBox<bool> mayChange, CancellationToken cancellationToken)
    {
        var keys = new KeySubstitution(request, autogen, contextValues);
        // Signatures, attestations and bundles are read once per repository that any attestor names.
        var signatures = new Dictionary<(string, string), Task<IReadOnlyList<CosignSignature>>>();
        var attestations = new Dictionary<(string, string), Task<IReadOnlyList<CosignSignature>>>();
        var bundles = new Dictionary<(string, string), Task<IReadOnlyList<ReferrerBundle>>>();
        Task<T> Once<T>(Dictionary<(string, string), Task<T>> cache, string? attestorRepository, Func<string, string, Task<T>> read)
        {
            var location = SignatureLocation(attestorRepository ?? entry.Repository, image);
            if (!cache.TryGetValue(location, out var found))
            {
                found = read(location.Registry, location.Repository);
                cache[location] = found;
            }

            return found;
        }

        Task<IReadOnlyList<ReferrerBundle>> BundlesAsync(string? repository) =>
            Once(bundles, repository, (host, repo) => _bundles.GetBundlesAsync(host, repo, digest, cancellationToken));

        // OCI 1.1 referrers live in the image's own repository (a subject must be in the referrer's repository).
        Task<IReadOnlyList<CosignSignature>>? referred = null;
        Task<IReadOnlyList<CosignSignature>> ReferrerSignaturesAsync() =>
            referred ??= _signatures.GetReferrerSignaturesAsync(image.Registry, image.Repository, digest, cancellationToken);

        // Notation signatures are referrers of the image in its own repository, and name its manifest's descriptor.
        Task<(NotaryArtifact, IReadOnlyList<NotarySignature>)>? notary = null;
        async Task<(NotaryArtifact, IReadOnlyList<NotarySignature>)> ReadNotaryAsync() =>
            (await _notary.GetArtifactAsync(image.Registry, image.Repository, digest, cancellationToken).ConfigureAwait(false),
             await _notary.GetSignaturesAsync(image.Registry, image.Repository, digest, cancellationToken).ConfigureAwait(false));

        async Task<SignatureCheck> CheckSignatureAsync(SignatureAttestorDefinition attestor)
        {
            if (entry.Format == SignatureFormat.Notary)
            {
                if (attestor.Signer is not CertificateSigner certificates)
                {
                    return SignatureCheck.Fail("Notary signatures are verified with certificates attestors only");
                }

                var (artifact, notarySignatures) = await (notary ??= ReadNotaryAsync()).ConfigureAwait(false);
                var notaryCheck = await NotaryVerifier.VerifyAsync(notarySignatures, artifact, certificates.TrustStore, _time.GetUtcNow(), _notaryRevocation, cancellationToken).ConfigureAwait(false);
                mayChange.Value |= notaryCheck.MayChange;
                return notaryCheck;
            }

            if (entry.Format == SignatureFormat.SigstoreBundle)
            {
                return BundleReferrers.VerifySignature(await BundlesAsync(attestor.Repository).ConfigureAwait(false), digest, attestor.Signer, attestor.Requirements, _time);
            }

            // cosignOCI11: the referrers first, then the tag, as cosign verify --experimental-oci11 falls back.
            SignatureCheck? fromReferrers = null;
            if (entry.CosignOci11)
            {
                fromReferrers = CosignVerifier.Verify(await ReferrerSignaturesAsync().ConfigureAwait(false), digest, attestor.Signer, attestor.Requirements, _time);
                if (fromReferrers.Value.Verified)
                {
                    return fromReferrers.Value;
                }
            }

            var fromTag = CosignVerifier.Verify(await Once(signatures, attestor.Repository, (host, repo) => _signatures.GetSignaturesAsync(host, repo, digest, cancellationToken)).ConfigureAwait(false), digest, attestor.Signer, attestor.Requirements, _time);

            // When the tag holds nothing, why the referrers did not verify is the telling reason.
            return fromReferrers is { Reason: not CosignKeyVerifier.SignatureNotFound } referrerFailure && fromTag.Reason == CosignKeyVerifier.SignatureNotFound
                ? referrerFailure
                : fromTag;
        }

        // Notation attestations: referrers of the image of the attestation's artifact type, read once per type.
        var notaryAttestations = new Dictionary<string, Task<IReadOnlyList<NotaryAttestation>>>(StringComparer.Ordinal);
        async Task<AttestationCheck> CheckNotaryAttestationsAsync(SignatureAttestorDefinition attestor, string artifactType)
        {
            if (attestor.Signer is not CertificateSigner certificates)
            {
                return AttestationCheck.Fail("Notary attestations are verified with certificates attestors only");
            }

            if (!notaryAttestations.TryGetValue(artifactType, out var read))
            {
                read = _notaryAttestations.GetAttestationsAsync(image.Registry, image.Repository, digest, artifactType, cancellationToken);
                notaryAttestations[artifactType] = read;
            }

            var check = await NotaryAttestationStore.VerifyAsync(await read.ConfigureAwait(false), artifactType, certificates.TrustStore, _time.GetUtcNow(), _notaryRevocation, cancellationToken).ConfigureAwait(false);
            mayChange.Value |= check.MayChange;
            return check;
        }

        async Task<AttestationCheck> CheckStatementsAsync(SignatureAttestorDefinition attestor, string predicateType) => entry.Format == SignatureFormat.Notary
            ? await CheckNotaryAttestationsAsync(attestor, predicateType).ConfigureAwait(false)
            : entry.Format == SignatureFormat.SigstoreBundle
            ? BundleReferrers.VerifyAttestations(await BundlesAsync(attestor.Repository).ConfigureAwait(false), digest, predicateType, attestor.Signer, attestor.Requirements, _time)
            : CosignAttestationVerifier.Verify(await Once(attestations, attestor.Repository, (host, repo) => _signatures.GetAttestationsAsync(host, repo, digest, cancellationToken)).ConfigureAwait(false), digest, predicateType, attestor.Signer, attestor.Requirements, _time);

        try
        {
            var failures = new List<string>();
            foreach (var set in await ResolveSecretKeysAsync(entry.Attestors, keys, cancellationToken).ConfigureAwait(false))
            {
                failures.AddRange(await CheckSetAsync(set, CheckSignatureAsync).ConfigureAwait(false));
            }

            if (failures.Count > 0)
            {
                return ImageVerificationResult.Fail($"image verification failed for {image.FullyQualified}: {string.Join("; ", failures)}", digest);
            }

            var named = new List<(string Name, JsonElement Predicate)>();
            foreach (var declared in entry.Attestations)
            {
                var attestation = await ResolveSecretKeysAsync(declared, keys, cancellationToken).ConfigureAwait(false);
                var (failure, conditionFailure, predicate) = await CheckAttestationAsync(attestation, attestor => CheckStatementsAsync(attestor, attestation.PredicateType), request, _jmes, autogen, contextValues).ConfigureAwait(false);
                if (attestation.Name is { } name && predicate is { } first)
                {
                    named.Add((name, first));
                }

                if (conditionFailure is not null)
                {
                    return ImageVerificationResult.Fail($"attestation checks failed for {image.FullyQualified} and predicate {attestation.PredicateType}: {conditionFailure}", digest);
                }

                if (failure is not null)
                {
                    return ImageVerificationResult.Fail($"image attestations verification failed for {image.FullyQualified}: {failure}", digest);
                }
            }

            if (entry.Validation?.Check(named, request, _jmes, autogen, contextValues) is { } denied)
            {
                return ImageVerificationResult.Fail(denied, digest);
            }

            var verified = entry.Attestations.IsEmpty ? "image signatures" : entry.Attestors.IsEmpty ? "image attestations" : "image signatures and attestations";
            return ImageVerificationResult.Pass($"verified {verified} for {image.FullyQualified}", digest);
        }
        catch (RegistryException e) when (!e.IsTransient)
        {
            return ImageVerificationResult.Fail($"image verification failed for {image.FullyQualified}: {e.Message}", digest);
        }
        catch (SecretKeyException e) when (e.IsTransient)
        {
            // The API server could not be asked for a key: like a registry outage, an error that failurePolicy decides.
            return ImageVerificationResult.Error($"failed to verify image {image.FullyQualified}: {e.Message}");
        }
        catch (Cloud.CloudException e) when (e.IsTransient)
        {
            // The KMS could not be asked for its key (unreachable, no credentials, denied): never an admission by
            // itself, an error that failurePolicy decides.
            return ImageVerificationResult.Error($"failed to verify image {image.FullyQualified}: {e.Message}");
        }
        catch (Exception e) when (e is not RegistryException and not OperationCanceledException)
        {
            // Anything else that escapes the checks was raised while reading what the registry served (signatures,
            // certificates, envelopes, bundles): content that someone who can push to the repository controls. As an
            // exception it would become an Error verdict, which failurePolicy: Ignore admits; a verification that could
            // not be completed has failed. Only registry outages and the deadline remain errors.
            return ImageVerificationResult.Fail($"image verification failed for {image.FullyQualified}: the signatures could not be checked ({e.GetType().Name}: {e.Message})", digest);
        }
    }

    /// <summary>
    /// Every attestor set of the attestation must vouch for statements of its type (count as for signatures), and
    /// every vouched statement must satisfy the conditions: Kyverno fails the rule on the first that does not.
    /// </summary>
    internal static async Task<(string? Failure, string? ConditionFailure, JsonElement? Predicate)> CheckAttestationAsync(
        AttestationDefinition attestation,
        Func<SignatureAttestorDefinition, Task<AttestationCheck>> vouch,
        AdmissionContext? request,
        JmesContext jmes,
        RuleAutogen autogen = RuleAutogen.None,
        JmesObject? contextValues = null)
    {
        JsonElement? first = null;
        foreach (var set in attestation.Attestors)
        {
            var outcome = await CheckAttestationSetAsync(set).ConfigureAwait(false);
            if (outcome.ConditionFailure is not null)
            {
                return (null, outcome.ConditionFailure, null);
            }

            if (outcome.Failures.Count > 0)
            {
                return (string.Join("; ", outcome.Failures), null, null);
            }
        }

        return (null, null, first);

        // A nested set (entries[].attestor) counts as one entry of its parent once its own count of entries vouched, as
        // it does for signatures. Kyverno itself reads such an entry of an attestation as an attestor without keys, so
        // nothing it names is enforced there; here its signers must vouch for the statements.
        async Task<(List<string> Failures, string? ConditionFailure)> CheckAttestationSetAsync(AttestorSetDefinition set)
        {
            var verified = 0;
            var failures = new List<string>();
            foreach (var attestor in set.Entries)
            {
                switch (attestor)
                {
                    case UnavailableAttestorDefinition unavailable:
                        failures.Add($"{attestation.Path}{attestor.Path}: {unavailable.Reason}");
                        continue;
                    case NestedAttestorDefinition nested:
                        var inner = await CheckAttestationSetAsync(nested.Set).ConfigureAwait(false);
                        if (inner.ConditionFailure is not null)
                        {
                            return ([], inner.ConditionFailure);
                        }

                        if (inner.Failures.Count > 0)
                        {
                            failures.AddRange(inner.Failures);
                            continue;
                        }

                        break;
                    case SignatureAttestorDefinition signer:
                        var check = await vouch(signer).ConfigureAwait(false);
                        if (!check.Verified)
                        {
                            failures.Add($"{attestation.Path}{attestor.Path}: {check.Reason}");
                            continue;
                        }

                        if (!attestation.Conditions.IsEmpty)
                        {
                            foreach (var statement in check.Statements)
                            {
                                if (attestation.CheckConditions(statement.Predicate, request, jmes, autogen, contextValues) is { } conditionFailure)
                                {
                                    return ([], conditionFailure);
                                }
                            }
                        }

                        // Kyverno names the predicate of the first statement it fetched; here, of the first verified one.
                        first ??= check.Statements.Where(s => s.Predicate.ValueKind == JsonValueKind.Object).Select(s => (JsonElement?)s.Predicate).FirstOrDefault();
                        break;
                    default:
                        failures.Add($"{attestation.Path}{attestor.Path}: attestor type {attestor.GetType().Name} is not supported");
                        continue;
                }

                verified++;
                if (verified >= set.RequiredCount)
                {
                    return ([], null);
                }
            }

            if (verified >= set.RequiredCount)
            {
                return ([], null);
            }

            if (failures.Count == 0)
            {
                failures.Add($"{attestation.Path}{set.Path}: {verified} of the {set.RequiredCount} required attestors verified");
            }

            return (failures, null);
        }
    }

    private async Task<AttestationDefinition> ResolveSecretKeysAsync(AttestationDefinition attestation, KeySubstitution keys, CancellationToken cancellationToken)
    {
        var sets = await ResolveSecretKeysAsync(attestation.Attestors, keys, cancellationToken).ConfigureAwait(false);
        return sets == attestation.Attestors
            ? attestation
            : new AttestationDefinition(attestation.Path, attestation.PredicateType, sets, attestation.Conditions, attestation.ConditionsReadRequest, attestation.Name);
    }

    /// <summary>What a <c>publicKeys</c> template reads: the review's documents and the rule's context.</summary>
    private sealed record KeySubstitution(AdmissionContext? Request, RuleAutogen Autogen, JmesObject? ContextValues)
    {
        public JmesValue Root() => Request is null
            ? JmesValue.FromObject(ContextValues ?? new JmesObject(0))
            : ConditionDocument.ForRequest(Request, Autogen, ContextValues);
    }

    /// <summary>
    /// The sets with every Secret key read and every key template substituted, each turned into static keys, or into an
    /// attestor that cannot verify when no usable key came of it. Unchanged (the same array) when no attestor needs either.
    /// </summary>
    private async Task<ImmutableArray<AttestorSetDefinition>> ResolveSecretKeysAsync(ImmutableArray<AttestorSetDefinition> sets, KeySubstitution keys, CancellationToken cancellationToken)
    {
        if (sets.IsDefaultOrEmpty || !sets.Any(NeedsResolving))
        {
            return sets;
        }

        var resolved = ImmutableArray.CreateBuilder<AttestorSetDefinition>(sets.Length);
        foreach (var set in sets)
        {
            var entries = ImmutableArray.CreateBuilder<AttestorDefinition>(set.Entries.Length);
            foreach (var attestor in set.Entries)
            {
                await ResolveAsync(attestor, entries, keys, cancellationToken).ConfigureAwait(false);
            }

            resolved.Add(new AttestorSetDefinition(set.Path, set.Count, entries.ToImmutable()));
        }

        return resolved.MoveToImmutable();

        static bool NeedsResolving(AttestorSetDefinition set) =>
            set.Entries.Any(e => e is SecretKeyAttestorDefinition or KmsKeyAttestorDefinition or VariableKeyAttestorDefinition or TemplatedAttestorDefinition || (e is NestedAttestorDefinition nested && NeedsResolving(nested.Set)));
    }

    /// <summary>Adds to <paramref name="entries"/> what <paramref name="attestor"/> is for this review (several for a key template of several PEM blocks).</summary>
    private async Task ResolveAsync(AttestorDefinition attestor, ImmutableArray<AttestorDefinition>.Builder entries, KeySubstitution keys, CancellationToken cancellationToken)
    {
        switch (attestor)
        {
            case SecretKeyAttestorDefinition secret:
                entries.Add(await ResolveAsync(secret, cancellationToken).ConfigureAwait(false));
                break;
            case KmsKeyAttestorDefinition kms:
                entries.Add(await ResolveAsync(kms, cancellationToken).ConfigureAwait(false));
                break;
            case VariableKeyAttestorDefinition variable:
                entries.AddRange(Substitute(variable, keys, _jmes));
                break;
            case TemplatedAttestorDefinition templated:
                // The log is substituted first, so a log that fails never costs a Secret or KMS read; a key read at
                // admission is then read into the attestor with those substituted requirements. Build never returns
                // another templated attestor, which would be passed on unresolved (and fail as unsupported) rather than loop.
                var substituted = Substitute(templated, keys, _jmes);
                if (substituted is TemplatedAttestorDefinition)
                {
                    entries.Add(substituted);
                }
                else
                {
                    await ResolveAsync(substituted, entries, keys, cancellationToken).ConfigureAwait(false);
                }

                break;
            case NestedAttestorDefinition nested:
                entries.Add(new NestedAttestorDefinition(nested.Path, (await ResolveSecretKeysAsync([nested.Set], keys, cancellationToken).ConfigureAwait(false))[0]));
                break;
            default:
                entries.Add(attestor);
                break;
        }
    }

    /// <summary>
    /// The keys a <c>publicKeys</c> template gives for this review: one static-key attestor per PEM block, as Kyverno expands
    /// them after substitution. A variable that does not resolve, or text that is not a usable key, fails this attestor only.
    /// </summary>
    private static List<AttestorDefinition> Substitute(VariableKeyAttestorDefinition variable, KeySubstitution keys, JmesContext jmes)
    {
        string text;
        try
        {
            text = KyvernoVariables.ToText(variable.Template(keys.Root(), jmes));
        }
        catch (JmesPathException e)
        {
            return [new UnavailableAttestorDefinition(variable.Path, $"publicKeys {variable.Text}: {e.Message}")];
        }

        var blocks = PemBlocks(text);
        if (blocks.Count == 0)
        {
            return [new UnavailableAttestorDefinition(variable.Path, $"publicKeys {variable.Text} gave no PEM public key ({Describe(text)})")];
        }

        var result = new List<AttestorDefinition>(blocks.Count);
        foreach (var pem in blocks)
        {
            try
            {
                result.Add(new PublicKeyAttestorDefinition(variable.Path, VerificationKey.FromPem(pem, variable.Hash), variable.Requirements, variable.Repository));
            }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException or FormatException or NotSupportedException)
            {
                result.Add(new UnavailableAttestorDefinition(variable.Path, $"publicKeys {variable.Text} gave no usable public key ({e.Message})"));
            }
        }

        return result;

        static string Describe(string text) => text.Length == 0 ? "it is empty" : $"it starts with \"{(text.Length > 20 ? text[..20] + "…" : text)}\"";
    }

    private static AttestorDefinition Substitute(TemplatedAttestorDefinition templated, KeySubstitution keys, JmesContext jmes) =>
        templated.Substitute(keys.Root(), jmes);

    /// <summary>The PEM blocks of <paramref name="text"/>, each from its BEGIN line to its END line.</summary>
    internal static List<string> PemBlocks(string text)
    {
        var blocks = new List<string>();
        var at = 0;
        while ((at = text.IndexOf("-----BEGIN ", at, StringComparison.Ordinal)) >= 0)
        {
            var end = text.IndexOf("-----END ", at, StringComparison.Ordinal);
            var close = end < 0 ? -1 : text.IndexOf("-----", end + 9, StringComparison.Ordinal);
            if (close < 0)
            {
                blocks.Add(text[at..]);
                break;
            }

            blocks.Add(text[at..(close + 5)]);
            at = close + 5;
        }

        return blocks;
    }

    private async Task<AttestorDefinition> ResolveAsync(SecretKeyAttestorDefinition secret, CancellationToken cancellationToken)
    {
        if (secretKeys is null)
        {
            return new UnavailableAttestorDefinition(secret.Path, $"the key in secret {secret.Namespace}/{secret.Name} cannot be read: no Kubernetes API is configured");
        }

        try
        {
            var pem = await secretKeys.GetPublicKeyPemAsync(secret.Namespace, secret.Name, cancellationToken).ConfigureAwait(false);
            return new PublicKeyAttestorDefinition(secret.Path, VerificationKey.FromPem(pem, secret.Hash), secret.Requirements, secret.Repository);
        }
        catch (SecretKeyException e) when (!e.IsTransient)
        {
            return new UnavailableAttestorDefinition(secret.Path, e.Message);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException or FormatException or NotSupportedException)
        {
            return new UnavailableAttestorDefinition(secret.Path, $"secret {secret.Namespace}/{secret.Name} holds no usable public key ({e.Message})");
        }
    }

    private async Task<AttestorDefinition> ResolveAsync(KmsKeyAttestorDefinition kms, CancellationToken cancellationToken)
    {
        if (kmsKeys is null)
        {
            return new UnavailableAttestorDefinition(kms.Path, $"the key {kms.Reference} cannot be read: no KMS client is configured");
        }

        try
        {
            var key = await kmsKeys.GetKeyAsync(kms.Reference, kms.Hash, cancellationToken).ConfigureAwait(false);
            return new PublicKeyAttestorDefinition(kms.Path, key, kms.Requirements, kms.Repository);
        }
        catch (Cloud.CloudException e) when (!e.IsTransient)
        {
            // The provider answered that the key does not exist or cannot verify: this entry cannot pass.
            return new UnavailableAttestorDefinition(kms.Path, e.Message);
        }
    }

    /// <summary>The failures of a set that is not satisfied; empty when <c>count</c> of its entries verified.</summary>
    internal static async Task<List<string>> CheckSetAsync(AttestorSetDefinition set, Func<SignatureAttestorDefinition, Task<SignatureCheck>> check)
    {
        var verified = 0;
        var failures = new List<string>();
        foreach (var attestor in set.Entries)
        {
            var reasons = attestor switch
            {
                SignatureAttestorDefinition signer => Reasons(await check(signer).ConfigureAwait(false), attestor.Path),
                NestedAttestorDefinition nested => await CheckSetAsync(nested.Set, check).ConfigureAwait(false),
                UnavailableAttestorDefinition unavailable => [$"{unavailable.Path}: {unavailable.Reason}"],
                _ => [$"{attestor.Path}: attestor type {attestor.GetType().Name} is not supported"],
            };

            if (reasons.Count == 0)
            {
                verified++;
                if (verified >= set.RequiredCount)
                {
                    return [];
                }
            }
            else
            {
                failures.AddRange(reasons);
            }
        }

        if (failures.Count == 0)
        {
            failures.Add($"{set.Path}: {verified} of the {set.RequiredCount} required attestors verified");
        }

        return failures;

        static List<string> Reasons(SignatureCheck check, string path) => check.Verified ? [] : [$"{path}: {check.Reason}"];
    }

    private static (string Registry, string Repository) SignatureLocation(string? repository, ImageReference image)
    {
        if (repository is { Length: > 0 } && ImageReference.TryParse(repository, out var parsed, out _))
        {
            return (parsed.Registry, parsed.Repository);
        }

        return (image.Registry, image.Repository);
    }
}
