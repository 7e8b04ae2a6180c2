using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Telemetry;

namespace PolicyCompiler.Host;

/// <summary>The webhook's HTTP surface: <c>POST /mutate</c> and <c>POST /validate</c> with admission.k8s.io/v1 AdmissionReviews.</summary>
public static class AdmissionEndpoints
{
    /// <summary>The API server sends at most about 3 MiB per object; anything larger is not a real review.</summary>
    public const long MaxRequestBytes = 4 * 1024 * 1024;

    public static IEndpointRouteBuilder MapAdmission(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/mutate", (HttpContext context, AdmissionEngine engine, WebhookMetrics metrics, ILoggerFactory logs) =>
            HandleAsync(context, "mutate", metrics, logs.CreateLogger("Admission.Mutate"), (request, token) => engine.MutateAsync(request, token)));
        routes.MapPost("/validate", (HttpContext context, AdmissionEngine engine, WebhookMetrics metrics, ILoggerFactory logs) =>
            HandleAsync(context, "validate", metrics, logs.CreateLogger("Admission.Validate"), (request, token) => engine.ValidateAsync(request, token)));
        return routes;
    }

    private static async Task HandleAsync(HttpContext context, string endpoint, WebhookMetrics metrics, ILogger logger, Func<AdmissionRequest, CancellationToken, Task<AdmissionResponse>> decide)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        AdmissionReview? review;
        try
        {
            review = await JsonSerializer.DeserializeAsync(context.Request.Body, AdmissionJsonContext.Default.AdmissionReview, context.RequestAborted);
        }
        catch (JsonException e)
        {
            await BadRequestAsync(context, endpoint, metrics, logger, "request body is not a valid AdmissionReview: " + e.Message);
            return;
        }
        catch (BadHttpRequestException e)
        {
            await BadRequestAsync(context, endpoint, metrics, logger, e.Message);
            return;
        }

        if (review?.Request is not { } request || string.IsNullOrEmpty(request.Uid))
        {
            await BadRequestAsync(context, endpoint, metrics, logger, "AdmissionReview has no request or no request.uid");
            return;
        }

        if (review.ApiVersion is not null && review.ApiVersion != "admission.k8s.io/v1")
        {
            await BadRequestAsync(context, endpoint, metrics, logger, $"unsupported AdmissionReview apiVersion '{review.ApiVersion}'; configure the webhook with admissionReviewVersions: [v1]");
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
        await JsonSerializer.SerializeAsync(context.Response.Body, answer, AdmissionJsonContext.Default.AdmissionReview, context.RequestAborted);
        metrics.Requests.Inc(endpoint, response.Allowed ? "true" : "false");
        metrics.RequestDuration.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, endpoint);
    }

    private static async Task BadRequestAsync(HttpContext context, string endpoint, WebhookMetrics metrics, ILogger logger, string message)
    {
        metrics.MalformedRequests.Inc(endpoint);
        logger.LogWarning("Rejected malformed admission request: {Message}", message);
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message + "\n", context.RequestAborted);
    }
}
