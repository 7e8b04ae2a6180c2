using System.Collections.Immutable;
using System.Diagnostics;
using System.Formats.Asn1;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Images;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;
using RegistryOptions = PolicyCompiler.Runtime.Registry.RegistryOptions;
using MediaTypes = PolicyCompiler.EndToEnd.Tests.Infrastructure.MediaTypes;

namespace PolicyCompiler.ColdVerification;

/// <summary>
/// Cold verification (verdict cache disabled) of a tag reference through a real docker-registry on loopback, on a
/// warm process: the registry client's connections are pooled and reused, and the registry is anonymous, so there is
/// no token to fetch (a token registry adds one round trip per token lifetime, not per verification). Each scenario is
/// split into registry round trips (counted and timed by a DelegatingHandler around the client's handler; the body is
/// read inside the timing), the client's work around them (manifest and layer parsing, digest checks), the offline
/// verification of the fetched layers (payloads, envelopes, certificates, bundles and their crypto), and the engine
/// around it; the offline part is set against the same crypto done raw with .NET (ECDsa.VerifyData, X509Chain.Build).
/// </summary>
internal static class Program
{
    private static readonly List<string> Notes = [];

    private const string PredicateType = "https://example.com/CodeReview/v1";

    public static async Task<int> Main(string[] args)
    {
        var iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 300;
        using var registry = await RegistryProcess.StartAsync();
        using var sigstore = PrivateSigstore.Create("cold-verification");
        using var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var meter = new RoundTripMeter(new SocketsHttpHandler
        {
            // As the production handler: pooled keep-alive connections, no redirects, no decompression.
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = 32,
            UseCookies = false,
            UseProxy = false,
        });
        var options = new RegistryOptions();
        options.InsecureRegistries.Add(registry.Host);
        using var client = new RegistryClient(options, meter);

        var scenarios = new List<Scenario>
        {
            await KeySignedAsync(registry, signer, withBundle: false, sigstore),
            await KeySignedAsync(registry, signer, withBundle: true, sigstore),
            await KeylessAsync(registry, sigstore),
            await AttestationAsync(registry, signer),
        };

        if (args.Length > 1 && args[1] == "--profile-chain")
        {
            // For perf record: nothing but the raw chain build, for the number of seconds given first.
            var build = scenarios[2].FloorParts[^1].Operation;
            var until = Stopwatch.GetTimestamp() + (iterations * Stopwatch.Frequency);
            var builds = 0;
            while (Stopwatch.GetTimestamp() < until)
            {
                build();
                builds++;
            }

            Console.WriteLine($"{builds} chain builds in {iterations} s");
            return 0;
        }

        Console.WriteLine($"docker-registry {registry.Host}, {iterations} cold verifications per scenario after 30 warm-up ones; times in ms, median (p90)");
        Console.WriteLine();
        Console.WriteLine("| scenario | target | cold verification | round trips | registry client outside round trips | offline verification | of which raw crypto floor | parsing and checks | engine (rest) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var failed = false;
        foreach (var scenario in scenarios)
        {
            var result = await MeasureAsync(scenario, client, meter, iterations);
            failed |= result.Total.Median > scenario.TargetMs;
            Console.WriteLine(result.Row(scenario));
        }

        foreach (var note in Notes)
        {
            Console.WriteLine();
            Console.WriteLine(note);
        }

        Console.WriteLine();
        Console.WriteLine("Parsing, offline, per verification (µs, median):");
        foreach (var scenario in scenarios)
        {
            foreach (var (name, action) in scenario.Parses)
            {
                Console.WriteLine($"- {scenario.Name}: {name}: {Time(action, iterations * 10).Median * 1000:F1} µs");
            }
        }

        Console.WriteLine();
        Console.WriteLine($"Keyless leaves accepted through a remembered issuer path, without a chain build: {IssuerPathCache.Hits:N0}");
        Console.WriteLine();
        Console.WriteLine("Raw floor, operation by operation (µs, median):");
        foreach (var scenario in scenarios)
        {
            foreach (var (name, action) in scenario.FloorParts)
            {
                Console.WriteLine($"- {scenario.Name}: {name}: {Time(action, iterations * 10).Median * 1000:F1} µs");
            }
        }

        // The registry's own answer time: the same requests made with a bare HttpClient on one kept-alive connection.
        using var bare = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = registry.BaseUri };
        var keyImage = ImageReference.Parse(scenarios[0].Image);
        var requests = new (string Name, string Path, string? Accept)[]
        {
            ("GET /v2/ (no storage access)", "v2/", null),
            ("GET manifest by tag", $"v2/{keyImage.Repository}/manifests/{keyImage.EffectiveTag}", "application/vnd.oci.image.manifest.v1+json"),
        };
        Console.WriteLine();
        Console.WriteLine("docker-registry answering a bare HttpClient (ms, median (p90)):");
        foreach (var (name, path, accept) in requests)
        {
            var times = new double[iterations * 2];
            for (var i = -30; i < times.Length; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                if (accept is not null)
                {
                    request.Headers.Accept.ParseAdd(accept);
                }

                var start = Stopwatch.GetTimestamp();
                using var response = await bare.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
                response.EnsureSuccessStatusCode();
                if (i >= 0)
                {
                    times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
            }

            Console.WriteLine($"- {name}: {Stats.Of(times)}");
        }

        return failed ? 1 : 0;
    }

    private static async Task<ScenarioResult> MeasureAsync(Scenario scenario, RegistryClient client, RoundTripMeter meter, int iterations)
    {
        var verifier = new ImageVerifier(client, new VerificationCache(new VerificationCacheOptions { Enabled = false }, TimeProvider.System), TimeProvider.System);
        var rule = new RuleDefinition("verify", static _ => true, [scenario.Entry]);
        var policy = new PolicyDefinition("cold-verification", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "cold-verification.yaml", [rule]);
        var image = ImageReference.Parse(scenario.Image);
        var store = new CosignSignatureStore(client);

        async Task<ImageVerificationResult> VerifyOnceAsync()
        {
            var digest = await verifier.ResolveDigestAsync(image, CancellationToken.None);
            return await verifier.VerifyAsync(policy, rule, scenario.Entry, image, digest, CancellationToken.None);
        }

        async Task<IReadOnlyList<CosignSignature>> FetchOnceAsync()
        {
            var digest = await verifier.ResolveDigestAsync(image, CancellationToken.None);
            return scenario.Attestation
                ? await store.GetAttestationsAsync(image.Registry, image.Repository, digest, CancellationToken.None)
                : await store.GetSignaturesAsync(image.Registry, image.Repository, digest, CancellationToken.None);
        }

        for (var i = 0; i < 30; i++)
        {
            var warm = await VerifyOnceAsync();
            if (warm.Status != VerificationStatus.Pass)
            {
                throw new InvalidOperationException($"{scenario.Name} must verify before it is measured: {warm.Message}");
            }

            await FetchOnceAsync();
        }

        var total = new double[iterations];
        var roundTrips = new double[iterations];
        var fetch = new double[iterations];
        var fetchRoundTrips = new double[iterations];
        var count = 0;
        long bytes = 0;
        for (var i = 0; i < iterations; i++)
        {
            meter.Reset();
            var start = Stopwatch.GetTimestamp();
            var verdict = await VerifyOnceAsync();
            total[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            roundTrips[i] = meter.Elapsed.TotalMilliseconds;
            count = meter.Count;
            bytes = meter.Bytes;
            if (verdict.Status != VerificationStatus.Pass)
            {
                throw new InvalidOperationException($"{scenario.Name}: {verdict.Message}");
            }

            meter.Reset();
            start = Stopwatch.GetTimestamp();
            await FetchOnceAsync();
            fetch[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            fetchRoundTrips[i] = meter.Elapsed.TotalMilliseconds;
        }

        // What the registry client hashes to check digests, done raw, belongs to the floor as well.
        var fetched = new byte[bytes];
        var layers = await FetchOnceAsync();
        if (Environment.GetEnvironmentVariable("COLD_VERIFICATION_PROFILE_OFFLINE") is { } profiled && scenario.Name.StartsWith(profiled, StringComparison.Ordinal))
        {
            // For perf record: nothing but this scenario's offline verification, for 20 s.
            var until = Stopwatch.GetTimestamp() + (20 * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < until)
            {
                scenario.VerifyOffline(layers);
            }
        }

        var offline = Time(() => scenario.VerifyOffline(layers), iterations * 10);
        if (scenario.Name.StartsWith("keyless", StringComparison.Ordinal))
        {
            // The same verification when no issuer path is remembered: what every keyless leaf cost before
            // IssuerPathCache, and what the first leaf of each Fulcio intermediate still costs.
            var everyLeafBuilds = Time(() =>
            {
                IssuerPathCache.Clear();
                return scenario.VerifyOffline(layers);
            }, iterations * 10);
            Notes.Add($"{scenario.Name}, offline verification: {offline} ms with the issuer's path remembered, {everyLeafBuilds} ms when the leaf's chain is built");
        }

        var floor = Time(() =>
        {
            SHA256.HashData(fetched);
            return scenario.RawFloor();
        }, iterations * 10);
        return new ScenarioResult(
            Stats.Of(total),
            count,
            bytes,
            Stats.Of(roundTrips),
            Stats.Of([.. fetch.Zip(fetchRoundTrips, (f, r) => f - r)]),
            offline,
            floor,
            Stats.Of([.. total.Select((t, i) => t - roundTrips[i] - (fetch[i] - fetchRoundTrips[i]) - offline.Median)]));
    }

    private static Stats Time(Func<bool> action, int iterations)
    {
        for (var i = 0; i < Math.Min(iterations, 200); i++)
        {
            if (!action())
            {
                throw new InvalidOperationException("the offline check must succeed before it is measured");
            }
        }

        var times = new double[iterations];
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return Stats.Of(times);
    }

    private static async Task<Scenario> KeySignedAsync(RegistryProcess registry, ECDsa key, bool withBundle, PrivateSigstore sigstore)
    {
        var image = await OciContentPusher.PushImageAsync(registry.Distribution, withBundle ? "cold/key-rekor" : "cold/key", "v1");
        var payload = CosignSigner.CreatePayload(image.RepositoryReference, image.Digest);
        var signature = key.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal) { [CosignSigner.SignatureAnnotation] = Convert.ToBase64String(signature) };
        TestRekorBundle? bundle = null;
        if (withBundle)
        {
            var publicKeyPem = key.ExportSubjectPublicKeyInfoPem();
            bundle = TestRekorBundle.Create(sigstore.Rekor, TestRekorBundle.HashedRekordBody(payload, annotations[CosignSigner.SignatureAnnotation], publicKeyPem), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 4242);
            annotations[KeylessSignature.BundleAnnotation] = bundle.ToJson();
        }

        await CosignSigner.PushSignatureAsync(registry.Distribution, image.Repository, image.Digest, payload, annotations);
        var verificationKey = VerificationKey.FromPem(key.ExportSubjectPublicKeyInfoPem());
        var requirements = withBundle
            ? new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey(PrivateSigstore.RekorUrl, VerificationKey.FromPem(sigstore.Rekor.PublicKeyPem)) }
            : SignatureRequirements.None;
        var attestor = new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", verificationKey, requirements);
        var rekorKey = ECDsa.Create();
        rekorKey.ImportFromPem(sigstore.Rekor.PublicKeyPem);
        var signerPolicy = new StaticKeySigner(verificationKey);
        var set = bundle is null ? null : Convert.FromBase64String(bundle.SignedEntryTimestamp);
        var canonical = bundle?.CanonicalPayload();
        return new Scenario(
            withBundle ? "key-signed, Rekor bundle (SET)" : "key-signed, no tlog",
            5,
            image.TagReference,
            Entry([attestor], []),
            Attestation: false,
            layers => CosignVerifier.Verify(layers, image.Digest, signerPolicy, requirements, TimeProvider.System).Verified,
            () => key.VerifyData(payload, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)
                && (set is null || rekorKey.VerifyData(canonical!, set, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)),
            bundle is null
                ? [("simple-signing payload", () => SimpleSigningPayload.TryParse(payload, out _, out _))]
                : [("simple-signing payload", () => SimpleSigningPayload.TryParse(payload, out _, out _)), ("Rekor bundle", () => RekorBundle.TryParse(bundle.ToJson(), out _, out _))]);
    }

    private static async Task<Scenario> KeylessAsync(RegistryProcess registry, PrivateSigstore sigstore)
    {
        var image = await OciContentPusher.PushImageAsync(registry.Distribution, "cold/keyless", "v1");
        var identity = new SigningIdentity("alice@signers.test.example", "https://issuer.test.example");
        var signed = await sigstore.SignAndPushAsync(registry, image, identity);
        var signer = new KeylessSigner(
            new KeylessIdentity(identity.Subject, null, identity.Issuer, null, null),
            roots: [sigstore.Fulcio.Root],
            ignoreSct: false,
            ctLogs: [TransparencyLog.FromKey("ctlog", VerificationKey.FromPem(sigstore.CtLog.PublicKeyPem))]);
        var requirements = new SignatureRequirements { Tlog = TransparencyLogPolicy.WithKey(PrivateSigstore.RekorUrl, VerificationKey.FromPem(sigstore.Rekor.PublicKeyPem)) };
        var attestor = new SignatureAttestorDefinition(".attestors[0].entries[0].keyless", signer, requirements);

        // The raw floor: the same three P-256 verifications (signature, Rekor SET, and an SCT-sized message under the
        // CT log's key) and the one P-384 verification of the leaf by its intermediate, with .NET directly. The whole
        // chain build is only paid for the first leaf of an issuer (IssuerPathCache); it is measured on its own.
        var leafKey = signed.Certificate.GetECDsaPublicKey()!;
        var signature = Convert.FromBase64String(signed.SignatureBase64);
        var rekorKey = ECDsa.Create();
        rekorKey.ImportFromPem(sigstore.Rekor.PublicKeyPem);
        var canonical = signed.Bundle!.CanonicalPayload();
        var set = Convert.FromBase64String(signed.Bundle.SignedEntryTimestamp);
        var ctKey = ECDsa.Create();
        ctKey.ImportFromPem(sigstore.CtLog.PublicKeyPem);
        var sctMessage = new byte[signed.Issued.PrecertificateTbs.Length + 47];
        var sctSignature = sigstore.CtLog.Sign(sctMessage);
        var leaf = X509CertificateLoader.LoadCertificate(signed.Certificate.RawData);
        var root = sigstore.Fulcio.Root;
        var intermediate = sigstore.Fulcio.Intermediate;
        bool BuildChain()
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(root);
            chain.ChainPolicy.ExtraStore.Add(intermediate);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = leaf.NotBefore.AddSeconds(30);
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.3"));
            return chain.Build(leaf);
        }

        var annotations = signed.Annotations;
        bool VerifySignature() => leafKey.VerifyData(signed.Payload, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        bool VerifySet() => rekorKey.VerifyData(canonical, set, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        bool VerifySct() => ctKey.VerifyData(sctMessage, sctSignature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var certificateReader = new AsnReader(leaf.RawData, AsnEncodingRules.DER).ReadSequence();
        var leafTbs = certificateReader.ReadEncodedValue().ToArray();
        certificateReader.ReadSequence();
        var leafSignature = certificateReader.ReadBitString(out _);
        var intermediateKey = intermediate.GetECDsaPublicKey()!;
        bool VerifyLeaf() => intermediateKey.VerifyData(leafTbs, leafSignature, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence);
        return new Scenario(
            "keyless, Rekor bundle and SCT",
            10,
            image.TagReference,
            Entry([attestor], []),
            Attestation: false,
            layers => CosignVerifier.Verify(layers, image.Digest, signer, requirements, TimeProvider.System).Verified,
            () => VerifySignature() && VerifySet() && VerifySct() && VerifyLeaf(),
            [
                ("simple-signing payload", () => SimpleSigningPayload.TryParse(signed.Payload, out _, out _)),
                ("certificate and chain PEM to X509Certificate2", () =>
                {
                    using var certificate = X509Certificate2.CreateFromPem(annotations[KeylessSignature.CertificateAnnotation]);
                    var chain = new X509Certificate2Collection();
                    chain.ImportFromPem(annotations[KeylessSignature.ChainAnnotation]);
                    foreach (var c in chain)
                    {
                        c.Dispose();
                    }

                    return chain.Count == 2;
                }),
                ("Fulcio extensions", () => FulcioCertificate.Read(leaf) is not null),
                ("Rekor bundle", () => RekorBundle.TryParse(annotations[KeylessSignature.BundleAnnotation], out _, out _)),
                ("leaf certificate DER to X509Certificate2", () =>
                {
                    using var certificate = X509CertificateLoader.LoadCertificate(leaf.RawData);
                    return certificate.RawData.Length > 0;
                }),
            ])
        {
            FloorParts =
            [
                ("ECDSA P-256 signature", VerifySignature),
                ("ECDSA P-256 Rekor SET", VerifySet),
                ("ECDSA P-256 SCT-sized message", VerifySct),
                ("ECDSA P-384 leaf certificate by its intermediate", VerifyLeaf),
                ("X509Chain.Build leaf, P-384 intermediate, P-384 root (first leaf of an issuer only)", BuildChain),
            ],
        };
    }

    private static async Task<Scenario> AttestationAsync(RegistryProcess registry, ECDsa key)
    {
        var image = await OciContentPusher.PushImageAsync(registry.Distribution, "cold/attested", "v1");
        var statement = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["_type"] = InTotoStatement.StatementV01,
            ["predicateType"] = PredicateType,
            ["subject"] = new JsonArray(new JsonObject { ["name"] = image.RepositoryReference, ["digest"] = new JsonObject { ["sha256"] = image.Digest["sha256:".Length..] } }),
            ["predicate"] = new JsonObject { ["author"] = "alice@example.com", ["reviewers"] = new JsonArray("bob@example.com", "carol@example.com"), ["repo"] = new JsonObject { ["branch"] = "main", ["uri"] = "https://git.example/app" } },
        }.ToJsonString());
        var pae = DsseEnvelope.PreAuthenticationEncoding(DsseEnvelope.InTotoPayloadType, statement);
        var signature = key.SignData(pae, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var envelope = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["payloadType"] = DsseEnvelope.InTotoPayloadType,
            ["payload"] = Convert.ToBase64String(statement),
            ["signatures"] = new JsonArray(new JsonObject { ["keyid"] = string.Empty, ["sig"] = Convert.ToBase64String(signature) }),
        }.ToJsonString());
        await PushAttestationAsync(registry.Distribution, image, envelope);

        var verificationKey = VerificationKey.FromPem(key.ExportSubjectPublicKeyInfoPem());
        var set = new AttestorSetDefinition(".attestors[0]", null, [new PublicKeyAttestorDefinition(".attestors[0].entries[0].keys", verificationKey)]);

        // What the generator compiles `{{ repo.branch }} Equals main` and `{{ author }} Equals alice@example.com` to.
        ImmutableArray<ConditionDefinition> all =
        [
            new("conditions[0].all[0]", "{{ repo.branch }} Equals main", static (root, _) => root.Field("repo").Field("branch").GetString() == "main"),
            new("conditions[0].all[1]", "{{ author }} Equals alice@example.com", static (root, _) => root.Field("author").GetString() == "alice@example.com"),
        ];
        var attestation = new AttestationDefinition(".attestations[0]", PredicateType, [set], [new ConditionBlockDefinition(any: null, all: all)]);
        var signerPolicy = new StaticKeySigner(verificationKey);
        return new Scenario(
            "attestation with 2 conditions (key-signed DSSE)",
            10,
            image.TagReference,
            Entry([], [attestation]),
            Attestation: true,
            layers =>
            {
                var check = CosignAttestationVerifier.Verify(layers, image.Digest, PredicateType, signerPolicy, SignatureRequirements.None, TimeProvider.System);
                return check.Verified && check.Statements.All(s => attestation.CheckConditions(s.Predicate, null, JmesContext.Default) is null);
            },
            () => key.VerifyData(pae, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence),
            [
                ("DSSE envelope", () => DsseEnvelope.TryParse(envelope, out _, out _)),
                ("in-toto statement", () => InTotoStatement.TryParse(statement, out _, out _)),
            ]);
    }

    /// <summary>A DSSE envelope as cosign attest lays it out: one layer at the <c>sha256-….att</c> tag.</summary>
    private static async Task PushAttestationAsync(DistributionClient distribution, PushedImage image, byte[] envelope)
    {
        var layer = await distribution.PushBlobAsync(image.Repository, envelope);
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":["{{{layer}}}"]},"config":{}}""");
        var configDigest = await distribution.PushBlobAsync(image.Repository, config);
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = new JsonObject { ["mediaType"] = MediaTypes.OciConfig, ["size"] = config.Length, ["digest"] = configDigest },
            ["layers"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = DsseEnvelope.MediaType,
                ["size"] = envelope.Length,
                ["digest"] = layer,
                ["annotations"] = new JsonObject { [CosignSignature.SignatureAnnotation] = string.Empty, ["predicateType"] = PredicateType },
            }),
        };
        await distribution.PutManifestAsync(image.Repository, "sha256-" + Digests.Hex(image.Digest) + ".att", MediaTypes.OciManifest, Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }

    private static ImageVerificationDefinition Entry(ImmutableArray<AttestorDefinition> attestors, ImmutableArray<AttestationDefinition> attestations) => new(
        "verifyImages[0]",
        static _ => true,
        attestors.IsEmpty ? [] : [new AttestorSetDefinition(".attestors[0]", 1, attestors)],
        mutateDigest: true,
        verifyDigest: true,
        required: true,
        repository: null,
        attestations: attestations);
}

internal sealed record Scenario(
    string Name,
    double TargetMs,
    string Image,
    ImageVerificationDefinition Entry,
    bool Attestation,
    Func<IReadOnlyList<CosignSignature>, bool> VerifyOffline,
    Func<bool> RawFloor,
    IReadOnlyList<(string Name, Func<bool> Parse)> Parses)
{
    /// <summary>The raw operations of the floor one by one, where there is more than one.</summary>
    public IReadOnlyList<(string Name, Func<bool> Operation)> FloorParts { get; init; } = [];
}

internal readonly record struct Stats(double Median, double P90)
{
    public static Stats Of(double[] values)
    {
        var sorted = values.Order().ToArray();
        return new Stats(sorted[sorted.Length / 2], sorted[(int)(sorted.Length * 0.9)]);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Median:F3} ({P90:F3})");
}

internal sealed record ScenarioResult(Stats Total, int RoundTrips, long Bytes, Stats RoundTripTime, Stats ClientWork, Stats Offline, Stats Floor, Stats Engine)
{
    public string Row(Scenario scenario) => string.Create(
        CultureInfo.InvariantCulture,
        $"| {scenario.Name} | < {scenario.TargetMs} ms | {Total} | {RoundTrips} ({Bytes:N0} bytes): {RoundTripTime} | {ClientWork} | {Offline} | {Floor} | {Offline.Median - Floor.Median:F3} | {Engine} |");
}

/// <summary>Counts and times the registry round trips, body included, without touching the client's code.</summary>
internal sealed class RoundTripMeter(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private int _count;
    private long _ticks;
    private long _bytes;

    public int Count => Volatile.Read(ref _count);

    public long Bytes => Interlocked.Read(ref _bytes);

    public TimeSpan Elapsed => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

    public void Reset()
    {
        Volatile.Write(ref _count, 0);
        Interlocked.Exchange(ref _ticks, 0);
        Interlocked.Exchange(ref _bytes, 0);
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _ticks, Stopwatch.GetElapsedTime(start).Ticks);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _bytes, response.Content.Headers.ContentLength ?? 0);
        return response;
    }
}
