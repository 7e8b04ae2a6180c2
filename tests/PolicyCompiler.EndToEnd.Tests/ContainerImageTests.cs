using System.Formats.Tar;
using System.Globalization;
using System.Net;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// The container image of issue 7: <c>build/image.sh</c> applied to the binary the fixture published, pushed to
/// the test registry with skopeo, pulled back into a fresh layout, its layer unpacked and the webhook run from
/// those files alone under chroot as the image's user, with its root read-only as the printed Deployment's
/// readOnlyRootFilesystem makes it. If a library, the CA bundle or the user were missing, or the webhook wrote a file
/// anywhere, the start or a review would fail here.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class ContainerImageTests(WebhookFixture fixture, ITestOutputHelper output)
{
    /// <summary>The target for what a node pulls (layer, config, manifest), in bytes (decimal MB, the stricter reading).</summary>
    private const long CompressedSizeTarget = 40_000_000;

    private const string Namespace = "e2e-image";

    [Fact]
    public async Task ImagePushedAndPulledBackRunsTheWebhookFromItsOwnFilesAsNonRoot()
    {
        using var work = new TempDirectory("image");
        var tag = "e2e-" + Guid.NewGuid().ToString("N")[..12];
        var reference = $"{fixture.Registry.Host}/e2e-images/policy-compiler:{tag}";

        var build = await ImageScript.BuildAsync(fixture.Published.Executable, work.Combine("built"), tag, reference);
        output.WriteLine(build.Output);
        var built = OciLayoutImage.Read(work.Combine("built", "layout"), tag);
        Assert.True(File.Exists(work.Combine("built", "policy-compiler.oci.tar")), "the oci-archive was not written");

        // Pull it back through the registry into a layout of its own: what a node would get.
        (await ProcessRunner.RunAsync(OciImageBuilder.SkopeoExecutable, ["copy", "--quiet", "--src-tls-verify=false", "docker://" + reference, "oci:" + work.Combine("pulled") + ":" + tag], TimeSpan.FromMinutes(2))).EnsureSuccess();
        var pulled = OciLayoutImage.Read(work.Combine("pulled"), tag);
        Assert.Equal(built.ManifestDigest, pulled.ManifestDigest);
        var served = await fixture.Registry.Distribution.GetManifestAsync("e2e-images/policy-compiler", tag);
        Assert.Equal(built.ManifestDigest, served.Digest);

        // The config the runtime obeys: a non-root numeric user, the binary as entrypoint, the webhook's port.
        var user = pulled.User ?? throw new Xunit.Sdk.XunitException("the image config has no User");
        Assert.Equal("65532:65532", user);
        Assert.NotEqual(0, int.Parse(user.Split(':')[0], CultureInfo.InvariantCulture));
        Assert.Equal(["/app/policy-compiler"], pulled.Entrypoint);
        Assert.Equal("/app", pulled.Config["config"]?["WorkingDir"]?.GetValue<string>());
        Assert.NotNull(pulled.Config["config"]?["ExposedPorts"]?["9443/tcp"]);
        Assert.Equal("amd64", pulled.Config["architecture"]?.GetValue<string>());
        Assert.Equal("linux", pulled.Config["os"]?.GetValue<string>());

        var (entries, diffId, uncompressed) = pulled.ReadLayer();
        Assert.Equal(diffId, pulled.Config["rootfs"]!["diff_ids"]![0]!.GetValue<string>());
        var binarySize = new FileInfo(fixture.Published.Executable).Length;
        output.WriteLine($"image: {pulled.CompressedSize} bytes compressed (layer {pulled.LayerSize}), {uncompressed} bytes uncompressed layer tar, binary {binarySize} bytes, {entries.Count} entries");
        Assert.True(pulled.CompressedSize < CompressedSizeTarget, $"the image is {pulled.CompressedSize} bytes compressed, over the {CompressedSizeTarget} target");

        var rootfs = work.CreateSubdirectory("rootfs");
        (await ProcessRunner.RunAsync("tar", ["--numeric-owner", "-xzf", pulled.LayerPath, "-C", rootfs], TimeSpan.FromMinutes(2))).EnsureSuccess();
        Assert.Contains("nonroot:x:65532:65532:", File.ReadAllText(Path.Combine(rootfs, "etc", "passwd")), StringComparison.Ordinal);
        await ContainerRun.AddDeviceNodesAsync(rootfs);

        // The webhook's TLS files where the manifests mount them, readable by the image's user.
        var tls = Directory.CreateDirectory(Path.Combine(rootfs, "tls")).FullName;
        File.WriteAllText(Path.Combine(tls, "tls.crt"), fixture.Certificate.CertificatePem);
        File.WriteAllText(Path.Combine(tls, "tls.key"), fixture.Certificate.PrivateKeyPem);
        File.SetUnixFileMode(Path.Combine(tls, "tls.key"), UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        using var webhook = await ContainerRun.StartAsync(
            rootfs,
            pulled.Config["config"]!.AsObject(),
            fixture.Certificate,
            ["--Tls:CertificateFile=/tls/tls.crt", "--Tls:KeyFile=/tls/tls.key", "--Registry:InsecureRegistries:0=" + fixture.Registry.Host],
            readOnlyRoot: true);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var idleKib = webhook.ResidentKib();

        // The printed Deployment sets readOnlyRootFilesystem and mounts nothing writable (no emptyDir for /tmp): the
        // webhook's root, /tmp included, is read-only here too, and the start and the reviews below must not need more.
        var root = webhook.RootMount();
        Assert.True(root.Options.Split(',').Contains("ro"), $"the webhook's / is mounted {root.Options}, not read-only\n{webhook.Describe()}");
        Assert.DoesNotContain(webhook.MountPoints(), m => m == "/tmp" || m.StartsWith("/tmp/", StringComparison.Ordinal));

        // Real, effective, saved and filesystem ids of the running webhook: the image's user, not root, no extra groups.
        Assert.All(webhook.Status("Uid").Split('\t', StringSplitOptions.RemoveEmptyEntries), uid => Assert.Equal("65532", uid));
        Assert.All(webhook.Status("Gid").Split('\t', StringSplitOptions.RemoveEmptyEntries), gid => Assert.Equal("65532", gid));
        Assert.Equal(string.Empty, webhook.Status("Groups"));

        var admission = new AdmissionClient(webhook.Client);
        var unmatched = await admission.ValidateAsync(new TestPod(Namespace, "unmatched", fixture.UnmatchedImage.TagReference));
        Assert.True(unmatched is { HttpStatus: HttpStatusCode.OK, Allowed: true }, "expected allowed\n" + unmatched.Describe() + "\n" + webhook.Describe());

        // A signed image: the chrooted process reaches the registry, verifies the ECDSA signature with the image's
        // libcrypto and pins the tag to the digest.
        var signed = await admission.MutateAsync(new TestPod(Namespace, "signed", fixture.SignedImage.TagReference));
        Assert.True(signed is { HttpStatus: HttpStatusCode.OK, Allowed: true }, "expected allowed\n" + signed.Describe() + "\n" + webhook.Describe());
        Assert.Contains(signed.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == fixture.SignedImage.PinnedReference);

        var unsigned = await admission.MutateAsync(new TestPod(Namespace, "unsigned", fixture.UnsignedImage.TagReference));
        Assert.True(unsigned.Allowed == false, "expected denied\n" + unsigned.Describe() + "\n" + webhook.Describe());
        Assert.Contains("signature not found", unsigned.Message, StringComparison.Ordinal);

        var afterReviewsKib = webhook.ResidentKib();
        Assert.False(webhook.HasExited, webhook.Describe());
        output.WriteLine($"start-up (exec to first 200 of /healthz): {webhook.StartTime.TotalMilliseconds:F0} ms; RSS idle {idleKib} KiB, after three reviews {afterReviewsKib} KiB");
    }

    [Fact]
    public async Task ImageHoldsOnlyTheWebhookAndIsReproducible()
    {
        using var work = new TempDirectory("image-repro");

        await ImageScript.BuildAsync(fixture.Published.Executable, work.Combine("first"), "repro");
        await ImageScript.BuildAsync(fixture.Published.Executable, work.Combine("second"), "repro");

        // Same binary, same SOURCE_DATE_EPOCH: the same bytes, down to the archive.
        var first = OciLayoutImage.Read(work.Combine("first", "layout"), "repro");
        var second = OciLayoutImage.Read(work.Combine("second", "layout"), "repro");
        Assert.Equal(first.ManifestDigest, second.ManifestDigest);
        Assert.Equal(File.ReadAllBytes(work.Combine("first", "policy-compiler.oci.tar")), File.ReadAllBytes(work.Combine("second", "policy-compiler.oci.tar")));
        Assert.Equal("2023-11-14T22:13:20Z", first.Config["created"]?.GetValue<string>());

        var (entries, _, _) = first.ReadLayer();
        var names = entries.Select(e => e.Name).ToList();
        output.WriteLine(string.Join('\n', entries.Select(e => $"{e.Type,-14} {e.Uid}:{e.Gid} {Convert.ToString((int)e.Mode, 8),4} {e.Length,10} {e.Name}")));

        Assert.Contains("app/policy-compiler", names);
        Assert.Contains("app/appsettings.json", names);
        Assert.Contains("etc/passwd", names);
        Assert.Contains("etc/group", names);
        Assert.Contains("etc/ssl/certs/ca-certificates.crt", names);
        Assert.Contains("lib64/ld-linux-x86-64.so.2", names);
        // dlopened by the runtime's crypto layer: ldd of the binary does not list them.
        Assert.Contains(names, n => n.EndsWith("/libssl.so.3", StringComparison.Ordinal));
        Assert.Contains(names, n => n.EndsWith("/libcrypto.so.3", StringComparison.Ordinal));
        Assert.Contains(names, n => n.EndsWith("/libc.so.6", StringComparison.Ordinal));

        // Nothing to log in with or run besides the webhook: no shell, no package manager, no ICU (invariant globalization).
        Assert.DoesNotContain(names, n => n.StartsWith("bin/", StringComparison.Ordinal) || n.StartsWith("usr/bin/", StringComparison.Ordinal) || n.StartsWith("sbin/", StringComparison.Ordinal));
        Assert.DoesNotContain(names, n => n.Contains("libicu", StringComparison.Ordinal));
        Assert.DoesNotContain(names, n => n.StartsWith("var/lib/dpkg", StringComparison.Ordinal));

        // Reproducible headers: one mtime, root owns everything but the user's home, /tmp is sticky and world-writable.
        Assert.All(entries, e => Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), e.ModificationTime));
        Assert.All(entries.Where(e => e.Name != "home/nonroot"), e => Assert.True(e is { Uid: 0, Gid: 0 }, $"{e.Name} is owned by {e.Uid}:{e.Gid}"));
        var home = Assert.Single(entries, e => e.Name == "home/nonroot");
        Assert.Equal((65532, 65532), (home.Uid, home.Gid));
        var tmp = Assert.Single(entries, e => e.Name == "tmp");
        Assert.Equal(TarEntryType.Directory, tmp.Type);
        Assert.Equal((UnixFileMode)Convert.ToInt32("1777", 8), tmp.Mode);

        // Symlinks stay inside the image (OpenSSL's default cert.pem and certs/ point at the bundle).
        Assert.All(entries.Where(e => e.Type == TarEntryType.SymbolicLink), e => Assert.StartsWith("usr/lib/ssl/", e.Name, StringComparison.Ordinal));
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
    }
}
