using System.Text;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using static PolicyCompiler.Runtime.Tests.Registry.RegistryTestSupport;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>Credential files as the kubelet mounts them: read at start, re-read when they change, last good content kept.</summary>
public sealed class RegistryCredentialStoreTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("policycompiler-credentials-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string Write(string name, string json)
    {
        var path = Path.Combine(_directory.FullName, name);
        File.WriteAllText(path, json, Encoding.UTF8);
        return path;
    }

    private static string Config(string registry, string user, string password) =>
        $$$"""{"auths":{"{{{registry}}}":{"auth":"{{{Basic(user, password)}}}"} } }""";

    [Fact]
    public void CredentialsOfSeveralFilesAreFound()
    {
        var first = Write("a.json", Config("one.example", "u1", "p1"));
        var second = Write("b.json", Config("two.example", "u2", "p2"));

        var store = new RegistryCredentialStore([first, second], TimeSpan.FromSeconds(30));

        Assert.Equal("u1", store.Find("one.example", "x")?.UserName);
        Assert.Equal("p2", store.Find("two.example", "x")?.Password);
        Assert.Null(store.Find("three.example", "x"));
        Assert.Equal(["one.example", "two.example"], store.Keys);
    }

    [Fact]
    public void RotatedFileIsReadAfterTheRefreshInterval()
    {
        var time = new FakeTimeProvider();
        var file = Write("config.json", Config("r.example", "robot", "old"));
        var store = new RegistryCredentialStore([file], TimeSpan.FromSeconds(30), time);
        Assert.Equal("old", store.Find("r.example", "x")?.Password);

        Write("config.json", Config("r.example", "robot", "new"));
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal("old", store.Find("r.example", "x")?.Password);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("new", store.Find("r.example", "x")?.Password);
    }

    // The kubelet updates a Secret volume by pointing the ..data symlink at a new folder.
    [Fact]
    public void SecretVolumeSymlinkSwapIsFollowed()
    {
        var time = new FakeTimeProvider();
        var v1 = Directory.CreateDirectory(Path.Combine(_directory.FullName, "..2025_v1"));
        File.WriteAllText(Path.Combine(v1.FullName, ".dockerconfigjson"), Config("r.example", "robot", "v1"));
        var data = Path.Combine(_directory.FullName, "..data");
        Directory.CreateSymbolicLink(data, v1.FullName);
        var mounted = Path.Combine(_directory.FullName, ".dockerconfigjson");
        File.CreateSymbolicLink(mounted, Path.Combine("..data", ".dockerconfigjson"));
        var store = new RegistryCredentialStore([mounted], TimeSpan.FromSeconds(1), time);
        Assert.Equal("v1", store.Find("r.example", "x")?.Password);

        var v2 = Directory.CreateDirectory(Path.Combine(_directory.FullName, "..2025_v2"));
        File.WriteAllText(Path.Combine(v2.FullName, ".dockerconfigjson"), Config("r.example", "robot", "v2"));
        Directory.Delete(data);
        Directory.CreateSymbolicLink(data, v2.FullName);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("v2", store.Find("r.example", "x")?.Password);
    }

    [Fact]
    public void BrokenUpdateKeepsTheLastGoodCredentialsAndIsReportedWithoutContent()
    {
        var time = new FakeTimeProvider();
        var reports = new List<string>();
        var file = Write("config.json", Config("r.example", "robot", "good"));
        var store = new RegistryCredentialStore([file], TimeSpan.FromSeconds(5), time, reports.Add);

        Write("config.json", """{"auths":{"r.example":{"password":"leaked-secret" """);
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal("good", store.Find("r.example", "x")?.Password);
        var report = Assert.Single(reports);
        Assert.StartsWith($"registry credential file {file}: not valid JSON", report, StringComparison.Ordinal);
        Assert.EndsWith("keeping the credentials read before", report, StringComparison.Ordinal);
        Assert.DoesNotContain("leaked-secret", report, StringComparison.Ordinal);

        File.Delete(file);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("good", store.Find("r.example", "x")?.Password);
        Assert.Equal($"registry credential file {file}: not found; keeping the credentials read before", reports[^1]);
    }

    [Fact]
    public void MissingOrMalformedFileAtStartIsAConfigurationError()
    {
        var missing = Path.Combine(_directory.FullName, "absent.json");
        var malformed = Write("bad.json", """{"auths":{"r":{"password":"start-secret" """);

        var notFound = Assert.Throws<InvalidOperationException>(() => new RegistryCredentialStore([missing], TimeSpan.FromSeconds(30)));
        var invalid = Assert.Throws<InvalidOperationException>(() => new RegistryCredentialStore([malformed], TimeSpan.FromSeconds(30)));

        Assert.Equal($"registry credential file {missing}: not found", notFound.Message);
        Assert.StartsWith($"registry credential file {malformed}: not valid JSON", invalid.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("start-secret", invalid.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void OversizedFileIsRefused()
    {
        var file = Write("huge.json", "{\"auths\":{}," + new string(' ', RegistryCredentialStore.MaxFileBytes) + "}");

        var error = Assert.Throws<InvalidOperationException>(() => new RegistryCredentialStore([file], TimeSpan.FromSeconds(30)));

        Assert.Contains("larger than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientUsesTheCredentialFilesOfItsOptions()
    {
        var file = Write("config.json", Config(Host, "robot", "from-file"));
        var fake = new FakeRegistryHandler()
            .On(r => r.Authorization?.Parameter == Basic("robot", "from-file"), _ => FakeRegistryHandler.Ok(Manifest))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Basic", """realm="r" """));
        var options = new RegistryOptions();
        options.CredentialFiles.Add(file);
        using var client = new RegistryClient(options, fake, credentials: null, metrics: null, time: null);

        var manifest = await client.GetManifestAsync(Host, Repository, "v1", CancellationToken.None);

        Assert.Equal(ManifestDigest, manifest.Digest);
    }
}
