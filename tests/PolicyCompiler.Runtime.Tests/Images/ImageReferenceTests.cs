using PolicyCompiler.Runtime.Images;

namespace PolicyCompiler.Runtime.Tests.Images;

/// <summary>
/// Test vectors marked "distribution" come from github.com/distribution/reference (Apache-2.0), reference_test.go
/// (TestReferenceParse) and normalize_test.go (TestValidateReferenceName, TestValidateRemoteName,
/// TestParseRepositoryInfo, TestNormalizedSplitHostname, TestParseReferenceWithTagAndDigest), read as
/// <c>ParseNormalizedNamed</c> reads them — the function the kubelet uses on a Pod's image.
/// </summary>
public sealed class ImageReferenceTests
{
    private const string Sha256 = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    private const string BusyboxDigest = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";

    /// <summary>input, registry, repository, tag, digest.</summary>
    public static TheoryData<string, string, string, string?, string?> ValidReferences => new()
    {
        { "nginx", "docker.io", "library/nginx", null, null },
        { "nginx:1.25", "docker.io", "library/nginx", "1.25", null },
        { "docker.io/nginx", "docker.io", "library/nginx", null, null },
        { "docker.io/library/nginx", "docker.io", "library/nginx", null, null },
        { "index.docker.io/nginx:stable", "docker.io", "library/nginx", "stable", null },
        { "localhost/x", "localhost", "x", null, null },
        { "localhost:5000/x", "localhost:5000", "x", null, null },
        { "127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t", null },
        { "ghcr.io/org/team/app:v1.2.3", "ghcr.io", "org/team/app", "v1.2.3", null },
        { "localhost:65535/x", "localhost:65535", "x", null, null },

        // distribution, TestNormalizedSplitHostname
        { "test.com/foo", "test.com", "foo", null, null },
        { "test_com/foo", "docker.io", "test_com/foo", null, null },
        { "docker/migrator", "docker.io", "docker/migrator", null, null },
        { "test.com:8080/foo", "test.com:8080", "foo", null, null },
        { "test-com:8080/foo", "test-com:8080", "foo", null, null },
        { "foo", "docker.io", "library/foo", null, null },
        { "xn--n3h.com/foo", "xn--n3h.com", "foo", null, null },
        { "xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", null, null },
        { "docker.io/library/foo/bar", "docker.io", "library/foo/bar", null, null },

        // distribution, TestParseRepositoryInfo
        { "index.docker.io/fooo/bar", "docker.io", "fooo/bar", null, null },
        { "library/ubuntu", "docker.io", "library/ubuntu", null, null },
        { "ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", null, null },
        { "index.docker.io/library/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", null, null },
        { "store/foo/bar", "docker.io", "store/foo/bar", null, null },
        { "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase", null, null },
        { "example.com:8000/privatebasee", "example.com:8000", "privatebasee", null, null },
        { "Foo/bar", "Foo", "bar", null, null },
        { "FOO/bar", "FOO", "bar", null, null },

        // distribution, TestReferenceParse (normalised)
        { "test.com:tag", "docker.io", "library/test.com", "tag", null },
        { "test.com:5000", "docker.io", "library/test.com", "5000", null },
        { "test:5000/repo", "test:5000", "repo", null, null },
        { "test:5000/repo@" + Sha256, "test:5000", "repo", null, Sha256 },
        { "test:5000/repo:tag@" + Sha256, "test:5000", "repo", "tag", Sha256 },
        { "lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", null },
        { "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", null },
        { "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", null },
        { "xn--7o8h.com/myimage:xn--7o8h.com@sha512:" + new string('f', 128), "xn--7o8h.com", "myimage", "xn--7o8h.com", "sha512:" + new string('f', 128) },
        { "foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", null },
        { "foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", null },
        { "192.168.1.1", "docker.io", "library/192.168.1.1", null, null },
        { "192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", null },
        { "192.168.1.1/repo", "192.168.1.1", "repo", null, null },
        { "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", null },
        { "[2001:db8::1]/repo", "[2001:db8::1]", "repo", null, null },
        { "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", null },
        { "[2001:db8::1]:5000/repo:tag@" + Sha256, "[2001:db8::1]:5000", "repo", "tag", Sha256 },
        { "[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", null, null },
        { "[::1]:5000/repo", "[::1]:5000", "repo", null, null },

        // distribution, TestValidateReferenceName and TestValidateRemoteName (valid)
        { "192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", null },
        { "192.168.0.1:8/debian", "192.168.0.1:8", "debian", null, null },
        { "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", null, null },
        { "[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian", null, null },
        { "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker.io", "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", null, null },
        { "DOCKER/docker", "DOCKER", "docker", null, null },
        { "docker---rules/docker", "docker.io", "docker---rules/docker", null, null },
        { "dock__er/docker", "docker.io", "dock__er/docker", null, null },
        { "d/docker", "docker.io", "d/docker", null, null },
        { "jess/t", "docker.io", "jess/t", null, null },

        // distribution, TestParseReferenceWithTagAndDigest
        { "busybox:latest@" + BusyboxDigest, "docker.io", "library/busybox", "latest", BusyboxDigest },
    };

    public static TheoryData<string> InvalidReferences => new()
    {
        string.Empty,
        "docker.io/library/NGINX",
        "ghcr.io/Org/app",
        "nginx@sha256:abc",
        "nginx@sha256:" + new string('f', 65),
        "nginx@sha256:" + new string('F', 64),
        "nginx@md5:" + new string('f', 32),
        "nginx@" + new string('f', 64),
        "localhost:65536/x",
        "localhost:99999/x",
        "localhost:/x",
        "nginx:" + new string('t', 129),
        "nginx:-tag",
        "nginx:.tag",
        "nginx:",
        " nginx",
        "nginx ",
        "docker.io/library/nginx/",
        "/nginx",
        "nginx:1.25@",

        // distribution, TestReferenceParse (errors)
        ":justtag",
        "@" + Sha256,
        "repo@sha256:ffffffffffffffffffffffffffffffffff",
        "validname@invaliddigest:" + new string('f', 64),
        "Uppercase:tag",
        "test:5000/Uppercase/lowercase:tag",
        string.Concat(Enumerable.Repeat("a/", 128)) + "a:tag",
        "aa/asdf$$^/aa",
        "[2001:db8::1]",
        "[2001:db8::1]:5000",
        "[2001:db8::1]:tag",
        "[fe80::1%@invalidzone]:5000/repo",

        // distribution, TestValidateReferenceName and TestValidateRemoteName (invalid)
        "https://github.com/docker/docker",
        "docker/Docker",
        "-docker",
        "-docker/docker",
        "-docker.io/docker/docker",
        "docker///docker",
        "docker.io/docker/Docker",
        "docker.io/docker///docker",
        "[fc00::1]",
        "[fc00::1]:5000",
        "fc00::1:5000/debian",
        "docker-/docker",
        "-docker-/docker",
        "____/____",
        "_docker/_docker",
        "dock..er/docker",
        "dock_.er/docker",
        "dock-.er/docker",
        "docker/",
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
    };

    /// <summary>
    /// References the distribution grammar (and so the kubelet) refuses but a lenient reading accepts. The type's
    /// contract is that whatever the kubelet would refuse is refused here.
    /// </summary>
    public static TheoryData<string> InvalidReferencesRefusedByTheKubelet => new()
    {
        // distribution, TestValidateReferenceName / TestValidateRemoteName: "Disallow 64-character hexadecimal."
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",

        // distribution, TestReferenceParse / TestValidateReferenceName: IPv6 literals are hex digits and colons only.
        "[fe80::1%eth0]:5000/repo",
        "[fe80::1%eth0]:5000/debian",
        "[2001:db8:3:4::192.0.2.33]:5000/debian",
    };

    [Theory]
    [MemberData(nameof(ValidReferences))]
    public void ValidReferenceIsParsedAndNormalised(string input, string registry, string repository, string? tag, string? digest)
    {
        var ok = ImageReference.TryParse(input, out var reference, out var error);

        Assert.True(ok, error);
        Assert.Equal(input, reference!.Original);
        Assert.Equal(registry, reference.Registry);
        Assert.Equal(repository, reference.Repository);
        Assert.Equal(tag, reference.Tag);
        Assert.Equal(digest, reference.Digest);
        Assert.Equal(registry + "/" + repository, reference.Name);
    }

    [Theory]
    [MemberData(nameof(InvalidReferences))]
    [MemberData(nameof(InvalidReferencesRefusedByTheKubelet))]
    public void InvalidReferenceIsRefused(string input)
    {
        var ok = ImageReference.TryParse(input, out var reference, out var error);

        Assert.False(ok, $"'{input}' was accepted as {reference?.FullyQualified}");
        Assert.Null(reference);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Fact]
    public void NullAndEmptyReportEmptiness()
    {
        Assert.False(ImageReference.TryParse(null, out _, out var nullError));
        Assert.False(ImageReference.TryParse(string.Empty, out _, out var emptyError));
        Assert.Equal("image reference is empty", nullError);
        Assert.Equal("image reference is empty", emptyError);
    }

    [Fact]
    public void ErrorsNameTheOffendingPart()
    {
        Assert.False(ImageReference.TryParse("docker.io/library/NGINX", out _, out var repositoryError));
        Assert.False(ImageReference.TryParse("nginx@sha256:abc", out _, out var digestError));
        Assert.False(ImageReference.TryParse("localhost:65536/x", out _, out var registryError));

        Assert.Contains("'library/NGINX'", repositoryError, StringComparison.Ordinal);
        Assert.Contains("lowercase", repositoryError, StringComparison.Ordinal);
        Assert.Contains("'sha256:abc'", digestError, StringComparison.Ordinal);
        Assert.Contains("'localhost:65536'", registryError, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseThrowsFormatExceptionForInvalidReferences()
    {
        var exception = Assert.Throws<FormatException>(() => ImageReference.Parse("Uppercase:tag"));

        Assert.Contains("Uppercase", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OverlongInputIsRefusedBeforeParsing()
    {
        var ok = ImageReference.TryParse("a" + new string('/', 4096), out _, out var error);

        Assert.False(ok);
        Assert.Equal("image reference is longer than 4096 characters", error);
    }

    [Fact]
    public void NameLengthLimitCountsTheNormalisedName()
    {
        var longest = "docker.io/x/" + new string('a', 255 - "docker.io/x/".Length);

        Assert.Equal(255, longest.Length);
        Assert.True(ImageReference.TryParse(longest, out _, out _));
        Assert.False(ImageReference.TryParse(longest + "a", out _, out _));

        // A single-component Docker Hub name grows by "docker.io/library/" before the limit applies.
        Assert.False(ImageReference.TryParse(new string('a', 240), out _, out _));
    }

    [Theory]
    [InlineData("nginx", "docker.io/library/nginx:latest")]
    [InlineData("index.docker.io/library/nginx", "docker.io/library/nginx:latest")]
    [InlineData("nginx:1.25", "docker.io/library/nginx:1.25")]
    [InlineData("nginx@" + Sha256, "docker.io/library/nginx@" + Sha256)]
    [InlineData("nginx:1.25@" + Sha256, "docker.io/library/nginx:1.25@" + Sha256)]
    [InlineData("localhost:5000/x", "localhost:5000/x:latest")]
    [InlineData("127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t")]
    [InlineData("busybox:latest@" + BusyboxDigest, "docker.io/library/busybox:latest@" + BusyboxDigest)]
    public void FullyQualifiedMakesTheImpliedPartsExplicit(string input, string expected)
    {
        var reference = ImageReference.Parse(input);

        Assert.Equal(expected, reference.FullyQualified);
        Assert.Equal(expected, reference.ToString());
    }

    [Theory]
    [InlineData("nginx", "docker.io/library/nginx:latest")]
    [InlineData("nginx:1.25", "docker.io/library/nginx:1.25")]
    [InlineData("nginx@" + Sha256, "docker.io/library/nginx@" + Sha256)]
    [InlineData("nginx:1.25@" + Sha256, "docker.io/library/nginx@" + Sha256)]
    [InlineData("ghcr.io/org/app:v1", "ghcr.io/org/app:v1")]
    public void CanonicalIsNameAtDigestOrNameColonTag(string input, string expected)
    {
        Assert.Equal(expected, ImageReference.Parse(input).Canonical);
    }

    [Theory]
    [InlineData("nginx", "latest")]
    [InlineData("nginx:1.25", "1.25")]
    [InlineData("nginx@" + Sha256, null)]
    [InlineData("nginx:1.25@" + Sha256, "1.25")]
    public void EffectiveTagDefaultsToLatestOnlyWithoutDigest(string input, string? expected)
    {
        Assert.Equal(expected, ImageReference.Parse(input).EffectiveTag);
    }

    [Theory]
    [InlineData("nginx", "registry-1.docker.io")]
    [InlineData("index.docker.io/library/nginx", "registry-1.docker.io")]
    [InlineData("ghcr.io/org/app", "ghcr.io")]
    [InlineData("localhost:5000/x", "localhost:5000")]
    [InlineData("[::1]:5000/repo", "[::1]:5000")]
    public void RegistryEndpointIsWhereTheApiLives(string input, string expected)
    {
        Assert.Equal(expected, ImageReference.Parse(input).RegistryEndpoint);
    }

    [Theory]
    [InlineData("nginx", "nginx")]
    [InlineData("ghcr.io/org/team/app:v1", "app")]
    public void ShortNameIsTheLastPathComponent(string input, string expected)
    {
        Assert.Equal(expected, ImageReference.Parse(input).ShortName);
    }

    [Fact]
    public void PatternCandidatesForAnOfficialImageIncludeTheFamiliarDockerHubForm()
    {
        var candidates = ImageReference.Parse("nginx").PatternCandidates.ToList();

        Assert.Equal(["docker.io/library/nginx:latest", "docker.io/nginx:latest"], candidates);
    }

    [Theory]
    [InlineData("index.docker.io/arunvel1988/signedimage:latest", "docker.io/arunvel1988/signedimage:latest", "index.docker.io/arunvel1988/signedimage:latest")]
    [InlineData("index.docker.io/nginx:1.25", "docker.io/library/nginx:1.25", "docker.io/nginx:1.25", "index.docker.io/library/nginx:1.25", "index.docker.io/nginx:1.25")]
    [InlineData("index.docker.io/library/nginx", "docker.io/library/nginx:latest", "docker.io/nginx:latest", "index.docker.io/library/nginx:latest")]
    public void PatternCandidatesKeepTheIndexDockerIoSpellingKyvernoMatches(string input, params string[] expected)
    {
        // Kyverno does not normalise index.docker.io: a pattern written with it matches the image written with it.
        Assert.Equal(expected, ImageReference.Parse(input).PatternCandidates);
        Assert.Equal("docker.io", ImageReference.Parse(input).Registry);
    }

    [Fact]
    public void PatternCandidatesAndTheFullyQualifiedFormAreBuiltOncePerReference()
    {
        // Every rule of a review matches its imageReferences against the same parsed reference.
        var reference = ImageReference.Parse("nginx:1.25@" + Sha256);

        Assert.Same(reference.FullyQualified, reference.FullyQualified);
        Assert.Same(reference.PatternCandidates, reference.PatternCandidates);
        Assert.Equal(3, reference.PatternCandidates.Count());
        Assert.Equal("docker.io/library/nginx:1.25@" + Sha256, reference.WithDigest(Sha256).FullyQualified);
    }

    [Fact]
    public void PatternCandidatesForTagAndDigestIncludeTheDigestOnlyForm()
    {
        var candidates = ImageReference.Parse("nginx:1.25@" + Sha256).PatternCandidates.ToList();

        Assert.Equal(
            [
                "docker.io/library/nginx:1.25@" + Sha256,
                "docker.io/library/nginx@" + Sha256,
                "docker.io/nginx:1.25@" + Sha256,
            ],
            candidates);
    }

    [Theory]
    [InlineData("ghcr.io/org/app:v1", "ghcr.io/org/app:v1")]
    [InlineData("docker/docker", "docker.io/docker/docker:latest")]
    [InlineData("localhost:5000/library/x", "localhost:5000/library/x:latest")]
    public void PatternCandidatesOutsideDockerHubLibraryAreJustTheFullyQualifiedName(string input, string expected)
    {
        Assert.Equal([expected], ImageReference.Parse(input).PatternCandidates);
    }

    // distribution, TestParseRepositoryInfo: the familiar name of docker.io/library/foo/bar is "library/foo/bar";
    // only a single-component official image drops "library/". docker.io/foo/bar is another repository.
    [Fact]
    public void PatternCandidatesDoNotStripLibraryFromMultiComponentPaths()
    {
        var candidates = ImageReference.Parse("docker.io/library/foo/bar").PatternCandidates.ToList();

        Assert.Contains("docker.io/library/foo/bar:latest", candidates);
        Assert.DoesNotContain("docker.io/foo/bar:latest", candidates);
    }

    [Fact]
    public void WithDigestPinsTheReferenceAndKeepsTheRest()
    {
        var reference = ImageReference.Parse("ghcr.io/org/app:v1");

        var pinned = reference.WithDigest(Sha256);

        Assert.Equal(Sha256, pinned.Digest);
        Assert.Equal("v1", pinned.Tag);
        Assert.Equal("ghcr.io/org/app:v1", pinned.Original);
        Assert.Equal("ghcr.io/org/app:v1@" + Sha256, pinned.FullyQualified);
        Assert.Equal("ghcr.io/org/app@" + Sha256, pinned.Canonical);
        Assert.Null(reference.Digest);
    }

    [Fact]
    public void WithDigestOnAnUntaggedReferenceDropsTheImpliedLatest()
    {
        var pinned = ImageReference.Parse("nginx").WithDigest(Sha256);

        Assert.Null(pinned.EffectiveTag);
        Assert.Equal("docker.io/library/nginx@" + Sha256, pinned.FullyQualified);
    }

    [Theory]
    [InlineData("sha256:abc")]
    [InlineData("")]
    [InlineData("latest")]
    [InlineData("sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")]
    public void WithDigestRefusesInvalidDigests(string digest)
    {
        var reference = ImageReference.Parse("nginx");

        var exception = Assert.Throws<ArgumentException>(() => reference.WithDigest(digest));

        Assert.Equal("digest", exception.ParamName);
    }

    [Theory]
    [InlineData("sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("sha512:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", false)]
    [InlineData("sha512:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false)]
    [InlineData("sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", false)]
    [InlineData(":" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false)]
    [InlineData("SHA256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false)]
    public void IsValidDigestChecksAlgorithmAndLength(string digest, bool expected)
    {
        Assert.Equal(expected, ImageReference.IsValidDigest(digest));
    }

    [Fact]
    public void EqualityIsOnTheNormalisedParts()
    {
        var a = ImageReference.Parse("nginx:1.25");
        var b = ImageReference.Parse("index.docker.io/library/nginx:1.25");
        var c = ImageReference.Parse("nginx:1.26");

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, c);
        Assert.False(a.Equals(null));
    }
}
