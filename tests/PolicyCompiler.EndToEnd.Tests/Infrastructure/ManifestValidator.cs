namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// <c>build/manifest-validation/validate.mjs</c> under node: Kubernetes manifests checked against the Kubernetes (and
/// cert-manager) OpenAPI schemas without a cluster. build/test.sh installs node and the validator's packages.
/// </summary>
public static class ManifestValidator
{
    public static string Directory => Path.Combine(RepositoryPaths.Root, "build", "manifest-validation");

    public static async Task<ProcessResult> RunAsync(string manifests)
    {
        if (!System.IO.Directory.Exists(Path.Combine(Directory, "node_modules")))
        {
            throw new InvalidOperationException($"{Directory}/node_modules is missing: run build/test.sh (it runs `npm ci` there) or `npm ci --prefix {Directory}`");
        }

        return await ProcessRunner.RunAsync("node", [Path.Combine(Directory, "validate.mjs"), manifests], TimeSpan.FromMinutes(1), Directory).ConfigureAwait(false);
    }
}
