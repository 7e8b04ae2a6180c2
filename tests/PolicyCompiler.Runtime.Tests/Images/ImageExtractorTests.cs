using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Images;

namespace PolicyCompiler.Runtime.Tests.Images;

public sealed class ImageExtractorTests
{
    private const string PodSpec = """
        {
          "initContainers": [ { "name": "init", "image": "busybox:1.36" } ],
          "containers": [
            { "name": "app", "image": "ghcr.io/org/app:v1" },
            { "name": "sidecar", "image": "nginx" }
          ],
          "ephemeralContainers": [ { "name": "debugger", "image": "docker.io/library/alpine:3.20" } ]
        }
        """;

    [Fact]
    public void PodImagesComeInKyvernoOrderWithTheirPointers()
    {
        var context = Review("", "v1", "Pod", $$$"""{ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p", "namespace": "default" }, "spec": {{{PodSpec}}} }""");

        var images = ImageExtractor.Extract(context);

        Assert.Equal(
            [
                new ExtractedImage("/spec/containers/0/image", "containers", "app", "ghcr.io/org/app:v1"),
                new ExtractedImage("/spec/containers/1/image", "containers", "sidecar", "nginx"),
                new ExtractedImage("/spec/initContainers/0/image", "initContainers", "init", "busybox:1.36"),
                new ExtractedImage("/spec/ephemeralContainers/0/image", "ephemeralContainers", "debugger", "docker.io/library/alpine:3.20"),
            ],
            images);
    }

    [Fact]
    public void PointersPastThePrecomputedContainersAreStillExact()
    {
        // The first containers' pointers are precomputed constants; a Pod with more must get the same form after them.
        var containers = string.Join(",", Enumerable.Range(0, 20).Select(i => $$"""{ "name": "c{{i}}", "image": "registry.example/app{{i}}:v1" }"""));
        var context = Review("batch", "v1", "CronJob", $$$"""{ "spec": { "jobTemplate": { "spec": { "template": { "spec": { "containers": [ {{{containers}}} ] } } } } } }""");

        var images = ImageExtractor.Extract(context);

        Assert.Equal(20, images.Count);
        Assert.All(images.Select((image, i) => (image, i)), pair =>
        {
            Assert.Equal($"/spec/jobTemplate/spec/template/spec/containers/{pair.i}/image", pair.image.Pointer);
            Assert.Equal($"registry.example/app{pair.i}:v1", pair.image.Text);
        });
    }

    [Fact]
    public void DeploymentImagesAreInsideThePodTemplate()
    {
        var context = Review("apps", "v1", "Deployment", $$$"""
            { "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "d" },
              "spec": { "replicas": 2, "template": { "metadata": { "labels": { "app": "d" } }, "spec": {{{PodSpec}}} } } }
            """);

        var pointers = ImageExtractor.Extract(context).Select(i => i.Pointer).ToList();

        Assert.Equal(
            [
                "/spec/template/spec/containers/0/image",
                "/spec/template/spec/containers/1/image",
                "/spec/template/spec/initContainers/0/image",
                "/spec/template/spec/ephemeralContainers/0/image",
            ],
            pointers);
    }

    [Fact]
    public void CronJobImagesAreInsideTheJobTemplate()
    {
        var context = Review("batch", "v1", "CronJob", """
            { "apiVersion": "batch/v1", "kind": "CronJob", "metadata": { "name": "c" },
              "spec": { "schedule": "*/5 * * * *", "jobTemplate": { "spec": { "template": { "spec": {
                "restartPolicy": "OnFailure",
                "containers": [ { "name": "job", "image": "ghcr.io/org/job@sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00" } ],
                "initContainers": [ { "name": "prepare", "image": "alpine" } ] } } } } } }
            """);

        var images = ImageExtractor.Extract(context);

        Assert.Equal(
            [
                new ExtractedImage("/spec/jobTemplate/spec/template/spec/containers/0/image", "containers", "job", "ghcr.io/org/job@sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"),
                new ExtractedImage("/spec/jobTemplate/spec/template/spec/initContainers/0/image", "initContainers", "prepare", "alpine"),
            ],
            images);
    }

    [Theory]
    [InlineData("apps", "DaemonSet")]
    [InlineData("apps", "StatefulSet")]
    [InlineData("apps", "ReplicaSet")]
    [InlineData("", "ReplicationController")]
    [InlineData("batch", "Job")]
    public void PodTemplateControllersUseSpecTemplateSpec(string group, string kind)
    {
        var context = Review(group, "v1", kind, $$$"""{ "kind": "{{{kind}}}", "spec": { "template": { "spec": { "initContainers": [ { "name": "i", "image": "alpine" } ] } } } }""");

        var image = Assert.Single(ImageExtractor.Extract(context));
        var path = ImageExtractor.PodSpecPath(kind);

        Assert.Equal("/spec/template/spec/initContainers/0/image", image.Pointer);
        Assert.NotNull(path);
        Assert.Equal(["spec", "template", "spec"], path);
    }

    [Theory]
    [InlineData("ConfigMap")]
    [InlineData("pod")]
    [InlineData("")]
    public void KindsWithoutAPodSpecHaveNoImages(string kind)
    {
        var context = Review("", "v1", kind, $$$"""{ "kind": "{{{kind}}}", "spec": {{{PodSpec}}} }""");

        Assert.Empty(ImageExtractor.Extract(context));
        Assert.Null(ImageExtractor.PodSpecPath(kind));
    }

    [Fact]
    public void ContainersWithoutAStringImageAreSkippedButKeepTheirIndex()
    {
        var context = Review("", "v1", "Pod", """
            { "kind": "Pod", "spec": { "containers": [
                { "name": "no-image" },
                { "name": "number", "image": 42 },
                "not an object",
                { "image": "nginx" } ] } }
            """);

        var image = Assert.Single(ImageExtractor.Extract(context));

        Assert.Equal(new ExtractedImage("/spec/containers/3/image", "containers", string.Empty, "nginx"), image);
    }

    [Theory]
    [InlineData("""{ "kind": "Pod" }""")]
    [InlineData("""{ "kind": "Pod", "spec": null }""")]
    [InlineData("""{ "kind": "Pod", "spec": [] }""")]
    [InlineData("""{ "kind": "Pod", "spec": { "containers": {} } }""")]
    [InlineData("""{ "kind": "Pod", "spec": { "containers": [] } }""")]
    public void MissingOrMalformedSpecsHaveNoImages(string resource)
    {
        Assert.Empty(ImageExtractor.Extract(Review("", "v1", "Pod", resource)));
    }

    [Fact]
    public void DeploymentWithoutTemplateHasNoImages()
    {
        var context = Review("apps", "v1", "Deployment", $$$"""{ "kind": "Deployment", "spec": {{{PodSpec}}} }""");

        Assert.Empty(ImageExtractor.Extract(context));
    }

    [Fact]
    public void DeleteRequestsAreReadFromTheOldObject()
    {
        var json = $$$"""
            { "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": { "uid": "u", "kind": { "group": "", "version": "v1", "kind": "Pod" }, "operation": "DELETE",
                           "object": null,
                           "oldObject": { "kind": "Pod", "metadata": { "name": "gone" }, "spec": {{{PodSpec}}} } } }
            """;
        var context = new AdmissionContext(Deserialize(json).Request!);

        var images = ImageExtractor.Extract(context);

        Assert.Equal("gone", context.Name);
        Assert.Equal(4, images.Count);
        Assert.Equal("/spec/containers/0/image", images[0].Pointer);
    }

    [Fact]
    public void RequestWithoutAnObjectHasNoImages()
    {
        var json = """{ "request": { "uid": "u", "kind": { "group": "", "version": "v1", "kind": "Pod" }, "operation": "CONNECT" } }""";

        Assert.Empty(ImageExtractor.Extract(new AdmissionContext(Deserialize(json).Request!)));
    }

    [Fact]
    public void CustomExtractorWalksArraysAndNamesTheImages()
    {
        // The reference page's Tekton sample: path /status/taskSpec/steps/*, value image, key name.
        var context = Review("tekton.dev", "v1beta1", "TaskRun", """
            { "metadata": { "name": "run" }, "status": { "taskSpec": { "steps": [
              { "name": "build", "image": "ghcr.io/org/builder:v1" },
              { "name": "push" },
              { "name": "scan", "image": "ghcr.io/org/scanner:v2" } ] } } }
            """);
        var extractor = new ImageExtractorDefinition("TaskRun", "taskrunstatus", ["status", "taskSpec", "steps", "*"], "image", "name");

        var images = ImageExtractor.Extract(context, [extractor]);

        Assert.Equal(
            [
                new ExtractedImage("/status/taskSpec/steps/0/image", "taskrunstatus", "build", "ghcr.io/org/builder:v1"),
                new ExtractedImage("/status/taskSpec/steps/2/image", "taskrunstatus", "scan", "ghcr.io/org/scanner:v2"),
            ],
            images);
    }

    [Fact]
    public void CustomExtractorReadsASingleObjectAndObjectMembers()
    {
        var context = Review("tekton.dev", "v1", "PipelineRun", """
            { "spec": { "pipelineRef": { "name": "p", "bundle": "ghcr.io/org/pipeline:v1" },
                        "tasks": { "a/b": { "ref": "ghcr.io/org/task:v1" } } } }
            """);

        var images = ImageExtractor.Extract(context,
        [
            new ImageExtractorDefinition("PipelineRun", "pipelineruns", ["spec", "pipelineRef"], "bundle", "name"),
            new ImageExtractorDefinition("PipelineRun", "tasks", ["spec", "tasks", "*"], "ref", null),
        ]);

        Assert.Equal(
            [
                new ExtractedImage("/spec/pipelineRef/bundle", "pipelineruns", "p", "ghcr.io/org/pipeline:v1"),
                new ExtractedImage("/spec/tasks/a~1b/ref", "tasks", "", "ghcr.io/org/task:v1"),
            ],
            images);
    }

    [Fact]
    public void ExtractorsForAnotherKindLeaveThePodDefaults()
    {
        var context = Review("", "v1", "Pod", $$$"""{ "spec": {{{PodSpec}}} }""");

        var images = ImageExtractor.Extract(context, [new ImageExtractorDefinition("TaskRun", "custom", ["spec", "steps", "*"], "image", null)]);

        Assert.Equal(4, images.Count);
    }

    private static AdmissionContext Review(string group, string version, string kind, string resource)
    {
        var json = $$$"""
            { "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": { "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                           "kind": { "group": "{{{group}}}", "version": "{{{version}}}", "kind": "{{{kind}}}" },
                           "namespace": "default", "operation": "CREATE", "object": {{{resource}}} } }
            """;
        return new AdmissionContext(Deserialize(json).Request!);
    }

    private static AdmissionReview Deserialize(string json)
    {
        var review = JsonSerializer.Deserialize(json, AdmissionJsonContext.Default.AdmissionReview);
        Assert.NotNull(review?.Request);
        return review;
    }
}
