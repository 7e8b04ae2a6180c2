namespace PolicyCompiler.Runtime;

/// <summary>
/// Reading an HTTP answer's body with a bound, for every client that reads from a party it does not control (registries,
/// the API server, cloud providers, services named by policies): a declared or actual length over the limit stops the
/// read, so a hostile or broken peer cannot make the webhook buffer without end.
/// </summary>
internal static class HttpBody
{
    /// <summary>The body, or null when it is (or says it is) longer than <paramref name="limit"/> bytes.</summary>
    public static async Task<byte[]?> ReadAtMostAsync(HttpResponseMessage response, long limit, CancellationToken cancellationToken)
    {
        var declared = response.Content.Headers.ContentLength;
        if (declared > limit)
        {
            return null;
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream(declared is > 0 and <= int.MaxValue ? (int)declared.Value : 4096);
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
