namespace PolicyCompiler.Generators.Tests.Infrastructure;

/// <summary>
/// Checked-in expected output (<c>Baselines/*.g.cs.txt</c>), compared byte for byte. With
/// <c>POLICYCOMPILER_UPDATE_BASELINES=1</c> the actual output is written to the source tree instead.
/// </summary>
internal static class Baseline
{
    public const string UpdateVariable = "POLICYCOMPILER_UPDATE_BASELINES";

    public static bool Updating => Environment.GetEnvironmentVariable(UpdateVariable) == "1";

    public static void AssertMatches(string name, string actual)
    {
        if (Updating)
        {
            File.WriteAllText(Path.Combine(TestFiles.ProjectDirectory(), "Baselines", name), actual);
            return;
        }

        var path = Path.Combine(AppContext.BaseDirectory, "Baselines", name);
        Assert.True(File.Exists(path), $"the baseline {name} does not exist; run the tests with {UpdateVariable}=1 to create it");
        var expected = File.ReadAllText(path);

        // Assert.Equal on whole files shows only the first difference; the line makes it easy to find.
        if (!string.Equals(expected, actual, StringComparison.Ordinal))
        {
            var expectedLines = expected.Split('\n');
            var actualLines = actual.Split('\n');
            var line = 0;
            while (line < expectedLines.Length && line < actualLines.Length && expectedLines[line] == actualLines[line])
            {
                line++;
            }

            Assert.Fail(
                $"the generated code differs from Baselines/{name} at line {line + 1}:{Environment.NewLine}" +
                $"  expected: {(line < expectedLines.Length ? expectedLines[line] : "<end of file>")}{Environment.NewLine}" +
                $"  actual:   {(line < actualLines.Length ? actualLines[line] : "<end of file>")}{Environment.NewLine}" +
                $"If the change is intended, run the tests with {UpdateVariable}=1 and review the diff of the baselines.");
        }
    }
}
