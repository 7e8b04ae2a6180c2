namespace PolicyCompiler.Runtime.Engine;

public enum VerificationStatus
{
    /// <summary>The image satisfied the rule.</summary>
    Pass,

    /// <summary>The image did not satisfy the rule: a verdict about the image.</summary>
    Fail,

    /// <summary>The rule could not be evaluated (registry unreachable, deadline passed): <c>failurePolicy</c> decides.</summary>
    Error,
}

/// <summary>The verdict of one <c>verifyImages</c> entry on one image. A value, never an exception.</summary>
public sealed record ImageVerificationResult(VerificationStatus Status, string Message, string? Digest)
{
    /// <summary>
    /// Whether the verification cache may keep this verdict. False when it rests on an answer that can change while the
    /// image does not (a Notation revocation status that could not be learnt); <see cref="VerificationStatus.Error"/>
    /// verdicts are never kept whatever this says.
    /// </summary>
    public bool Cacheable { get; init; } = true;

    public static ImageVerificationResult Pass(string message, string? digest) => new(VerificationStatus.Pass, message, digest);

    public static ImageVerificationResult Fail(string message, string? digest = null) => new(VerificationStatus.Fail, message, digest);

    public static ImageVerificationResult Error(string message) => new(VerificationStatus.Error, message, null);
}
