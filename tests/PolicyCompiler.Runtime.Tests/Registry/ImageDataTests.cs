using System.Text.Json;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>
/// <c>imageRegistry</c> context entries: <see cref="RegistryImageData"/> reading Kyverno's image data object from the real
/// docker-registry, and <see cref="ContextLoader"/> substituting the reference and applying the entry's jmesPath.
/// </summary>
public sealed class ImageDataTests(DockerRegistryFixture fixture) : IClassFixture<DockerRegistryFixture>, IDisposable
{
    private readonly RegistryClient _client = fixture.CreateClient();
    private readonly FakeTimeProvider _time = new();

    private DockerRegistryProcess Registry => fixture.Registry;

    public void Dispose() => _client.Dispose();

    private RegistryImageData Data() => new(_client, TimeSpan.FromSeconds(30), _time);

    private async Task<JsonElement> ServedAsync(string repository, string reference) =>
        JsonDocument.Parse(await ServedBytesAsync(repository, reference)).RootElement.Clone();

    private async Task<byte[]> ServedBytesAsync(string repository, string reference)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"v2/{repository}/manifests/{reference}", UriKind.Relative));
        request.Headers.Accept.ParseAdd(DockerRegistryProcess.OciManifest);
        using var response = await Registry.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync();
    }

    [Fact]
    public async Task Tag_reference_gives_every_member_kyverno_gives()
    {
        var repository = "apps/data-" + DockerRegistryFixture.Unique();
        var digest = await Registry.PushImageAsync(repository, "v1");
        var reference = $"{Registry.Host}/{repository}:v1";

        var data = await Data().GetImageDataAsync(reference, CancellationToken.None);

        // Sorted as Go's JSON encoder writes a map.
        Assert.Equal(["configData", "identifier", "image", "manifest", "registry", "repository", "resolvedImage"], data.EnumerateObject().Select(p => p.Name));
        Assert.Equal(reference, data.GetProperty("image").GetString());
        Assert.Equal($"{Registry.Host}/{repository}@{digest}", data.GetProperty("resolvedImage").GetString());
        Assert.Equal(Registry.Host, data.GetProperty("registry").GetString());
        Assert.Equal(repository, data.GetProperty("repository").GetString());
        Assert.Equal("v1", data.GetProperty("identifier").GetString());
        Assert.Equal((await ServedAsync(repository, "v1")).GetRawText(), data.GetProperty("manifest").GetRawText());
        Assert.Equal("amd64", data.GetProperty("configData").GetProperty("architecture").GetString());
        Assert.Equal(1, data.GetProperty("manifest").GetProperty("layers").GetArrayLength());
    }

    [Fact]
    public async Task Identifier_is_the_digest_or_tag_at_digest_as_written()
    {
        var repository = "apps/ident-" + DockerRegistryFixture.Unique();
        var digest = await Registry.PushImageAsync(repository, "v2");
        var data = Data();

        var byDigest = await data.GetImageDataAsync($"{Registry.Host}/{repository}@{digest}", CancellationToken.None);
        var pinned = await data.GetImageDataAsync($"{Registry.Host}/{repository}:v2@{digest}", CancellationToken.None);
        var untagged = await data.GetImageDataAsync($"{Registry.Host}/{repository}", CancellationToken.None).AsTask().ContinueWith(t => t.Exception?.InnerException, TaskScheduler.Default);

        Assert.Equal(digest, byDigest.GetProperty("identifier").GetString());
        Assert.Equal("v2@" + digest, pinned.GetProperty("identifier").GetString());
        Assert.Equal($"{Registry.Host}/{repository}@{digest}", pinned.GetProperty("resolvedImage").GetString());

        // No tag means latest, which this repository does not have: the registry's 404 fails the rule, it is no outage.
        var missing = Assert.IsType<ContextDataException>(untagged);
        Assert.False(missing.IsTransient);
        Assert.StartsWith($"failed to fetch image descriptor: {Registry.Host}/{repository}, error: ", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Index_resolves_to_the_index_digest_with_the_linux_amd64_manifest_and_config()
    {
        var repository = "apps/multi-" + DockerRegistryFixture.Unique();
        var (index, children) = await Registry.PushIndexAsync(repository, "v1");

        var data = await Data().GetImageDataAsync($"{Registry.Host}/{repository}:v1", CancellationToken.None);

        Assert.Equal($"{Registry.Host}/{repository}@{index}", data.GetProperty("resolvedImage").GetString());
        Assert.Equal((await ServedAsync(repository, children[0])).GetRawText(), data.GetProperty("manifest").GetRawText());
        Assert.Equal("amd64", data.GetProperty("configData").GetProperty("architecture").GetString());
    }

    [Fact]
    public async Task Index_without_a_linux_amd64_child_fails_the_entry()
    {
        var repository = "apps/arm-" + DockerRegistryFixture.Unique();
        var child = await Registry.PushImageAsync(repository, "arm-build", "arm64");
        var size = (await ServedBytesAsync(repository, child)).Length;
        var index = $$$"""{"schemaVersion":2,"mediaType":"{{{DockerRegistryProcess.OciIndex}}}","manifests":[{"mediaType":"{{{DockerRegistryProcess.OciManifest}}}","digest":"{{{child}}}","size":{{{size}}},"platform":{"architecture":"arm64","os":"linux"}}]}""";
        var indexDigest = await Registry.PutManifestAsync(repository, "v1", DockerRegistryProcess.OciIndex, System.Text.Encoding.UTF8.GetBytes(index));

        var error = await Assert.ThrowsAsync<ContextDataException>(async () => await Data().GetImageDataAsync($"{Registry.Host}/{repository}:v1", CancellationToken.None));

        Assert.False(error.IsTransient);
        Assert.EndsWith($"no child with platform linux/amd64 in index {indexDigest}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Answers_are_kept_for_their_time_to_live_per_credential_scope()
    {
        var repository = "apps/cached-" + DockerRegistryFixture.Unique();
        var first = await Registry.PushImageAsync(repository, "v1");
        var reference = $"{Registry.Host}/{repository}:v1";
        var data = Data();
        var before = await data.GetImageDataAsync(reference, CancellationToken.None);

        var second = await Registry.PushImageAsync(repository, "v1");
        var kept = await data.GetImageDataAsync(reference, CancellationToken.None);
        var otherScope = await Task.Run(async () =>
        {
            RegistryCredentialScope.Enter(new RegistryCredentialScope.Scope("kyverno/regcred", []));
            return await data.GetImageDataAsync(reference, CancellationToken.None);
        });
        _time.Advance(TimeSpan.FromSeconds(31));
        var after = await data.GetImageDataAsync(reference, CancellationToken.None);

        Assert.NotEqual(first, second);
        Assert.EndsWith("@" + first, before.GetProperty("resolvedImage").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("@" + first, kept.GetProperty("resolvedImage").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("@" + second, otherScope.GetProperty("resolvedImage").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("@" + second, after.GetProperty("resolvedImage").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Registry_that_cannot_be_reached_is_a_transient_error()
    {
        var options = new RegistryOptions { MaxAttempts = 1 };
        var port = FreePort();
        options.InsecureRegistries.Add("127.0.0.1:" + port);
        using var client = new RegistryClient(options);

        var error = await Assert.ThrowsAsync<ContextDataException>(async () => await new RegistryImageData(client, TimeSpan.FromSeconds(30), _time).GetImageDataAsync($"127.0.0.1:{port}/apps/app:v1", CancellationToken.None));

        Assert.True(error.IsTransient, error.Message);
        Assert.StartsWith($"failed to fetch image descriptor: 127.0.0.1:{port}/apps/app:v1, error: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_reference_fails_the_entry_without_a_registry_call()
    {
        var error = await Assert.ThrowsAsync<ContextDataException>(async () => await Data().GetImageDataAsync("UPPER/Case:v1", CancellationToken.None));

        Assert.False(error.IsTransient);
        Assert.StartsWith("failed to fetch image descriptor: UPPER/Case:v1, error: failed to parse image reference: UPPER/Case:v1", error.Message, StringComparison.Ordinal);
    }

    private static JmesObject Admission(string image) =>
        new JmesObject(1).Set("request", JmesValue.ParseJson($$$$"""{"object":{"spec":{"containers":[{"image":"{{{{image}}}}"}]}}}"""));

    private static readonly JmesFunc s_firstImage = static (root, _) => Jmes.Index(root.Field("request").Field("object").Field("spec").Field("containers"), 0).Field("image");

    [Fact]
    public async Task Loader_substitutes_the_reference_and_applies_the_jmespath_over_the_image_data()
    {
        var repository = "apps/loader-" + DockerRegistryFixture.Unique();
        await Registry.PushImageAsync(repository, "v1");
        var entries = new ContextEntryDefinition[]
        {
            new ImageRegistryContextEntry("imageData", s_firstImage),
            new ImageRegistryContextEntry("layers", s_firstImage, jmesPath: static (input, _) => JmesFunctions.Length(input.Field("manifest").Field("layers"))),
        };

        var values = await ContextLoader.LoadAsync([.. entries], Admission($"{Registry.Host}/{repository}:v1"), null, null, new JmesContext(), CancellationToken.None, Data());

        Assert.Equal("1", values["layers"].ToJsonString());
        Assert.Equal("amd64", values["imageData"].Field("configData").Field("architecture").GetString());
    }

    [Fact]
    public async Task Loader_applies_a_jmespath_whose_variables_read_the_context()
    {
        var repository = "apps/vars-" + DockerRegistryFixture.Unique();
        await Registry.PushImageAsync(repository, "v1");

        // configData.{{ field }}, with field an earlier entry: what the compiled form of a jmesPath variable does.
        var entries = new ContextEntryDefinition[]
        {
            new VariableContextEntry("field", static (_, _) => JmesValue.From("architecture")),
            new ImageRegistryContextEntry("picked", s_firstImage, jmesPathWithVariables: static (input, root, _) => input.Field("configData").Field(KyvernoVariables.ToText(KyvernoVariables.Require(root.Field("field"), "{{ field }}")))),
            new ImageRegistryContextEntry("unresolved", s_firstImage, jmesPathWithVariables: static (input, root, _) => input.Field(KyvernoVariables.ToText(KyvernoVariables.Require(root.Field("nothing"), "{{ nothing }}")))),
        };

        var picked = await ContextLoader.LoadAsync([.. entries[..2]], Admission($"{Registry.Host}/{repository}:v1"), null, null, new JmesContext(), CancellationToken.None, Data());
        var error = await Assert.ThrowsAsync<ContextDataException>(() => ContextLoader.LoadAsync([.. entries], Admission($"{Registry.Host}/{repository}:v1"), null, null, new JmesContext(), CancellationToken.None, Data()));

        Assert.Equal("amd64", picked["picked"].GetString());
        Assert.False(error.IsTransient);
        Assert.StartsWith("failed to substitute variables in context entry unresolved jmesPath: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Loader_enters_the_entry_credential_scope_for_the_read()
    {
        var repository = "apps/scoped-" + DockerRegistryFixture.Unique();
        await Registry.PushImageAsync(repository, "v1");
        var credentials = new RegistryCredentialsDefinition(allowInsecure: true, ["regcred"], ["amazon"]);
        var asked = new List<RegistryCredentialsDefinition?>();
        var seen = new RecordingImageData(Data());

        await ContextLoader.LoadAsync(
            [new ImageRegistryContextEntry("imageData", s_firstImage, registryCredentials: credentials), new ImageRegistryContextEntry("plain", s_firstImage)],
            Admission($"{Registry.Host}/{repository}:v1"),
            null,
            null,
            new JmesContext(),
            CancellationToken.None,
            seen,
            (c, _) =>
            {
                asked.Add(c);
                return Task.FromResult<RegistryCredentialScope.Scope?>(c is null ? null : new RegistryCredentialScope.Scope("kyverno/regcred", [], c.AllowInsecure));
            });

        Assert.Equal([credentials, null], asked);
        Assert.Equal(["kyverno/regcred", null], seen.Scopes);
    }

    [Fact]
    public async Task Loader_refuses_a_reference_that_is_not_text()
    {
        var entry = new ImageRegistryContextEntry("imageData", static (root, _) => root.Field("request").Field("object").Field("spec").Field("containers"));

        var error = await Assert.ThrowsAsync<ContextDataException>(() => ContextLoader.LoadAsync([entry], Admission("nginx"), null, null, new JmesContext(), CancellationToken.None, Data()));

        Assert.False(error.IsTransient);
        Assert.Equal("""invalid image reference [{"image":"nginx"}], image reference must be a string""", error.Message);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Passes reads through to the real reader, noting the credential scope each was made in.</summary>
    private sealed class RecordingImageData(IImageDataSource inner) : IImageDataSource
    {
        public List<string?> Scopes { get; } = [];

        public ValueTask<JsonElement> GetImageDataAsync(string reference, CancellationToken cancellationToken)
        {
            Scopes.Add(RegistryCredentialScope.Current?.Id);
            return inner.GetImageDataAsync(reference, cancellationToken);
        }
    }
}
