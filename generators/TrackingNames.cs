namespace PolicyCompiler.Generators;

/// <summary>Names of the pipeline steps, so tests can assert which steps re-ran after an edit.</summary>
internal static class TrackingNames
{
    public const string PolicyFiles = nameof(PolicyFiles);
    public const string ParsedFiles = nameof(ParsedFiles);
    public const string Policies = nameof(Policies);
    public const string Catalog = nameof(Catalog);
}
