using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Runtime.Tests.Conditions;

/// <summary>
/// <see cref="JmesInterpreter"/>: text parsed at admission with the build's grammar and function table. The compliance
/// suite runs through it in PolicyCompiler.Conditions.Tests; these cases cover what that suite does not.
/// </summary>
public sealed class JmesInterpreterTests
{
    [Fact]
    public void Every_function_of_the_catalogue_reaches_its_runtime_method()
    {
        var unreached = new List<string>();
        foreach (var function in FunctionCatalog.All(JmesDialect.Kyverno))
        {
            var arguments = Enumerable.Range(0, function.Parameters.Length).Select(i => function.Parameters[i] == ArgType.Expref ? "&@" : "@");
            var expression = $"{function.Name}({string.Join(", ", arguments)})";
            try
            {
                _ = JmesInterpreter.Compile(expression)(JmesValue.From("x"), JmesContext.Default);
            }
            catch (JmesPathException e) when (e.Kind == PolicyCompiler.Runtime.Conditions.JmesErrorKind.UnknownFunction)
            {
                unreached.Add(expression);
            }
            catch (JmesPathException)
            {
                // The string "x" is the wrong argument for most functions: the call got there, which is the point.
            }
        }

        Assert.Empty(unreached);
        Assert.True(FunctionCatalog.All(JmesDialect.Kyverno).Count() > 70);
    }

    [Fact]
    public void Kyverno_functions_and_expression_references_are_evaluated()
    {
        var data = JmesValue.ParseJson("""{"items":[{"name":"b","n":2},{"name":"a","n":1}],"image":"nginx"}""");

        Assert.Equal("""["a","b"]""", JmesInterpreter.Compile("sort_by(items, &n)[].name")(data, JmesContext.Default).ToJsonString());
        Assert.Equal("\"docker.io/nginx:latest\"", JmesInterpreter.Compile("image_normalize(image)")(data, JmesContext.Default).ToJsonString());
        Assert.Equal("""{"first":"b","count":2}""", JmesInterpreter.Compile("{first: items[0].name, count: length(items)}")(data, JmesContext.Default).ToJsonString());
    }

    [Theory]
    [InlineData("items[?", "syntax")]
    [InlineData("nope(@)", "unknown-function")]
    [InlineData("length(@, @)", "invalid-arity")]
    [InlineData("{{ request.name }}", "syntax")]
    public void Text_that_is_not_an_expression_is_refused_with_its_class(string expression, string specName)
    {
        var e = Assert.Throws<JmesPathException>(() => JmesInterpreter.Compile(expression));

        Assert.Equal(specName, e.SpecName);
        Assert.StartsWith($"invalid JMESPath {expression}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("(at column ", e.Message, StringComparison.Ordinal);
    }
}
