using System.Net;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Cloud;

/// <summary>
/// A cloud API could not give what was asked. <see cref="IsTransient"/> when the provider could not be asked or
/// refused to answer (unreachable, 5xx, throttled, no credentials, access denied): an error that <c>failurePolicy</c>
/// decides. Otherwise the provider answered that the thing does not exist or cannot be used (a missing key, a key that
/// does not sign): the signature cannot verify. Messages never carry tokens.
/// </summary>
public sealed class CloudException(string message, bool isTransient, Exception? inner = null) : Exception(message, inner)
{
    public bool IsTransient { get; } = isTransient;
}

/// <summary>The HTTP side shared by the cloud clients: bounded reads, JSON answers, errors as <see cref="CloudException"/>.</summary>
internal static class CloudHttp
{
    private const int MaxResponseBytes = 1 << 20;

    public static HttpClient CreateClient() =>
        new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>
    /// Sends the request and returns the body of a 2xx answer. A non-2xx answer throws: permanent for the statuses
    /// <paramref name="isPermanent"/> names (given the status and body), transient otherwise.
    /// </summary>
    public static async Task<byte[]> SendAsync(HttpClient http, HttpRequestMessage request, string what, Func<HttpStatusCode, string, bool>? isPermanent, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new CloudException($"{what}: {e.Message}", isTransient: true, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            // The client's own timeout: the provider did not answer.
            throw new CloudException($"{what}: no answer in time", isTransient: true, e);
        }

        using (response)
        {
            var body = await HttpBody.ReadAtMostAsync(response, MaxResponseBytes, cancellationToken).ConfigureAwait(false)
                ?? throw new CloudException($"{what}: the answer is larger than {MaxResponseBytes} bytes", isTransient: true);
            if (response.IsSuccessStatusCode)
            {
                return body;
            }

            var text = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 2048));
            var detail = ErrorDetail(text);
            var permanent = isPermanent?.Invoke(response.StatusCode, text) ?? false;
            throw new CloudException($"{what}: {(int)response.StatusCode} {response.StatusCode}{(detail is null ? "" : ": " + detail)}", isTransient: !permanent);
        }
    }

    public static JsonDocument ParseJson(byte[] body, string what)
    {
        try
        {
            return JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            throw new CloudException($"{what}: the answer is not JSON", isTransient: true, e);
        }
    }

    public static string RequiredString(JsonElement element, string property, string what) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? text
            : throw new CloudException($"{what}: the answer has no '{property}'", isTransient: true);

    // The provider's own words about an error ("message", "error.message", "errors[0]"), never the whole body.
    private static string? ErrorDetail(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            foreach (var name in (string[])["message", "Message"])
            {
                if (root.TryGetProperty(name, out var message) && message.ValueKind == JsonValueKind.String)
                {
                    return Truncate((root.TryGetProperty("__type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() + ": " : "") + message.GetString());
                }
            }

            if (root.TryGetProperty("error", out var error))
            {
                if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var nested) && nested.ValueKind == JsonValueKind.String)
                {
                    return Truncate(nested.GetString());
                }

                if (error.ValueKind == JsonValueKind.String)
                {
                    return Truncate(error.GetString());
                }
            }

            if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0 && errors[0].ValueKind == JsonValueKind.String)
            {
                return Truncate(errors[0].GetString());
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    private static string? Truncate(string? text) => text is { Length: > 300 } ? text[..300] + "…" : text;
}
