using System.Diagnostics;
using System.Text;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>
/// Key pairs and signatures made by the <c>openssl</c> command line, standing in for the KMS that holds the private
/// half: the fakes serve the public half, and signatures the runtime did not make must verify with it.
/// </summary>
internal sealed class OpenSslKeys : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kms-keys-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    public string PrivateKeyFile(string name) => Path.Combine(_directory, name + ".key");

    /// <summary>Generates a key (<c>openssl genpkey</c> options) and returns its public half as PEM.</summary>
    public string Generate(string name, params string[] options)
    {
        Run(["genpkey", .. options, "-out", PrivateKeyFile(name)]);
        Run("pkey", "-in", PrivateKeyFile(name), "-pubout", "-out", Path.Combine(_directory, name + ".pub"));
        return File.ReadAllText(Path.Combine(_directory, name + ".pub"));
    }

    /// <summary>The public half as DER SubjectPublicKeyInfo (what AWS KMS's GetPublicKey returns).</summary>
    public byte[] PublicDer(string name)
    {
        Run("pkey", "-in", PrivateKeyFile(name), "-pubout", "-outform", "DER", "-out", Path.Combine(_directory, name + ".der"));
        return File.ReadAllBytes(Path.Combine(_directory, name + ".der"));
    }

    /// <summary><c>openssl dgst -&lt;hash&gt; -sign</c> over <paramref name="payload"/>.</summary>
    public byte[] Sign(string name, byte[] payload, string hash = "sha256")
    {
        File.WriteAllBytes(Path.Combine(_directory, "payload"), payload);
        Run("dgst", "-" + hash, "-sign", PrivateKeyFile(name), "-out", Path.Combine(_directory, "signature"), Path.Combine(_directory, "payload"));
        return File.ReadAllBytes(Path.Combine(_directory, "signature"));
    }

    /// <summary>Ed25519 signs the message itself (<c>pkeyutl -rawin</c>).</summary>
    public byte[] SignEd25519(string name, byte[] payload)
    {
        File.WriteAllBytes(Path.Combine(_directory, "payload"), payload);
        Run("pkeyutl", "-sign", "-rawin", "-inkey", PrivateKeyFile(name), "-in", Path.Combine(_directory, "payload"), "-out", Path.Combine(_directory, "signature"));
        return File.ReadAllBytes(Path.Combine(_directory, "signature"));
    }

    public static byte[] Payload(string digest) => Encoding.UTF8.GetBytes(
        $$"""{"critical":{"identity":{"docker-reference":"registry.test/app"},"image":{"docker-manifest-digest":"{{digest}}"},"type":"cosign container image signature"},"optional":null}""");

    private void Run(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = _directory };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', arguments)} failed: {error}");
    }
}
