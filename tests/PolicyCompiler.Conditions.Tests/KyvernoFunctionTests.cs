using PolicyCompiler.Conditions.Tests.Infrastructure;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Runtime.Conditions;
using Xunit.Abstractions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// Every Kyverno JMESPath function through the compiled path (a <c>{{ }}</c> value compiled by the generator and run).
/// Expectations are Kyverno's own, from kyverno/kyverno pkg/engine/jmespath: functions_test.go (F), arithmetic_test.go (A),
/// time_test.go (T); rows marked (K) follow the Kyverno source where its tests are silent. The clock is fixed at
/// 2024-05-06T07:08:09Z.
/// </summary>
public sealed class KyvernoFunctionTests(ITestOutputHelper output)
{
    private static readonly KyvernoHarness Harness = new();

    /// <summary>(expression, input document, expected JSON result or null, expected error text or null, source).</summary>
    public static readonly (string Expression, string? Input, string? Result, string? Error, string Source)[] Cases =
    [
        // compare, equal_fold (F: Test_Compare, Test_EqualFold)
        ("compare('a', 'a')", null, "0", null, "F"),
        ("compare('a', 'b')", null, "-1", null, "F"),
        ("compare('b', 'a')", null, "1", null, "F"),
        ("compare(n, 'b')", "{\"n\":1}", null, "argument #1 is not of type String", "F: Test_jpfCompare"),
        ("equal_fold('Go', 'go')", null, "true", null, "F"),
        ("equal_fold('a', 'b')", null, "false", null, "F"),
        ("equal_fold('1', 'b')", null, "false", null, "F"),

        // replace, replace_all, to_upper, to_lower, trim, trim_prefix, split (F)
        ("replace('Lorem ipsum dolor sit amet', 'ipsum', 'muspi', `-1`)", null, "\"Lorem muspi dolor sit amet\"", null, "F"),
        ("replace('Lorem ipsum ipsum ipsum dolor sit amet', 'ipsum', 'muspi', `-1`)", null, "\"Lorem muspi muspi muspi dolor sit amet\"", null, "F"),
        ("replace('Lorem ipsum ipsum ipsum dolor sit amet', 'ipsum', 'muspi', `1`)", null, "\"Lorem muspi ipsum ipsum dolor sit amet\"", null, "F"),
        ("replace_all('Lorem ipsum dolor sit amet', 'ipsum', 'muspi')", null, "\"Lorem muspi dolor sit amet\"", null, "F"),
        ("to_upper('abc')", null, "\"ABC\"", null, "F"),
        ("to_upper('a#%&123Bc')", null, "\"A#%&123BC\"", null, "F"),
        ("to_lower('ABC')", null, "\"abc\"", null, "F"),
        ("to_lower('a#%&123Bc')", null, "\"a#%&123bc\"", null, "F"),
        ("trim('¡¡¡Hello, Gophers!!!', '!¡')", null, "\"Hello, Gophers\"", null, "F"),
        ("trim_prefix('¡¡¡Hello, Gophers!!!', '¡¡¡Hello, ')", null, "\"Gophers!!!\"", null, "F"),
        ("trim_prefix('¡¡¡Hello, Gophers!!!', '¡¡¡Hola, ')", null, "\"¡¡¡Hello, Gophers!!!\"", null, "F"),
        ("trim_prefix(n, 'x')", "{\"n\":1}", null, "not of type String", "F"),
        ("split('Hello, Gophers', ', ')", null, "[\"Hello\",\"Gophers\"]", null, "F"),
        ("starts_with('Gophers', 'Go')", null, "true", null, "F: Test_HasPrefix"),
        ("ends_with('Amigo', 'go')", null, "true", null, "F: Test_HasSuffix"),

        // regex_match, pattern_match, regex_replace_all(_literal), label_match (F)
        ("regex_match('12.*', foo)", "{\"foo\":\"hgf'b1a2r'b12g\"}", "true", null, "F"),
        ("regex_match('12.*', abs(foo))", "{\"foo\":-12.0}", "true", null, "F: Test_RegexMatchWithNumber"),
        ("regex_match('^[a-z]+$', 'Abc')", null, "false", null, "K"),
        ("pattern_match('prefix-*', foo)", "{\"foo\":\"prefix-foo\"}", "true", null, "F"),
        ("pattern_match('12*', abs(foo))", "{\"foo\":-12.0}", "true", null, "F: Test_PatternMatchWithNumber"),
        ("regex_replace_all('([Hh]e|G)l', spec.field, '${2}G')", "{\"spec\":{\"field\":\"Hello world, helworldlo\"}}", "\"Glo world, Gworldlo\"", null, "F"),
        ("regex_replace_all_literal('[Hh]el?', spec.field, 'G')", "{\"spec\":{\"field\":\"Hello world, helworldlo\"}}", "\"Glo world, Gworldlo\"", null, "F"),
        ("regex_replace_all('(\\d+)', 'a1b22', '<$1>')", null, "\"a<1>b<22>\"", null, "K"),
        ("label_match(`{ \"app\": \"test-app\" }`, metadata.labels)", "{\"metadata\":{\"labels\":{\"app\":\"test-app\",\"controller-name\":\"test-controller\"}}}", "true", null, "F"),
        ("label_match(`{ \"app\": \"test-app\", \"controller-name\": \"test-controller\" }`, metadata.labels)", "{\"metadata\":{\"labels\":{\"app\":\"test-app\",\"controller-name\":\"test-controller\"}}}", "true", null, "F"),
        ("label_match(`{ \"app\": \"test-app2\" }`, metadata.labels)", "{\"metadata\":{\"labels\":{\"app\":\"test-app\"}}}", "false", null, "F"),
        ("label_match(`{ \"app.kubernetes.io/name\": \"test-app\" }`, metadata.labels)", "{\"metadata\":{\"labels\":{\"app\":\"test-app\"}}}", "false", null, "F"),

        // to_boolean (F: Test_JpToBoolean)
        ("to_boolean('true')", null, "true", null, "F"),
        ("to_boolean('TRue')", null, "true", null, "F"),
        ("to_boolean('FaLse')", null, "false", null, "F"),
        ("to_boolean('FaLsee')", null, null, "lowercase argument must be 'true' or 'false'", "F"),
        ("to_boolean('foo')", null, null, "lowercase argument must be 'true' or 'false'", "F"),

        // add, sum, subtract, multiply, divide, modulo, round (A)
        ("add(`12`, `13`)", null, "25", null, "A"),
        ("add('12', '13s')", null, null, "Types mismatch", "A"),
        ("add(`12`, '13Ki')", null, null, "Types mismatch", "A"),
        ("add(`12`, '13')", null, null, "Types mismatch", "A"),
        ("add('12Ki', '13Ki')", null, "\"25Ki\"", null, "A"),
        ("add('12Ki', '13')", null, "\"12301\"", null, "A"),
        ("add('12Ki', '13s')", null, null, "Types mismatch", "A"),
        ("add('12s', '13s')", null, "\"25s\"", null, "A"),
        ("add('12s', '13Ki')", null, null, "Types mismatch", "A"),
        ("add(`true`, `1`)", null, null, "invalid operands", "K"),
        ("sum(`[]`)", null, null, "at least one element in the array is required", "A"),
        ("sum([`12`])", null, "12", null, "A"),
        ("sum([`12`, `13`, `1`, `4`])", null, "30", null, "A"),
        ("sum(['12', '13s'])", null, null, "Types mismatch", "A"),
        ("sum(['12Ki', '13Ki', '1Ki', '4Ki'])", null, "\"30Ki\"", null, "A"),
        ("sum(['12Ki', '13'])", null, "\"12301\"", null, "A"),
        ("sum(['12s', '13s', '1s', '4s'])", null, "\"30s\"", null, "A"),
        ("sum(['12s', `13`])", null, null, "Types mismatch", "A"),
        ("subtract(`12`, `13`)", null, "-1", null, "A"),
        ("subtract('12Ki', '13Ki')", null, "\"-1Ki\"", null, "A"),
        ("subtract('12Ki', '13')", null, "\"12275\"", null, "A"),
        ("subtract('12s', '13s')", null, "\"-1s\"", null, "A"),
        ("subtract('12s', `13`)", null, null, "Types mismatch", "A"),
        ("multiply('12Ki', `2`)", null, "\"24Ki\"", null, "A"),
        ("multiply('12Ki', '12Ki')", null, null, "Types mismatch", "A"),
        ("multiply('12s', `2`)", null, "\"24s\"", null, "A"),
        ("multiply('12s', '12s')", null, null, "Types mismatch", "A"),
        ("multiply(`2.5`, `2.5`)", null, "6.25", null, "A"),
        ("multiply(`2.5`, '12Ki')", null, "\"30Ki\"", null, "A"),
        ("multiply(`2.5`, '12')", null, "\"30\"", null, "A"),
        ("multiply(`2.5`, '40s')", null, "\"1m40s\"", null, "A"),
        ("divide('256M', '256M')", null, "1", null, "A"),
        ("divide('512M', '256M')", null, "2", null, "A"),
        ("divide('8', '3')", null, "2.6666666666666665", null, "A"),
        ("divide('128M', '256M')", null, "0.5", null, "A"),
        ("divide('12Ki', `3`)", null, "\"4Ki\"", null, "A"),
        ("divide('12Ki', '2Ki')", null, "6", null, "A"),
        ("divide('12Ki', '200')", null, "61.44", null, "A"),
        ("divide('12Ki', '2s')", null, null, "Types mismatch", "A"),
        ("divide('12s', `3`)", null, "\"4s\"", null, "A"),
        ("divide('12s', '5s')", null, "2.4", null, "A"),
        ("divide('12s', '4Ki')", null, null, "Types mismatch", "A"),
        ("divide(`14`, `3`)", null, "4.666666666666667", null, "A"),
        ("divide(`14`, '5s')", null, null, "Types mismatch", "A"),
        ("divide(`14`, `0`)", null, null, "Zero divisor passed", "A"),
        ("divide('4Ki', `0`)", null, null, "Zero divisor passed", "A"),
        ("divide('4Ki', '0Ki')", null, null, "Zero divisor passed", "A"),
        ("divide('4s', '0s')", null, null, "Zero divisor passed", "A"),
        ("modulo('12', '13s')", null, null, "Types mismatch", "A"),
        ("modulo('12Ki', `13`)", null, null, "Types mismatch", "A"),
        ("modulo('12Ki', '5Ki')", null, "\"2Ki\"", null, "A"),
        ("modulo('13s', '2s')", null, "\"1s\"", null, "A"),
        ("modulo('13s', `2`)", null, null, "Types mismatch", "A"),
        ("modulo(`13`, `5`)", null, "3", null, "A"),
        ("modulo(`14`, `0`)", null, null, "Zero divisor passed", "A"),
        ("modulo('4Ki', '0Ki')", null, null, "Zero divisor passed", "A"),
        ("modulo('4s', '0s')", null, null, "Zero divisor passed", "A"),
        ("modulo('4', '1.5')", null, null, "Non-integer argument(s) passed for modulo", "A"),
        ("modulo(`14`, `1.5`)", null, null, "Non-integer argument(s) passed for modulo", "A"),
        ("modulo(`14.5`, `2`)", null, null, "Non-integer argument(s) passed for modulo", "A"),
        ("round(`1.2345`, `2`)", null, "1.23", null, "K"),
        ("round(`2.5`, `0`)", null, "3", null, "K"),
        ("round(`1.5`, `1.5`)", null, null, "Non-integer argument(s) passed for round off", "K"),
        ("round(`1.5`, `-1`)", null, null, "out of bounds", "K"),

        // base64, path_canonicalize, truncate, semver_compare (F)
        ("base64_decode('SGVsbG8sIHdvcmxkIQ==')", null, "\"Hello, world!\"", null, "F"),
        ("base64_encode('Hello, world!')", null, "\"SGVsbG8sIHdvcmxkIQ==\"", null, "F"),
        ("base64_decode(data.example1)", "{\"data\":{\"example1\":\"SGVsbG8sIHdvcmxkIQ==\"}}", "\"Hello, world!\"", null, "F"),
        ("base64_decode('not base64!')", null, null, "illegal base64 data", "K"),
        ("path_canonicalize('///')", null, "\"/\"", null, "F"),
        ("path_canonicalize('///var/run/containerd/containerd.sock')", null, "\"/var/run/containerd/containerd.sock\"", null, "F"),
        ("path_canonicalize('/var/run///containerd/containerd.sock')", null, "\"/var/run/containerd/containerd.sock\"", null, "F"),
        ("path_canonicalize('/var/run///containerd////')", null, "\"/var/run/containerd\"", null, "F"),
        ("path_canonicalize('/run///')", null, "\"/run\"", null, "F"),
        ("path_canonicalize('/run/../etc')", null, "\"/etc\"", null, "F"),
        ("path_canonicalize('///etc*')", null, "\"/etc*\"", null, "F"),
        ("path_canonicalize('/../../')", null, "\"/\"", null, "F"),
        ("truncate('Lorem ipsum dolor sit amet', `5`)", null, "\"Lorem\"", null, "F"),
        ("truncate('Lorem ipsum ipsum ipsum dolor sit amet', `11`)", null, "\"Lorem ipsum\"", null, "F"),
        ("truncate('Lorem ipsum ipsum ipsum dolor sit amet', `40`)", null, "\"Lorem ipsum ipsum ipsum dolor sit amet\"", null, "F"),
        ("truncate('Lorem ipsum', `2.6`)", null, "\"Lo\"", null, "F"),
        ("truncate('Lorem ipsum', `0`)", null, "\"\"", null, "F"),
        ("truncate('Lorem ipsum', `-1`)", null, "\"\"", null, "F"),
        ("semver_compare('4.1.3','>=4.1.x')", null, "true", null, "F"),
        ("semver_compare('4.1.3','!4.x.x')", null, "false", null, "F"),
        ("semver_compare('1.8.6','>1.0.0 <2.0.0')", null, "true", null, "F"),
        ("semver_compare('2.1.5','<2.0.0 || >=3.0.0')", null, "false", null, "F"),
        ("semver_compare('1.2.3','~1.2')", null, null, "", "K"),

        // parse_json, parse_yaml (F: Test_ParseJsonSerde, Test_ParseJsonComplex, Test_ParseYAML)
        ("to_string(parse_json('{\"a\":\"b\"}'))", null, "\"{\\\"a\\\":\\\"b\\\"}\"", null, "F"),
        ("to_string(parse_json('[1,2,3,{\"a\":\"b\"}]'))", null, "\"[1,2,3,{\\\"a\\\":\\\"b\\\"}]\"", null, "F"),
        ("to_string(parse_json('1.2'))", null, "\"1.2\"", null, "F"),
        ("to_string(parse_json('null'))", null, "\"null\"", null, "F"),
        ("parse_json('{\"a\": \"b\"}').a", null, "\"b\"", null, "F"),
        ("parse_json('{\"a\": [1, 2, 3, 4]}').a[0]", null, "1", null, "F"),
        ("parse_json('[1, 2, {\"a\": {\"b\": {\"c\": [1, 2]}}}]')[2].a.b.c[1]", null, "2", null, "F"),
        ("parse_json('{nope')", null, null, "parse_json", "K"),
        ("parse_yaml('a: b')", null, "{\"a\":\"b\"}", null, "F"),
        ("parse_yaml(doc)", "{\"doc\":\"\\n- 1\\n- 2\\n- 3\\n- a: b\"}", "[1,2,3,{\"a\":\"b\"}]", null, "F"),
        ("parse_yaml(doc)", "{\"doc\":\"\\nspec:\\n  test: 1\\n  test2:\\n    - 2\\n    - 3\\n\"}", "{\"spec\":{\"test\":1,\"test2\":[2,3]}}", null, "F"),
        ("parse_yaml(doc)", "{\"doc\":\"\\nbar: >\\n  this is not a normal string it\\n  spans more than\\n  one line\\n  see?\"}", "{\"bar\":\"this is not a normal string it spans more than one line see?\"}", null, "F"),
        ("parse_yaml(doc)", "{\"doc\":\"\\n---\\nfoo: ~\\nbar: null\\n\"}", "{\"foo\":null,\"bar\":null}", null, "F"),
        ("parse_yaml(doc).species.isGoodBoi", "{\"doc\":\"species:\\n  dog: lab\\n  isGoodBoi: false\\n  snacks:\\n  - chimken\\n  - fries\"}", "false", null, "K: docs parse_yaml sample"),

        // lookup, items, object_from_lists (F: Test_Lookup, Test_Lookup_InvalidArgs, Test_Items, Test_ObjectFromLists)
        ("lookup(`{}`,`\"key1\"`)", null, "null", null, "F"),
        ("lookup(`{\"key1\": \"value1\"}`,`\"key1\"`)", null, "\"value1\"", null, "F"),
        ("lookup(`{\"\": \"value1\"}`,`\"\"`)", null, "\"value1\"", null, "F"),
        ("lookup(`{\"k\":  [7, \"x\", true] }`,`\"k\"`)", null, "[7,\"x\",true]", null, "F"),
        ("lookup(`[\"item0\"]`,`-1`)", null, "null", null, "F"),
        ("lookup(`[\"item0\"]`,`1`)", null, "null", null, "F"),
        ("lookup(`[\"item0\", \"item1\", \"item2\", \"item3\"]`,`2`)", null, "\"item2\"", null, "F"),
        ("lookup(`[\"item0\", \"item1\"]`,`0.99999999999999999999999999999999999999999999`)", null, "\"item1\"", null, "F"),
        ("lookup(`{}`,`123`)", null, null, "argument #2 is not of type String", "F"),
        ("lookup(`[]`,`\"abc\"`)", null, null, "argument #2 is not of type Number", "F"),
        ("lookup(`[]`,`1.5`)", null, null, "JMESPath function 'lookup': argument #2: expected an integer number but got: 1.5", "F"),
        ("items(`{ \"key1\": \"value1\", \"key2\": \"value2\" }`,`\"key\"`,`\"value\"`)", null, "[{\"key\":\"key1\",\"value\":\"value1\"},{\"key\":\"key2\",\"value\":\"value2\"}]", null, "F"),
        ("items(`[\"A\", \"B\", \"C\"]`,`\"myKey\"`,`\"myValue\"`)", null, "[{\"myKey\":0,\"myValue\":\"A\"},{\"myKey\":1,\"myValue\":\"B\"},{\"myKey\":2,\"myValue\":\"C\"}]", null, "F"),
        ("object_from_lists(`[\"key1\", \"key2\"]`,`[\"1\", \"2\"]`)", null, "{\"key1\":\"1\",\"key2\":\"2\"}", null, "F"),
        ("object_from_lists(`[\"key1\", \"key2\"]`,`[1, \"2\"]`)", null, "{\"key1\":1,\"key2\":\"2\"}", null, "F"),
        ("object_from_lists(`[\"key1\", \"key2\"]`,`[1]`)", null, "{\"key1\":1,\"key2\":null}", null, "F"),
        ("object_from_lists(`[{}]`,`[1]`)", null, null, "StringArray", "K"),

        // time functions (T); the clock is fixed at 2024-05-06T07:08:09Z
        ("time_since('', '2021-01-02T15:04:05-07:00', '2021-01-10T03:14:05-07:00')", null, "\"180h10m0s\"", null, "T"),
        ("time_since('Mon Jan _2 15:04:05 MST 2006', 'Mon Jan 02 15:04:05 MST 2021', 'Mon Jan 10 03:14:16 MST 2021')", null, "\"180h10m11s\"", null, "T"),
        ("time_since('', '2024-05-06T07:00:00Z', '')", null, "\"8m9s\"", null, "K: empty end is now"),
        ("time_to_cron('2023-02-02T15:04:05Z')", null, "\"4 15 2 2 4\"", null, "T"),
        ("time_to_cron(time_utc('2023-02-02T15:04:05-07:00'))", null, "\"4 22 2 2 4\"", null, "T"),
        ("time_add('2021-01-02T15:04:05-07:00', '3h')", null, "\"2021-01-02T18:04:05-07:00\"", null, "T"),
        ("time_add(time_parse('Mon Jan 02 15:04:05 MST 2006', 'Sat Jan 02 15:04:05 MST 2021'), '5h30m40s')", null, "\"2021-01-02T20:34:45Z\"", null, "T"),
        ("time_parse('2006-01-02T15:04:05Z07:00', '2021-01-02T15:04:05-07:00')", null, "\"2021-01-02T15:04:05-07:00\"", null, "T"),
        ("time_parse('Mon Jan 02 15:04:05 MST 2006', 'Sat Jan 02 15:04:05 MST 2021')", null, "\"2021-01-02T15:04:05Z\"", null, "T"),
        ("time_parse('1136214245', '1609596245')", null, "\"2021-01-02T14:04:05Z\"", null, "K: epoch layout"),
        ("time_utc('2023-02-02T15:04:05Z')", null, "\"2023-02-02T15:04:05Z\"", null, "T"),
        ("time_utc('2023-02-02T15:04:05-07:00')", null, "\"2023-02-02T22:04:05Z\"", null, "T"),
        ("time_diff('2021-01-02T15:04:05-07:00', '2021-01-10T03:14:05-07:00')", null, "\"180h10m0s\"", null, "T"),
        ("time_before('2021-01-02T15:04:05-07:00', '2021-01-02T16:04:05-07:00')", null, "true", null, "T"),
        ("time_before('2021-01-02T15:04:05-07:00', '2021-01-02T15:04:05-07:00')", null, "false", null, "T"),
        ("time_after('2021-01-02T16:04:05-07:00', '2021-01-02T15:04:05-07:00')", null, "true", null, "T"),
        ("time_after('2021-01-02T15:04:05-07:00', '2021-01-02T16:04:05-07:00')", null, "false", null, "T"),
        ("time_between('2021-01-02T17:04:05-07:00', '2021-01-02T15:04:05-07:00', '2021-01-02T18:04:05-07:00')", null, "true", null, "T"),
        ("time_between('2021-01-02T15:04:05-07:00', '2021-01-02T15:04:05-07:00', '2021-01-02T18:04:05-07:00')", null, "false", null, "T"),
        ("time_between('2021-01-02T18:04:05-07:00', '2021-01-02T15:04:05-07:00', '2021-01-02T18:04:05-07:00')", null, "false", null, "T"),
        ("time_truncate('2023-02-02T15:04:05Z', '1h')", null, "\"2023-02-02T15:00:00Z\"", null, "K"),
        ("time_truncate('2023-02-02T15:04:05-07:00', '24h')", null, "\"2023-02-01T17:00:00-07:00\"", null, "K: truncation of the absolute instant"),
        ("time_now_utc()", null, "\"2024-05-06T07:08:09Z\"", null, "K"),
        ("time_now()", null, "\"2024-05-06T07:08:09Z\"", null, "K: clock zone UTC"),
        ("time_add('not a time', '3h')", null, null, "parsing time", "K"),
        ("time_add('2021-01-02T15:04:05Z', '3 hours')", null, null, "invalid duration", "K"),

        // image_normalize, is_external_url, sha256, md5, random, x509_decode (K)
        ("image_normalize('nginx')", null, "\"docker.io/nginx:latest\"", null, "K"),
        ("image_normalize('ghcr.io/kyverno/kyverno:v1.12.0')", null, "\"ghcr.io/kyverno/kyverno:v1.12.0\"", null, "K"),
        ("image_normalize('library/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111')", null,
            "\"docker.io/library/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111\"", null, "K"),
        ("image_normalize('localhost:5000/app')", null, "\"localhost:5000/app:latest\"", null, "K"),
        ("image_normalize('Bad Image!')", null, null, "invalid reference format", "K"),
        ("is_external_url('https://kyverno.io/docs')", null, "true", null, "K: PR 8614"),
        ("is_external_url('http://localhost:8080/x')", null, "false", null, "K"),
        ("is_external_url('http://192.168.1.10/x')", null, "false", null, "K"),
        ("is_external_url('http://127.0.0.1/x')", null, "false", null, "K"),
        ("is_external_url('http://8.8.8.8/x')", null, "true", null, "K"),
        ("sha256('Hello, world!')", null, "\"315f5bdb76d078c43b8ac0064e4a0164612b1fce77c869345bfc94c75894edd3\"", null, "K: PR 9144"),
        ("sha1('Hello, world!')", null, "\"943a702d06f34599aee1f8da8ef9f7296031d699\"", null, "K: PR 11531"),
        ("md5('Hello, world!')", null, "\"6cd3556deb0da54bca060b4c39479839\"", null, "K: PR 11531"),
        ("length(random('[a-z]{5}-[0-9]{3}'))", null, "9", null, "K"),
        ("regex_match('^[a-z]{5}-[0-9]{3}$', random('[a-z]{5}-[0-9]{3}'))", null, "true", null, "K"),
        ("random('')", null, null, "no pattern provided", "K"),
        ("x509_decode(cert).Subject.CommonName", Certificates.KyvernoSvcDocument, "\"*.kyverno.svc\"", null, "F: Test_x509Decode"),
        ("x509_decode(cert).[NotBefore, NotAfter, IsCA, MaxPathLen, KeyUsage, Version, SerialNumber, PublicKey.E]", Certificates.KyvernoSvcDocument,
            "[\"2022-01-11T13:26:43Z\",\"2023-01-11T14:26:43Z\",true,-1,37,3,0,65537]", null, "F: Test_x509Decode"),
        ("x509_decode(cert).Extensions[0]", Certificates.KyvernoSvcDocument, "{\"Id\":[2,5,29,15],\"Critical\":true,\"Value\":\"AwICpA==\"}", null, "F: Test_x509Decode"),
        ("x509_decode(cert).Issuer.Names", Certificates.KyvernoSvcDocument, "[{\"Type\":[2,5,4,3],\"Value\":\"*.kyverno.svc\"}]", null, "F: Test_x509Decode"),
        ("x509_decode('xyz')", null, null, "failed to decode PEM block", "K"),
    ];

    public static IEnumerable<object[]> Data() => Cases.Select((c, i) => new object[] { i, c.Expression });

    [Theory]
    [MemberData(nameof(Data))]
    public void KyvernoFunctionBehavesAsKyverno(int index, string expression)
    {
        Harness.Compile(Cases.Select(c => "{{ " + c.Expression + " }}"));
        var c = Cases[index];
        output.WriteLine($"{expression}  [{c.Source}]");
        if (c.Error is not null)
        {
            var e = Assert.Throws<JmesPathException>(() => Harness.Expression(expression, c.Input));
            output.WriteLine(e.Message);
            Assert.Contains(c.Error, e.Message, StringComparison.Ordinal);
            return;
        }

        var actual = Harness.Expression(expression, c.Input);
        var expected = JmesValue.ParseJson(c.Result!);
        Assert.True(JmesValue.DeepEquals(expected, actual), $"expected {c.Result}, got {actual.ToJsonString()}");
    }

    [Fact]
    public void EveryKyvernoFunctionIsCoveredByACase()
    {
        var standard = FunctionCatalog.All(JmesDialect.Standard).Select(f => f.Name).ToHashSet();
        var kyverno = FunctionCatalog.All(JmesDialect.Kyverno).Select(f => f.Name).Where(n => !standard.Contains(n) || n == "sum");
        var missing = kyverno.Where(n => !Cases.Any(c => c.Expression.Contains(n + "(", StringComparison.Ordinal))).ToList();
        Assert.Empty(missing);
    }

    [Theory]
    [InlineData("compare('a')", "invalid-arity", 0, 12)]
    [InlineData("to_upper(`1`)", "invalid-type", 9, 3)]
    [InlineData("regex_match('(', name)", "invalid-value", 12, 3)]
    [InlineData("time_now(`1`)", "invalid-arity", 0, 13)]
    [InlineData("nope(@)", "unknown-function", 0, 4)]
    [InlineData("add(@)", "invalid-arity", 0, 6)]
    [InlineData("label_match('a', @)", "invalid-type", 12, 3)]
    public void WrongCallsAreBuildErrorsAtTheArgument(string expression, string kind, int start, int length)
    {
        var result = JmesCompiler.Parse(expression, JmesDialect.Kyverno);
        var diagnostic = Assert.Single(result.Diagnostics);
        output.WriteLine(diagnostic.ToString());
        Assert.Equal(kind, diagnostic.SpecName);
        Assert.Equal((start, length), (diagnostic.Start, diagnostic.Length));
    }

    [Fact]
    public void KyvernoFunctionsAreNotInTheStandardDialect()
    {
        var result = JmesCompiler.Parse("to_upper(name)", JmesDialect.Standard);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("unknown-function", diagnostic.SpecName);
        Assert.Contains("Kyverno function", diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KyvernoSumReplacesTheBuiltinInTheKyvernoDialect()
    {
        // Built-in sum([]) is 0; Kyverno's is an error (arithmetic_test.go). Each dialect keeps its own.
        Assert.Throws<JmesPathException>(() => Harness.Expression("sum(`[]`)"));
        var parsed = JmesCompiler.Parse("sum(@)", JmesDialect.Standard);
        var code = JmesCompiler.EmitMethod(parsed.Expression!, JmesDialect.Standard, "Sum", "sum(@)");
        Assert.Contains("JmesFunctions.Sum", code, StringComparison.Ordinal);
    }
}
