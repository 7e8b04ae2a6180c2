using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Telemetry;

namespace PolicyCompiler.Host;

/// <summary>
/// The webhook's HTTP surface: <c>POST /mutate</c> and <c>POST /validate</c> with admission.k8s.io/v1 AdmissionReviews,
/// and <c>/mutate/policy/&lt;policy&gt;</c>, <c>/validate/policy/&lt;policy&gt;</c> for each policy with a webhook of its own.
/// </summary>
public static class AdmissionEndpoints
{
    /// <summary>
    /// The API server sends at most about 3 MiB per object (etcd's request limit) wrapped in the review; anything larger
    /// is not a real review. Kestrel answers 413 beyond it (<see cref="TransportLimits"/>).
    /// </summary>
    public const long MaxRequestBytes = 4 * 1024 * 1024;

    /// <summary>The path of a policy's own webhook (a policy with <c>matchConditions</c>), mutating or validating.</summary>
    public static string PolicyPath(PolicyDefinition policy, bool mutating)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return (mutating ? "/mutate/policy/" : "/validate/policy/") + policy.WebhookPathSegment;
    }

    public static IEndpointRouteBuilder MapAdmission(this IEndpointRouteBuilder routes, IEnumerable<PolicyDefinition> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);

        // The shared webhook leaves out the policies with a webhook of their own: the API server calls it whatever their
        // matchConditions say.
        routes.MapPost("/mutate", (HttpContext context, AdmissionEngine engine, WebhookMetrics metrics, ILoggerFactory logs) =>
            HandleAsync(context, "mutate", metrics, logs.CreateLogger("Admission.Mutate"), (request, token) => engine.MutateAsync(request, WebhookScope.Shared, token)));
        routes.MapPost("/validate", (HttpContext context, AdmissionEngine engine, WebhookMetrics metrics, ILoggerFactory logs) =>
            HandleAsync(context, "validate", metrics, logs.CreateLogger("Admission.Validate"), (request, token) => engine.ValidateAsync(request, WebhookScope.Shared, token)));

        // One literal route per such policy, known at build time: an unknown policy is a 404 rather than an empty verdict.
        foreach (var policy in policies.Where(p => p.HasOwnWebhook))
        {
            var scope = WebhookScope.Of(policy);
            MapPolicy(routes, PolicyPath(policy, mutating: true), "mutate-policy", "Admission.Mutate", (engine, request, token) => engine.MutateAsync(request, scope, token));
            MapPolicy(routes, PolicyPath(policy, mutating: false), "validate-policy", "Admission.Validate", (engine, request, token) => engine.ValidateAsync(request, scope, token));
        }

        return routes;
    }

    private static void MapPolicy(IEndpointRouteBuilder routes, string path, string endpoint, string logCategory, Func<AdmissionEngine, AdmissionRequest, CancellationToken, Task<AdmissionResponse>> decide)
    {
        // A plain RequestDelegate: the route has no parameters, so nothing needs the minimal-API binder (or NativeAOT's
        // request delegate generator).
        async Task HandlePolicyAsync(HttpContext context)
        {
            var services = context.RequestServices;
            var engine = services.GetRequiredService<AdmissionEngine>();
            var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(logCategory);
            await HandleAsync(context, endpoint, services.GetRequiredService<WebhookMetrics>(), logger, (request, token) => decide(engine, request, token));
        }

        routes.MapPost(path, HandlePolicyAsync);
    }

    private static async Task HandleAsync(HttpContext context, string endpoint, WebhookMetrics metrics, ILogger logger, Func<AdmissionRequest, CancellationToken, Task<AdmissionResponse>> decide)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        // The API server always sends application/json; anything else is not a review, and answering 415 before
        // reading says so without spending a parse on it.
        if (!context.Request.HasJsonContentType())
        {
            await RefuseAsync(context, endpoint, metrics, logger, StatusCodes.Status415UnsupportedMediaType, $"unsupported content type '{context.Request.ContentType}': an AdmissionReview is sent as application/json");
            return;
        }

        AdmissionReview? review;
        using (var bodyDeadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted))
        {
            bodyDeadline.CancelAfter(TransportLimits.BodyReadTimeout);
            try
            {
                review = await JsonSerializer.DeserializeAsync(context.Request.Body, AdmissionJsonContext.Default.AdmissionReview, bodyDeadline.Token);
            }
            catch (JsonException e)
            {
                await RefuseAsync(context, endpoint, metrics, logger, StatusCodes.Status400BadRequest, "request body is not a valid AdmissionReview: " + e.Message);
                return;
            }
            catch (BadHttpRequestException e)
            {
                // Kestrel's own verdicts on the body keep their status: 413 over MaxRequestBodySize, 408 when the body
                // arrives below MinRequestBodyDataRate, 400 for a body that ends before its Content-Length.
                await RefuseAsync(context, endpoint, metrics, logger, e.StatusCode, e.Message);
                return;
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                await RefuseAsync(context, endpoint, metrics, logger, StatusCodes.Status408RequestTimeout, $"the request body did not arrive within {TransportLimits.BodyReadTimeout.TotalSeconds:F0} s");
                return;
            }
            catch (Exception e) when (e is IOException || (e is OperationCanceledException && context.RequestAborted.IsCancellationRequested))
            {
                // The client went away mid-body (a reset, or the API server's own timeout): nobody is left to answer.
                // A reset surfaces as an IOException from the body before RequestAborted fires, so the type decides.
                metrics.MalformedRequests.Inc(endpoint);
                logger.LogInformation("Admission request abandoned by the client while its body was read: {Reason}", e.GetType().Name);
                context.Abort();
                return;
            }
        }

        if (review?.Request is not { } request || string.IsNullOrEmpty(request.Uid))
        {
            await RefuseAsync(context, endpoint, metrics, logger, StatusCodes.Status400BadRequest, "AdmissionReview has no request or no request.uid");
            return;
        }

        if (review.ApiVersion is not null && review.ApiVersion != "admission.k8s.io/v1")
        {
            await RefuseAsync(context, endpoint, metrics, logger, StatusCodes.Status400BadRequest, $"unsupported AdmissionReview apiVersion '{review.ApiVersion}'; configure the webhook with admissionReviewVersions: [v1]");
            return;
        }

        var response = await decide(request, context.RequestAborted);
        logger.LogInformation(
            "{Operation} {Kind} {Namespace}/{Name} uid={Uid}: allowed={Allowed} patched={Patched} warnings={Warnings}",
            request.Operation,
            request.Kind?.Kind,
            request.Namespace,
            request.Name,
            request.Uid,
            response.Allowed,
            response.Patch is not null,
            response.Warnings?.Count ?? 0);
        if (!response.Allowed)
        {
            logger.LogInformation("Denied uid={Uid}: {Message}", request.Uid, response.Status?.Message);
        }

        var answer = new AdmissionReview { ApiVersion = "admission.k8s.io/v1", Kind = "AdmissionReview", Response = response };
        context.Response.ContentType = "application/json";
        try
        {
            await JsonSerializer.SerializeAsync(context.Response.Body, answer, AdmissionJsonContext.Default.AdmissionReview, context.RequestAborted);
        }
        catch (Exception e) when (e is IOException || (e is OperationCanceledException && context.RequestAborted.IsCancellationRequested))
        {
            // Decided, but the client reset or gave up before the answer went out; the verdict is counted all the same.
            logger.LogInformation("Answer to uid={Uid} not delivered, the client is gone: {Reason}", request.Uid, e.GetType().Name);
        }

        metrics.Requests.Inc(endpoint, response.Allowed ? "true" : "false");
        metrics.RequestDuration.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, endpoint);
    }

    /// <summary>
    /// An HTTP error instead of an AdmissionReview: the API server never sends what is refused here, and for a request
    /// it cannot have sent there is no uid to answer. Were one to reach it, it would apply the failurePolicy.
    /// </summary>
    private static async Task RefuseAsync(HttpContext context, string endpoint, WebhookMetrics metrics, ILogger logger, int status, string message)
    {
        metrics.MalformedRequests.Inc(endpoint);
        logger.LogWarning("Rejected malformed admission request ({Status}): {Message}", status, message);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n", context.RequestAborted);
    }
}
