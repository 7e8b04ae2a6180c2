using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>A user of an htpasswd-protected registry. The hash is bcrypt (the only scheme distribution reads).</summary>
public sealed record RegistryCredentials(string UserName, string Password, string BcryptHash)
{
    /// <summary>A fixed test user; its hash is bcrypt (cost 5) of its password, made once with libxcrypt.</summary>
    public static RegistryCredentials TestUser { get; } = new("e2e", "e2e-password", "$2b$05$dTlOuABGH3293IMpRwK1Ve4mqIpl3RDPbt7YimcopG/iMUrv1eCz.");

    public AuthenticationHeaderValue ToBasicHeader() =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(UserName + ":" + Password)));
}

/// <summary>What a registry variant switches on.</summary>
public sealed record RegistryOptions
{
    /// <summary>Serve HTTPS with this certificate instead of plain HTTP.</summary>
    public TestCertificate? Tls { get; init; }

    /// <summary>Require this user through htpasswd basic auth.</summary>
    public RegistryCredentials? Credentials { get; init; }

    /// <summary>Last word on the configuration, for variants the options above do not cover.</summary>
    public Action<RegistryConfigBuilder>? Configure { get; init; }
}

/// <summary>
/// Debian's <c>docker-registry</c> (distribution 2.8) serving a temp folder on 127.0.0.1 and a free port.
/// Started by <see cref="StartAsync"/>, which returns once <c>GET /v2/</c> answers; killed on dispose.
/// </summary>
public sealed class RegistryProcess : IDisposable
{
    /// <summary>Where the registry binary is; CI installs it with <c>apt-get install docker-registry</c>.</summary>
    public static string Executable => Environment.GetEnvironmentVariable("POLICYCOMPILER_E2E_REGISTRY") ?? "/usr/bin/docker-registry";

    private readonly TempDirectory _directory;
    private readonly ChildProcess _process;
    private readonly Lazy<DistributionClient> _distribution;

    private RegistryProcess(TempDirectory directory, ChildProcess process, int port, RegistryOptions options, string configuration)
    {
        _directory = directory;
        _process = process;
        Port = port;
        Options = options;
        Configuration = configuration;
        _distribution = new Lazy<DistributionClient>(() => new DistributionClient(CreateHttpClient(), Host));
    }

    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>: the registry part of image references.</summary>
    public string Host => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public bool IsTls => Options.Tls is not null;

    public Uri BaseUri => new((IsTls ? "https://" : "http://") + Host + "/");

    public RegistryOptions Options { get; }

    /// <summary>The YAML the registry was started with.</summary>
    public string Configuration { get; }

    public string StorageDirectory => _directory.Combine("storage");

    /// <summary>The registry's own log so far (it logs to stderr, access log included).</summary>
    public string Log => _process.Log;

    public bool HasExited => _process.HasExited;

    /// <summary>A client of the distribution API, authenticated and TLS-pinned as this registry needs.</summary>
    public DistributionClient Distribution => _distribution.Value;

    public static async Task<RegistryProcess> StartAsync(RegistryOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new RegistryOptions();
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException($"{Executable} is missing: install Debian's docker-registry package (apt-get install docker-registry), or point POLICYCOMPILER_E2E_REGISTRY at the binary");
        }

        const int attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var directory = new TempDirectory("registry");
            RegistryProcess? registry = null;
            try
            {
                registry = Launch(directory, FreeTcpPort.Pick(), options);
                await registry.WaitUntilAnsweringAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
                return registry;
            }
            catch (RegistryStartException) when (attempt < attempts)
            {
                // Most likely the free port was taken between picking and binding: try another one.
                registry?.Dispose();
                directory.Dispose();
            }
            catch
            {
                if (registry is null)
                {
                    directory.Dispose();
                }
                else
                {
                    registry.Dispose();
                }

                throw;
            }
        }
    }

    private static RegistryProcess Launch(TempDirectory directory, int port, RegistryOptions options)
    {
        var storage = directory.CreateSubdirectory("storage");
        var builder = new RegistryConfigBuilder(storage, port);
        if (options.Tls is { } tls)
        {
            var (certificateFile, keyFile) = tls.WritePemFiles(directory.Path, "registry-tls");
            builder.WithTls(certificateFile, keyFile);
        }

        if (options.Credentials is { } credentials)
        {
            var htpasswd = directory.Combine("htpasswd");
            File.WriteAllText(htpasswd, credentials.UserName + ":" + credentials.BcryptHash + "\n", Encoding.ASCII);
            builder.WithHtpasswd(htpasswd);
        }

        options.Configure?.Invoke(builder);
        var configuration = builder.Build();
        var configFile = directory.Combine("config.yml");
        File.WriteAllText(configFile, configuration);

        var process = ChildProcess.Start(Executable, ["serve", configFile], directory.Path);
        return new RegistryProcess(directory, process, port, options, configuration);
    }

    /// <summary>An HTTP client for this registry: pinned to its certificate when TLS, with basic auth when protected.</summary>
    public HttpClient CreateHttpClient(bool authenticate = true)
    {
        var client = Options.Tls is { } tls
            ? tls.CreatePinnedClient(BaseUri)
            : new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10) }, disposeHandler: true) { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(60) };
        if (authenticate && Options.Credentials is { } credentials)
        {
            client.DefaultRequestHeaders.Authorization = credentials.ToBasicHeader();
        }

        return client;
    }

    /// <summary>A message for a failed assertion: what the registry logged.</summary>
    public string Describe() => $"registry {Host} ({(HasExited ? "exited " + _process.ExitCode : "running")}), log:\n{_process.LogTail()}";

    public void Dispose()
    {
        if (_distribution.IsValueCreated)
        {
            _distribution.Value.Dispose();
        }

        _process.Dispose();
        _directory.Dispose();
    }

    private async Task WaitUntilAnsweringAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var client = CreateHttpClient();
        client.Timeout = TimeSpan.FromSeconds(5);
        var stopwatch = Stopwatch.StartNew();
        Exception? last = null;
        while (stopwatch.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new RegistryStartException($"docker-registry exited with {_process.ExitCode} before answering.\nconfig:\n{Configuration}\nlog:\n{_process.Log}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri("v2/", UriKind.Relative), cancellationToken).ConfigureAwait(false);
                // Any answer from the API root means the server is up; 401 is the answer of a protected registry.
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return;
                }

                last = new HttpRequestException($"GET /v2/ answered {(int)response.StatusCode}");
            }
            catch (HttpRequestException e)
            {
                last = e;
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                last = e;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"docker-registry did not answer GET {BaseUri}v2/ within {timeout.TotalSeconds:F0}s (last: {last?.Message}).\nconfig:\n{Configuration}\nlog:\n{_process.Log}");
    }

    private sealed class RegistryStartException(string message) : Exception(message);
}
