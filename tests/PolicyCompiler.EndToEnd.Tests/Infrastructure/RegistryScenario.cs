using System.Text;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The processes of one registry test: its own registries (htpasswd, TLS, token auth) and its own webhook processes
/// started from the binary the <see cref="WebhookFixture"/> published once, with the registry configuration the test
/// needs. Everything is stopped and deleted on dispose.
/// </summary>
public sealed class RegistryScenario(WebhookFixture fixture, string name) : IDisposable
{
    private readonly List<RegistryProcess> _registries = [];
    private readonly List<WebhookHost> _hosts = [];

    public TempDirectory Work { get; } = new(name);

    public WebhookFixture Fixture { get; } = fixture;

    public async Task<RegistryProcess> StartRegistryAsync(RegistryOptions? options = null)
    {
        var registry = await RegistryProcess.StartAsync(options).ConfigureAwait(false);
        _registries.Add(registry);
        return registry;
    }

    /// <summary>Starts the published webhook with <paramref name="insecureRegistries"/> and extra <c>--Registry:…</c> arguments.</summary>
    public async Task<WebhookHost> StartWebhookAsync(IEnumerable<string> insecureRegistries, params string[] arguments)
    {
        var directory = Work.CreateSubdirectory("webhook-" + (_hosts.Count + 1));
        var host = await WebhookHost.StartAsync(Fixture.Published, Fixture.Certificate, directory, insecureRegistries, arguments).ConfigureAwait(false);
        _hosts.Add(host);
        return host;
    }

    /// <summary>Builds, pushes (skopeo) and signs with the policy's key an image in <paramref name="registry"/>.</summary>
    public async Task<PushedImage> PushSignedImageAsync(RegistryProcess registry, string repository)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var image = await OciImageBuilder.BuildAndPushAsync(registry, Work.CreateSubdirectory("images"), repository, "v1").ConfigureAwait(false);
        await Fixture.Signer.SignAsync(registry, image).ConfigureAwait(false);
        return image;
    }

    public string WriteFile(string fileName, string content)
    {
        var path = Work.Combine(fileName);
        File.WriteAllText(path, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        return path;
    }

    /// <summary>Logs of every process of the scenario, for assertion messages.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        foreach (var host in _hosts)
        {
            text.Append(host.Describe()).Append('\n');
        }

        foreach (var registry in _registries)
        {
            text.Append(registry.Describe()).Append('\n');
        }

        return text.ToString();
    }

    public void Dispose()
    {
        foreach (var host in _hosts)
        {
            host.Dispose();
        }

        foreach (var registry in _registries)
        {
            registry.Dispose();
        }

        Work.Dispose();
    }
}
