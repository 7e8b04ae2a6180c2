using PolicyCompiler.Generated;
using PolicyCompiler.Host;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Telemetry;

// Subcommands run instead of the webhook: the binary describes its own deployment.
if (args.Length > 0 && args[0] == "manifests")
{
    return ManifestCommand.Run(args[1..], PolicyCatalog.All, Console.Out, Console.Error);
}

if (args.Length > 0 && args[0] == "check")
{
    return await CheckCommand.RunAsync(args[1..], PolicyCatalog.All, Console.In, Console.OpenStandardOutput(), Console.Error);
}

// The first TLS handshake waits for the system trust store, which building the server certificate's context loads
// (~120 ms of certificate parsing in OpenSSL 3.0, measured). Loading starts now, beside the rest of start-up.
_ = Task.Run(ServerCertificateProvider.LoadSystemTrustStore);

// The content root is the binary's folder, not the working directory, and configuration files are not watched: the
// default watches the working directory recursively (measured at about 400 ms of start-up from /tmp), and nothing here
// needs appsettings.json reloaded (certificates and credentials have their own change checks).
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
{
    Args = ["--hostBuilder:reloadConfigOnChange=false", .. args],
    ContentRootPath = AppContext.BaseDirectory,
});

builder.Logging.ClearProviders();
builder.Logging.AddJsonConsole(o => o.IncludeScopes = false);

var verification = VerificationServices.FromConfiguration(builder.Configuration);
var tlsOptions = new TlsOptions();
builder.Configuration.GetSection("Tls").Bind(tlsOptions);

var certificates = new ServerCertificateProvider(tlsOptions, TimeProvider.System);
builder.WebHost.UseKestrelHttpsConfiguration();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    TransportLimits.Apply(kestrel);
    kestrel.ConfigureHttpsDefaults(https =>
    {
        TransportLimits.Apply(https);

        // Kestrel requires a certificate source; the prepared context then replaces its per-handshake selection.
        https.ServerCertificateSelector = (_, _) => certificates.Current;
        https.OnAuthenticate = (_, ssl) =>
        {
            ssl.ServerCertificateSelectionCallback = null;
            ssl.ServerCertificateContext = certificates.CurrentContext;
        };
    });
});

var metrics = new WebhookMetrics();
builder.Services.AddSingleton(certificates);
builder.Services.AddSingleton(metrics);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp =>
{
    // Problems are logged by file path, never with content.
    var registryLog = sp.GetRequiredService<ILoggerFactory>().CreateLogger("PolicyCompiler.Registry");
    var time = sp.GetRequiredService<TimeProvider>();
    return verification.CreateImageVerifier(time, metrics, problem => registryLog.LogWarning("{Problem}", problem), message => registryLog.LogInformation("{Message}", message), KubernetesSources.SecretKeysFromConfiguration(builder.Configuration, time));
});
var pullSecretSource = KubernetesSources.PullSecretsFromConfiguration(builder.Configuration, TimeProvider.System);
var hostPullSecrets = KubernetesSources.HostPullSecrets(builder.Configuration, pullSecretSource);
var serviceCalls = KubernetesSources.ServiceCallsFromConfiguration(builder.Configuration);
builder.Services.AddSingleton(sp =>
{
    var configuration = builder.Configuration;
    var time = sp.GetRequiredService<TimeProvider>();
    return new AdmissionEngine(
        PolicyCatalog.All,
        sp.GetRequiredService<ImageVerifier>(),
        new AdmissionEngineServices
        {
            Metrics = metrics,
            Namespaces = KubernetesSources.FromConfiguration(configuration, time, PolicyCatalog.All),
            PullSecrets = pullSecretSource,
            WebhookNamespace = KubernetesSources.WebhookNamespace(configuration),
            HostPullSecrets = hostPullSecrets,
            ContextData = KubernetesSources.ContextDataFromConfiguration(configuration, time),
            RoleBindings = KubernetesSources.RoleBindingsFromConfiguration(configuration, time, PolicyCatalog.All),
            Exclusions = KubernetesSources.Exclusions(configuration),
            ServiceCalls = serviceCalls,
            GlobalContext = KubernetesSources.GlobalContextFromConfiguration(configuration, time, serviceCalls),
        });
});

var app = builder.Build();

var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PolicyCompiler");
certificates.LogSource(logger);
foreach (var policy in PolicyCatalog.All)
{
    logger.LogInformation("Compiled policy {Policy} ({Rules} rules) from {Source}", policy.Namespace is null ? policy.Name : policy.Namespace + "/" + policy.Name, policy.Rules.Length, policy.SourcePath);
}

// Resolve the engine (and with it the compiled policies and their keys, the registry credentials and CA bundle)
// before the first review arrives: a bad credential file or CA bundle stops the process here.
app.Services.GetRequiredService<AdmissionEngine>();

app.MapAdmission(PolicyCatalog.All);
app.MapGet("/healthz", () => "ok");
app.MapGet("/readyz", () => "ok");
app.MapGet("/metrics", (WebhookMetrics m) => Results.Text(m.Registry.Render(), "text/plain; version=0.0.4; charset=utf-8"));

app.Run();
return 0;
