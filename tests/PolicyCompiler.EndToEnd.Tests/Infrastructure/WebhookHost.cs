using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>The webhook binary produced by <see cref="WebhookPublisher"/>.</summary>
public sealed record PublishedWebhook(string Executable, string PolicyDirectory, TimeSpan PublishTime, string PublishOutput);

/// <summary>
/// Publishes the product as CI ships it: <c>dotnet publish host/PolicyCompiler.Host.csproj</c>, Release,
/// linux-x64, NativeAOT, with the given folder's policies compiled in.
/// </summary>
public static class WebhookPublisher
{
    public const string BinaryName = "policy-compiler";

    /// <summary>NativeAOT on two cores takes minutes; a cold NuGet cache adds more.</summary>
    public static TimeSpan Timeout { get; } = TimeSpan.FromMinutes(20);

    public static async Task<PublishedWebhook> PublishAsync(string policyDirectory, string outputDirectory, string artifactsDirectory, CancellationToken cancellationToken = default)
    {
        var project = RepositoryPaths.HostProject;
        if (!File.Exists(project))
        {
            throw new InvalidOperationException($"{project} does not exist: the webhook host cannot be published");
        }

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath) ? hostPath : "dotnet";
        string[] arguments =
        [
            "publish", project,
            "-c", "Release",
            "-r", "linux-x64",
            // PublishAot=true comes from the host project itself. Given on the command line it becomes a
            // global property that also reaches the netstandard2.0 generator project, which then fails
            // with NETSDK1207 ("Ahead-of-time compilation is not supported for the target framework").
            // The output is checked to be native below instead.
            "-p:PolicyDirectory=" + policyDirectory,
            "-o", outputDirectory,
            // bin/ and obj/ of host, runtime and generators go here, not into the work tree, so that the
            // publish neither races nor rewrites the restore state of builds running there.
            "--artifacts-path", artifactsDirectory,
            // No MSBuild nodes or compiler servers outlive the publish (they would also hold its output pipes open).
            "--disable-build-servers",
            "-nologo",
            "-clp:NoSummary;ForceNoAlign",
        ];

        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
        };

        // The test host may run inside an MSBuild-launched process whose variables would steer the nested build.
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            if (name.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || name.StartsWith("VSTEST_", StringComparison.OrdinalIgnoreCase))
            {
                environment[name] = null;
            }
        }

        var result = await ProcessRunner.RunAsync(dotnet, arguments, Timeout, RepositoryPaths.Root, environment, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"publishing the webhook failed (exit {result.ExitCode}, {result.Elapsed.TotalSeconds:F0}s):\n{result.CommandLine}\n{Summarize(result.Output)}");
        }

        var executable = Path.Combine(outputDirectory, BinaryName);
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException($"publish succeeded but {executable} is missing; the output folder holds: {string.Join(", ", Directory.EnumerateFileSystemEntries(outputDirectory).Select(Path.GetFileName))}\n{result.Output}");
        }

        // NativeAOT: one native executable, no managed entry assembly beside it.
        var managed = Path.Combine(outputDirectory, BinaryName + ".dll");
        if (File.Exists(managed) || !IsElf(executable))
        {
            throw new InvalidOperationException($"publish produced a framework-dependent app, not a NativeAOT binary ({managed} exists or {executable} is not ELF):\n{result.Output}");
        }

        return new PublishedWebhook(executable, policyDirectory, result.Elapsed, result.Output);
    }

    /// <summary>The distinct error lines of a build log (MSBuild repeats them), then its last lines.</summary>
    private static string Summarize(string output)
    {
        var lines = output.Split('\n');
        var errors = lines.Where(l => l.Contains(" error ", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        var tail = lines.Length > 40 ? lines[^40..] : lines;
        return (errors.Count > 0 ? "errors:\n" + string.Join('\n', errors) + "\n\n" : string.Empty)
            + (tail.Length < lines.Length ? "last lines of the output:\n" : "output:\n")
            + string.Join('\n', tail.Where(l => !errors.Contains(l)));
    }

    public static bool IsElf(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var file = File.OpenRead(path);
        return file.Read(magic) == 4 && magic.SequenceEqual("\u007fELF"u8);
    }
}

/// <summary>
/// The published webhook running as a process on 127.0.0.1 over HTTPS (a per-run self-signed certificate
/// that its client pins), started by <see cref="StartAsync"/> once <c>GET /healthz</c> answers 200, killed on dispose.
/// </summary>
public sealed class WebhookHost : IDisposable
{
    private readonly ChildProcess _process;

    private WebhookHost(ChildProcess process, int port, IReadOnlyList<string> arguments, HttpClient client)
    {
        _process = process;
        Port = port;
        Arguments = arguments;
        Client = client;
    }

    public int Port { get; }

    public Uri BaseUri => new("https://127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture) + "/");

    public IReadOnlyList<string> Arguments { get; }

    /// <summary>A client that trusts the webhook's certificate and nothing else.</summary>
    public HttpClient Client { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>The operating-system process id (for memory readings in the load test).</summary>
    public int ProcessId => _process.Id;

    public string Log => _process.Log;

    /// <summary>A message for a failed assertion: the process state and the end of its log.</summary>
    public string Describe() =>
        $"webhook {BaseUri} ({(HasExited ? "exited " + _process.ExitCode : "running")}), started as: {_process.DisplayName}\nlog:\n{_process.LogTail()}";

    /// <param name="registries">Registries the webhook must reach over plain HTTP (<c>127.0.0.1:port</c>).</param>
    public static async Task<WebhookHost> StartAsync(
        PublishedWebhook webhook,
        TestCertificate certificate,
        string workDirectory,
        IEnumerable<string> registries,
        IEnumerable<string>? extraArguments = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(webhook);
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(registries);
        var (certificateFile, keyFile) = certificate.WritePemFiles(workDirectory, "webhook-tls");

        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var port = FreeTcpPort.Pick();
            var arguments = new List<string>
            {
                "--urls", "https://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
                "--Tls:CertificateFile=" + certificateFile,
                "--Tls:KeyFile=" + keyFile,
            };
            var index = 0;
            foreach (var registry in registries)
            {
                arguments.Add($"--Registry:InsecureRegistries:{index++}={registry}");
            }

            arguments.AddRange(extraArguments ?? []);
            var process = ChildProcess.Start(webhook.Executable, arguments, workDirectory);
            var client = certificate.CreatePinnedClient(new Uri("https://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture) + "/"), TimeSpan.FromSeconds(90));
            var host = new WebhookHost(process, port, arguments, client);
            try
            {
                await host.WaitUntilHealthyAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
                return host;
            }
            catch (InvalidOperationException) when (attempt < attempts && process.HasExited && process.Log.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                host.Dispose();
            }
            catch
            {
                host.Dispose();
                throw;
            }
        }
    }

    /// <summary>GET /healthz; the status code (or the connection failure) is the answer.</summary>
    public async Task<HttpStatusCode> GetHealthAsync(CancellationToken cancellationToken = default)
    {
        using var response = await Client.GetAsync(new Uri("healthz", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        return response.StatusCode;
    }

    public void Dispose()
    {
        Client.Dispose();
        _process.Dispose();
    }

    private async Task WaitUntilHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        string last = "no answer yet";
        while (stopwatch.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the webhook exited with {_process.ExitCode} before /healthz answered.\n{Describe()}");
            }

            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(TimeSpan.FromSeconds(5));
                var status = await GetHealthAsync(attempt.Token).ConfigureAwait(false);
                if (status == HttpStatusCode.OK)
                {
                    return;
                }

                last = "GET /healthz answered " + (int)status;
            }
            catch (HttpRequestException e)
            {
                last = e.Message + (e.InnerException is { } inner ? " (" + inner.Message + ")" : string.Empty);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                last = "GET /healthz timed out";
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"the webhook did not answer GET /healthz with 200 within {timeout.TotalSeconds:F0}s (last: {last}).\n{Describe()}");
    }
}
