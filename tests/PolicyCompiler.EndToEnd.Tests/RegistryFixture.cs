using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>One plain-HTTP registry shared by the tests of the test infrastructure itself.</summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    private RegistryProcess? _registry;

    public TempDirectory Work { get; } = new("infra");

    public RegistryProcess Registry => _registry ?? throw new InvalidOperationException("the registry has not started");

    public async Task InitializeAsync() => _registry = await RegistryProcess.StartAsync();

    public Task DisposeAsync()
    {
        _registry?.Dispose();
        Work.Dispose();
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class RegistryCollection : ICollectionFixture<RegistryFixture>
{
    public const string Name = "registry infrastructure";
}
