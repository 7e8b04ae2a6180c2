using System.Collections.Immutable;
using System.Text;
using PolicyCompiler.Runtime.Check;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Telemetry;

namespace PolicyCompiler.Host;

/// <summary>
/// <c>policy-compiler check [--output table|json] [--Registry:…=…] &lt;file|folder|-&gt;…</c>: judges manifests as the
/// webhook would judge their creation, against the real registries, without a cluster (CI, pre-commit).
/// </summary>
public static class CheckCommand
{
    public const string Usage = """
        Usage: policy-compiler check [options] <file|folder|-> [...]

        Judges Kubernetes manifests as this webhook would judge their creation (mutating pass, then validating pass),
        verifying images against the real registries with the policies compiled into this binary.

        Inputs: YAML (multi-document) or JSON files; folders are searched recursively for *.yaml, *.yml and *.json;
        '-' reads standard input. Objects without metadata.namespace are judged in namespace 'default'.

        Options:
          -o, --output table|json   table (default): one row per resource, policy, rule and image, then a summary;
                                    json: every resource (also those no rule applies to) and every input error
          --Registry:<key>=<value>  registry settings, as for the webhook (e.g. --Registry:InsecureRegistries:0=127.0.0.1:5000,
                                    --Registry:CredentialFiles:0=$HOME/.docker/config.json); also Cache:* and
                                    Sigstore:TrustedRootFile; environment variables (Registry__InsecureRegistries__0) work too
          --Kubernetes:NamespaceLabels:<namespace>:<key>=<value>
                                    namespace labels for namespaceSelector (or Kubernetes:ApiServer to read them)
          -h, --help                this text

        Exit codes: 0 every resource is admitted (warnings from Audit policies included), 1 a resource would be denied,
        2 usage error or unreadable input (the other inputs are still checked and reported).
        """;

    private static readonly string[] ConfigurationSections = ["Registry:", "Cache:", "Sigstore:", "Kubernetes:"];

    public static async Task<int> RunAsync(string[] args, ImmutableArray<PolicyDefinition> policies, TextReader input, Stream output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);

        var json = false;
        var paths = new List<string>();
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var onlyPaths = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (onlyPaths || arg == "-" || !arg.StartsWith('-'))
            {
                paths.Add(arg);
                continue;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? arg : arg[..equals];
            string? Value() => equals >= 0 ? arg[(equals + 1)..] : i + 1 < args.Length ? args[++i] : null;
            switch (name)
            {
                case "--":
                    onlyPaths = true;
                    break;
                case "-h" or "--help":
                    using (var writer = Writer(output))
                    {
                        writer.Write(Usage);
                    }

                    return CheckReport.ExitAllowed;
                case "-o" or "--output":
                    switch (Value())
                    {
                        case "table":
                            json = false;
                            break;
                        case "json":
                            json = true;
                            break;
                        case var other:
                            return UsageError(error, $"--output takes table or json, not '{other}'");
                    }

                    break;
                case var key when key.StartsWith("--", StringComparison.Ordinal) && ConfigurationSections.Any(s => key[2..].StartsWith(s, StringComparison.OrdinalIgnoreCase)):
                    if (Value() is not { } value)
                    {
                        return UsageError(error, $"{key} needs a value");
                    }

                    settings[key[2..]] = value;
                    break;
                default:
                    return UsageError(error, $"unknown option {name}");
            }
        }

        if (paths.Count == 0)
        {
            return UsageError(error, "no manifests given: name files, folders or '-' for standard input");
        }

        // As in the webhook, bad settings (an unreadable CA bundle, an invalid retry count) stop the run before any input is read.
        var metrics = new WebhookMetrics();
        ImageVerifier verifier;
        AdmissionEngineServices services;
        try
        {
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddInMemoryCollection(settings).Build();
            verifier = VerificationServices.FromConfiguration(configuration)
                .CreateImageVerifier(TimeProvider.System, metrics, problem => error.WriteLine("warning: " + problem), message => error.WriteLine(message), KubernetesSources.SecretKeysFromConfiguration(configuration, TimeProvider.System));
            var pullSecrets = KubernetesSources.PullSecretsFromConfiguration(configuration, TimeProvider.System);
            var serviceCalls = KubernetesSources.ServiceCallsFromConfiguration(configuration);
            services = new AdmissionEngineServices
            {
                Metrics = metrics,
                Namespaces = KubernetesSources.FromConfiguration(configuration, TimeProvider.System, policies),
                PullSecrets = pullSecrets,
                WebhookNamespace = KubernetesSources.WebhookNamespace(configuration),
                HostPullSecrets = KubernetesSources.HostPullSecrets(configuration, pullSecrets),
                ContextData = KubernetesSources.ContextDataFromConfiguration(configuration, TimeProvider.System),
                RoleBindings = KubernetesSources.RoleBindingsFromConfiguration(configuration, TimeProvider.System, policies),
                Exclusions = KubernetesSources.Exclusions(configuration),
                ServiceCalls = serviceCalls,
                GlobalContext = KubernetesSources.GlobalContextFromConfiguration(configuration, TimeProvider.System, serviceCalls),
            };
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException or System.Security.Cryptography.CryptographicException)
        {
            return UsageError(error, "invalid configuration: " + e.Message);
        }

        var documents = new List<ManifestDocument>();
        foreach (var path in paths)
        {
            documents.AddRange(await ReadAsync(path, input).ConfigureAwait(false));
        }

        var checker = new ManifestChecker(new AdmissionEngine(policies, verifier, services));
        var resources = new List<ResourceReport>();
        var errors = new List<ManifestDocument>();
        foreach (var document in documents)
        {
            if (document.Object is null)
            {
                errors.Add(document);
                error.WriteLine($"error: {document.Location}: {document.Error}");
                continue;
            }

            resources.Add(await checker.CheckAsync(document, CancellationToken.None).ConfigureAwait(false));
        }

        var report = new CheckReport(resources, errors);
        if (json)
        {
            report.WriteJson(output);
            await output.WriteAsync("\n"u8.ToArray()).ConfigureAwait(false);
        }
        else
        {
            using var writer = Writer(output);
            report.WriteTable(writer);
        }

        await output.FlushAsync().ConfigureAwait(false);
        return report.ExitCode;
    }

    /// <summary>
    /// The documents of one argument. A folder yields its manifests in ordinal path order, so reports of the same
    /// tree compare line by line between runs; a file that cannot be read is an error entry, not the end of the run.
    /// </summary>
    private static async Task<IReadOnlyList<ManifestDocument>> ReadAsync(string path, TextReader input)
    {
        if (path == "-")
        {
            return ManifestReader.Read("<stdin>", await input.ReadToEndAsync().ConfigureAwait(false));
        }

        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false })
                .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".yaml" or ".yml" or ".json")
                .Order(StringComparer.Ordinal);
            var documents = new List<ManifestDocument>();
            try
            {
                foreach (var file in files)
                {
                    documents.AddRange(await ReadFileAsync(file).ConfigureAwait(false));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                documents.Add(new ManifestDocument(path, 0, 0, null, "cannot list the folder: " + e.Message));
            }

            return documents;
        }

        return await ReadFileAsync(path).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<ManifestDocument>> ReadFileAsync(string file)
    {
        try
        {
            return ManifestReader.Read(file, await File.ReadAllTextAsync(file).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [new ManifestDocument(file, 0, 0, null, "cannot read: " + e.Message)];
        }
    }

    private static StreamWriter Writer(Stream output) => new(output, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\n" };

    private static int UsageError(TextWriter error, string message)
    {
        error.WriteLine("check: " + message);
        error.WriteLine("Run 'policy-compiler check --help' for usage.");
        return CheckReport.ExitInputError;
    }
}
