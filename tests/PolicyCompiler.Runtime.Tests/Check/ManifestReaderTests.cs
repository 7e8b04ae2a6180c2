using System.Text.Json;
using PolicyCompiler.Runtime.Check;

namespace PolicyCompiler.Runtime.Tests.Check;

public sealed class ManifestReaderTests
{
    [Fact]
    public void MultiDocumentYamlYieldsEachObjectWithItsDocumentNumberAndFirstLine()
    {
        const string yaml = """
            # a leading comment is not a document
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: one
            ---
            # only a comment: skipped like kubectl skips it
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: two
              labels: {tier: web, canary: yes}
            spec:
              replicas: 2
            """;

        var documents = ManifestReader.Read("app.yaml", yaml);

        Assert.Equal(2, documents.Count);
        Assert.All(documents, d => Assert.Null(d.Error));
        Assert.Equal((1, 3, "one"), (documents[0].Document, documents[0].Line, Name(documents[0])));
        Assert.Equal((2, 10, "two"), (documents[1].Document, documents[1].Line, Name(documents[1])));
        var deployment = documents[1].Object!.Value;
        Assert.Equal(2, deployment.GetProperty("spec").GetProperty("replicas").GetInt32());
        // sigs.k8s.io/yaml resolves YAML 1.1 booleans, so kubectl would send true here.
        Assert.Equal(JsonValueKind.True, deployment.GetProperty("metadata").GetProperty("labels").GetProperty("canary").ValueKind);
    }

    [Fact]
    public void AMalformedDocumentIsReportedWithItsFileLineAndTheOthersAreStillRead()
    {
        const string yaml = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: before
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: "unterminated
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: after
            """;

        var documents = ManifestReader.Read("pods.yaml", yaml);

        Assert.Equal(["before", null, "after"], documents.Select(d => d.Object is null ? null : Name(d)));
        var broken = documents[1];
        Assert.Equal(2, broken.Document);
        Assert.Equal(6, broken.Line);
        Assert.StartsWith("invalid YAML: ", broken.Error, StringComparison.Ordinal);
        Assert.Equal("pods.yaml (document 2, line 6)", broken.Location);
    }

    [Fact]
    public void ParseErrorsCarryTheLineNumberOfTheFileNotOfTheDocument()
    {
        const string yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata\n  name: b\n";

        var broken = Assert.Single(ManifestReader.Read("f.yaml", yaml), d => d.Error is not null);

        Assert.Contains("line 8", broken.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonIsReadAsJsonAndAListIsExpandedToItsItems()
    {
        const string json = """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
              {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}
            ]}
            """;

        var documents = ManifestReader.Read("list.json", json);

        Assert.Equal(["a", "b"], documents.Select(Name));
    }

    [Theory]
    [InlineData("{\"apiVersion\": \"v1\", \"kind\": ", "invalid JSON")]
    [InlineData("just a string", "not a Kubernetes object")]
    [InlineData("metadata:\n  name: x\n", "apiVersion and kind are required")]
    public void WhatIsNotAnObjectIsAnError(string text, string expected)
    {
        var document = Assert.Single(ManifestReader.Read("x", text));

        Assert.Null(document.Object);
        Assert.Contains(expected, document.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEmptyFileHasNoDocuments()
    {
        Assert.Empty(ManifestReader.Read("empty.yaml", "# nothing\n---\n\n"));
    }

    private static string? Name(ManifestDocument document) =>
        document.Object!.Value.GetProperty("metadata").GetProperty("name").GetString();
}
