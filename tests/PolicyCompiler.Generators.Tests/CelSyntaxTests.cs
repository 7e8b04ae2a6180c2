using PolicyCompiler.Generators.Cel;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// The CEL check of webhook match conditions on its own: expressions from the Kubernetes and Kyverno documentation (and
/// the rest of the CEL grammar) parse; each kind of mistake is found at its first character.
/// </summary>
public sealed class CelSyntaxTests
{
    [Theory]
    // Kubernetes: admission webhook matchConditions examples and the CEL reference page.
    [InlineData("!(request.userInfo.username == 'system:kube-scheduler')")]
    [InlineData("request.resource.group != 'rbac.authorization.k8s.io'")]
    [InlineData("!(request.resource.group == 'rbac.authorization.k8s.io' && request.resource.resource == 'clusterroles')")]
    [InlineData("!authorizer.group('admissionregistration.k8s.io').resource('validatingwebhookconfigurations').name('my-webhook.example.com').check('breakglass').allowed()")]
    [InlineData("authorizer.requestResource.check('create').allowed()")]
    [InlineData("has(object.spec.replicas)")]
    [InlineData("\"label\" in object.metadata.labels")]
    [InlineData("object.metadata.labels.?app.orValue('') == 'x'")]
    [InlineData("object.metadata.?labels[?'app'].orValue('') == 'web'")]
    [InlineData("request.operation in ['CREATE', 'UPDATE']")]
    [InlineData("oldObject == null || object.spec != oldObject.spec")]
    [InlineData("request.userInfo.username.startsWith('system:serviceaccount:kube-system:')")]
    [InlineData("request.userInfo.groups.exists(g, g == 'system:nodes')")]
    [InlineData("object.spec.containers.all(c, c.image.startsWith('ghcr.io/'))")]
    [InlineData("object.spec.containers.map(c, c.name).exists_one(n, n == 'app')")]
    [InlineData("object.spec.containers.map(c, has(c.image), c.image).size() > 0")]
    [InlineData("object.spec.containers.filter(c, c.name.matches('^app-')).size() <= 10")]
    [InlineData("size(object.spec.containers) <= 10 && object.metadata.name.size() < 64")]
    [InlineData("cel.bind(n, object.metadata.name, n.size() > 3 && n != 'x')")]
    [InlineData("object.metadata.?labels.optMap(l, l.size()).orValue(0) >= 0")]
    [InlineData("quantity('1Gi').isGreaterThan(quantity('1Mi')) && ip('10.0.0.1').family() == 4")]
    [InlineData("math.greatest(1, 2) == 2 && sets.contains([1, 2], [1]) && optional.none().hasValue() == false")]
    // Kyverno: webhookConfiguration.matchConditions examples.
    [InlineData("object.metadata.namespace != 'kube-system'")]
    [InlineData("!(object.metadata.name.startsWith('kyverno'))")]
    // The rest of the grammar: literals, escapes, precedence, aggregates, comments.
    [InlineData("1u + 2u == 3u && 0x1F == 31 && 0x1Fu == 31u && 1.5e3 > 1.0 && .5 < 1.0 && 1e3 == 1000.0 && 2E-2 < 1.0")]
    [InlineData("-9223372036854775808 < 0 && 9223372036854775807 > 0 && 18446744073709551615u > 0u")]
    [InlineData("!-1 == false && --1 == 1 && !!true && -(1) == -1")]
    [InlineData("r'\\d+\\.' != R\"\\w\" && b'\\x00\\377' != B\"abc\" && br'\\d' != b''")]
    [InlineData("'\\a\\b\\f\\n\\r\\t\\v\\\\\\?\\\"\\'\\`\\u00e9\\U0001F600\\x41\\X41\\101' != ''")]
    [InlineData("'''it's\n\"multi\" line''' != \"\"\"x\"\"\" && r'''\\d''' != ''")]
    [InlineData("type(object) == map && int('1') == 1 && type(1) != string && dyn(1) == 1 && null_type != type")]
    [InlineData("duration('1h') > duration('1m') && timestamp('2024-01-01T00:00:00Z') < timestamp('2025-01-01T00:00:00Z')")]
    [InlineData("{'a': 1, 'b': 2,}['a'] == 1 && [1, 2,][0] == 1 && {?'c': optional.none()}.size() == 0 && [?optional.of(1)].size() == 1")]
    [InlineData("google.protobuf.Timestamp{seconds: 0, ?nanos: optional.none(),} != null && .google.protobuf.Duration{} != null")]
    [InlineData("object.spec.replicas > 1 ? request.dryRun : request.uid != '' ? true : false")]
    [InlineData("1 < 2 == true && 3 % 2 * 4 / 2 - 1 + 1 >= 0 && (true || false) && !(false)")]
    [InlineData("request.dryRun // skip dry runs\n  || object.metadata.name == 'x' // and this one\n")]
    [InlineData("object.package == 1 || object.spec.if == 1 || object.metadata.`app-name/x y` == 'z'")]
    [InlineData(".object.metadata.name == 'a' && .request.uid != ''")]
    [InlineData("[,].size() == 0 && {,}.size() == 0")]
    public void ValidExpressionsParse(string expression)
    {
        Assert.Null(CelSyntax.Check(expression, CelSyntax.WebhookVariables));
    }

    [Theory]
    [InlineData("request.namespace = 'x'", 18, 1, "unexpected character '=' (equality is '==')")]
    [InlineData("request.dryRun & true", 15, 1, "unexpected character '&' (logical and is '&&')")]
    [InlineData("request.dryRun | true", 15, 1, "unexpected character '|' (logical or is '||')")]
    [InlineData("object.metadata.name == 'é' || object.x == #", 43, 1, "unexpected character '#'")]
    [InlineData("request.namespace == 'kube-system", 21, 12, "the string has no closing '")]
    [InlineData("request.namespace == '''kube", 21, 7, "the string has no closing '''")]
    [InlineData("request.namespace == 'kube\n-system'", 21, 5, "the string has no closing ' on its line")]
    [InlineData("object.metadata.name.matches('\\d+')", 30, 2, "'\\d' is not a CEL escape sequence")]
    [InlineData("object.metadata.name == '\\x4'", 25, 3, "'\\x' needs 2 hexadecimal digits")]
    [InlineData("object.metadata.name == '\\uD800'", 25, 6, "'\\uD800' is not a Unicode code point")]
    [InlineData("object.metadata.name == '\\08'", 25, 4, "an octal escape is a backslash and three octal digits")]
    [InlineData("object.data == b'\\u00e9'", 17, 2, "\\u escapes are not allowed in bytes literals")]
    [InlineData("has(object.spec", 15, 1, "expected ',' or ')' in the argument list, found the end of the expression")]
    [InlineData("request.namespace != || true", 21, 2, "expected a value, a name, '(', '[' or '{', found '||'")]
    [InlineData("size(object.spec.containers,) > 0", 28, 1, "expected a value, a name, '(', '[' or '{', found ')'")]
    [InlineData("request.dryRun request.uid", 15, 7, "expected an operator or the end of the expression, found 'request'")]
    [InlineData("request.dryRun ? 'a' 'b'", 21, 3, "expected ':' of the conditional 'condition ? a : b', found ''b''")]
    [InlineData("request.operation in ['CREATE', 'UPDATE'", 40, 1, "expected ',' or ']' in the list, found the end of the expression")]
    [InlineData("{'a': 1 'b': 2}.size() == 2", 8, 3, "expected ',' or '}' in the map, found ''b''")]
    [InlineData("object.metadata. == 'x'", 17, 2, "expected a field or function name after '.', found '=='")]
    [InlineData("object.metadata.?labels() == 'x'", 23, 1, "a function is called with '.', not '.?'")]
    [InlineData("object.spec.replicas > 1 && package == 1", 28, 7, "'package' is a reserved word in CEL and cannot be used as a name")]
    [InlineData("in == 1", 0, 2, "'in' is an operator ('x in list'), not a name")]
    [InlineData("!-object.spec.paused", 1, 1, "'-' cannot follow '!' without parentheses")]
    [InlineData("object.spec.replicas < 9223372036854775808", 23, 19, "9223372036854775808 does not fit in a 64-bit int")]
    [InlineData("object.spec.replicas < -9223372036854775809", 23, 20, "-9223372036854775809 does not fit in a 64-bit int")]
    [InlineData("object.spec.replicas < 18446744073709551616u", 23, 21, "does not fit in a 64-bit uint")]
    [InlineData("object.spec.replicas < 0x", 23, 2, "a hexadecimal literal needs digits after '0x'")]
    [InlineData("object.spec.replicas < 0X1F", 24, 3, "expected an operator or the end of the expression, found 'X1F'")]
    [InlineData("object.spec.containers[0]{} == 1", 25, 1, "a message literal 'Type{field: value}' needs a type name before '{'")]
    [InlineData("// only a comment", 0, 17, "the expression is empty")]
    [InlineData("has(object)", 4, 6, "has() takes a field selection")]
    [InlineData("has(object.metadata.labels['app'])", 4, 29, "has() takes a field selection")]
    [InlineData("object.spec.containers.all(c.name, true)", 27, 6, "the first argument of all() names the element variable and must be a simple name")]
    [InlineData("object.spec.containers.map('x', 'y', 'z').size() > 0", 27, 3, "the first argument of map() names the element variable")]
    [InlineData("cel.bind(object.x, 1, true)", 9, 8, "the first argument of cel.bind() names the variable")]
    [InlineData("namespaceObject.metadata.name != 'kube-system'", 0, 15, "undeclared reference to 'namespaceObject': the API server declares object, oldObject, request, authorizer; 'namespaceObject' exists in ValidatingAdmissionPolicy")]
    [InlineData("params.allowed == true", 0, 6, "undeclared reference to 'params'")]
    [InlineData("objects.metadata.name == 'x'", 0, 7, "undeclared reference to 'objects'")]
    [InlineData("request.dryRun || self.x == 1", 18, 4, "undeclared reference to 'self'")]
    [InlineData("object.spec.containers.all(c, d.image == c.image)", 30, 1, "undeclared reference to 'd'")]
    [InlineData("size(labels) > 0", 5, 6, "undeclared reference to 'labels'")]
    public void MistakesAreFoundWhereTheyAre(string expression, int start, int length, string message)
    {
        var error = CelSyntax.Check(expression, CelSyntax.WebhookVariables);

        Assert.NotNull(error);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Equal((start, length), (error.Start, error.Length));
    }

    [Fact]
    public void AVariableOfAComprehensionIsOnlyBoundInsideIt()
    {
        var error = CelSyntax.Check("object.spec.containers.all(c, c.image != '') && c.name == 'x'", CelSyntax.WebhookVariables);

        Assert.NotNull(error);
        Assert.Equal("undeclared reference to 'c': the API server declares object, oldObject, request, authorizer", error.Message);
        Assert.Equal(48, error.Start);
    }

    [Fact]
    public void NestingIsCappedInsteadOfOverflowingTheCompilersStack()
    {
        var deep = new string('(', 5000) + "true" + new string(')', 5000);

        var error = CelSyntax.Check(deep, CelSyntax.WebhookVariables);

        Assert.NotNull(error);
        Assert.Contains("nests more than 250 levels", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(" + ")]
    [InlineData(" && ")]
    [InlineData(" == ")]
    [InlineData(".")]
    public void LongChainsAreCappedAsNestingIs(string link)
    {
        // A chain builds a tree as deep as it is long, and the checks after parsing recurse over it: the cel fuzz target's
        // corpus replay overflowed the test host's stack on such an input before chains counted towards the cap.
        var chain = string.Join(link, Enumerable.Repeat("object", 20_000));

        var error = CelSyntax.Check(chain, CelSyntax.WebhookVariables);

        Assert.NotNull(error);
        Assert.Contains("nests more than 250 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChainsOfARealisticLengthStillParse()
    {
        var chain = string.Join(" && ", Enumerable.Repeat("object.metadata.labels.app == 'web'", 40));

        Assert.Null(CelSyntax.Check(chain, CelSyntax.WebhookVariables));
    }
}
