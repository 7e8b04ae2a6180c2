using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Check;

namespace PolicyCompiler.Runtime.Tests.Check;

public sealed class JsonPatchTests
{
    private static readonly JsonElement Pod = JsonDocument.Parse("""{"metadata":{"name":"p"},"spec":{"containers":[{"image":"a:1"},{"image":"b:1"}]}}""").RootElement;

    [Fact]
    public void ReplaceAndAddAsTheMutatingPassWritesThem()
    {
        var patched = JsonPatch.Apply(Pod,
        [
            new JsonPatchOperation { Op = "replace", Path = "/spec/containers/1/image", Value = Json("\"b:1@sha256:00\"") },
            new JsonPatchOperation { Op = "add", Path = "/metadata/annotations", Value = Json("{}") },
            new JsonPatchOperation { Op = "add", Path = "/metadata/annotations/kyverno.io~1verify-images", Value = Json("\"{}\"") },
        ]);

        Assert.Equal("a:1", patched.GetProperty("spec").GetProperty("containers")[0].GetProperty("image").GetString());
        Assert.Equal("b:1@sha256:00", patched.GetProperty("spec").GetProperty("containers")[1].GetProperty("image").GetString());
        Assert.Equal("{}", patched.GetProperty("metadata").GetProperty("annotations").GetProperty("kyverno.io/verify-images").GetString());
    }

    [Theory]
    [InlineData("replace", "/spec/containers/5/image")]
    [InlineData("replace", "/metadata/missing")]
    [InlineData("remove", "/metadata/name")]
    [InlineData("add", "no-leading-slash")]
    public void APatchThatDoesNotFitTheDocumentIsRefused(string op, string path)
    {
        Assert.Throws<FormatException>(() => JsonPatch.Apply(Pod, [new JsonPatchOperation { Op = op, Path = path, Value = Json("1") }]));
    }

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();
}
