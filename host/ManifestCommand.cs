using System.Collections.Immutable;
using System.Globalization;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Host;

/// <summary>
/// <c>policy-compiler manifests [--namespace N] [--name N] [--image I] [--replicas R] [--ca-file PEM]</c>: prints the
/// Kubernetes objects that deploy this binary with the policies compiled into it.
/// </summary>
public static class ManifestCommand
{
    public static int Run(string[] args, ImmutableArray<PolicyDefinition> policies, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var options = new ManifestOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Length)
            {
                error.WriteLine($"manifests: {name} needs a value");
                return 2;
            }

            var value = args[++i];
            switch (name)
            {
                case "--namespace":
                    options.Namespace = value;
                    break;
                case "--name":
                    options.Name = value;
                    break;
                case "--image":
                    options.Image = value;
                    break;
                case "--replicas" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var replicas) && replicas > 0:
                    options.Replicas = replicas;
                    break;
                case "--ca-file":
                    try
                    {
                        options.CaBundlePem = File.ReadAllText(value);
                    }
                    catch (IOException e)
                    {
                        error.WriteLine($"manifests: cannot read {value}: {e.Message}");
                        return 2;
                    }

                    break;
                default:
                    error.WriteLine($"manifests: unknown or invalid option {name} {value}; use --namespace, --name, --image, --replicas (a positive number), --ca-file");
                    return 2;
            }
        }

        output.Write(Manifests.Render(policies, options));
        return 0;
    }
}
