using System.Security.Cryptography;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>
/// Registry credentials from Docker config files (mounted <c>kubernetes.io/dockerconfigjson</c> Secrets). The files
/// are read at start (a missing or malformed file is a configuration error then) and checked again every
/// <see cref="RegistryOptions.CredentialRefreshInterval"/>: the kubelet swaps a mounted Secret's files in place, so a
/// rotated password is picked up without a restart. A file that cannot be read or parsed later keeps its last good
/// credentials and is reported, by path only.
/// </summary>
public sealed class RegistryCredentialStore : IRegistryCredentialProvider
{
    /// <summary>A Docker config is a few kilobytes; anything much larger is not one.</summary>
    public const int MaxFileBytes = 1024 * 1024;

    private readonly CredentialFile[] _files;
    private readonly TimeSpan _refreshInterval;
    private readonly TimeProvider _time;
    private readonly Action<string>? _report;
    private readonly Lock _gate = new();
    private volatile IReadOnlyList<DockerConfigEntry> _entries;
    private DateTimeOffset _nextCheck;

    /// <param name="report">Receives problems found in the files (never their content).</param>
    public RegistryCredentialStore(IEnumerable<string> files, TimeSpan refreshInterval, TimeProvider? time = null, Action<string>? report = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        _files = [.. files.Select(f => new CredentialFile(f))];
        _refreshInterval = refreshInterval;
        _time = time ?? TimeProvider.System;
        _report = report;
        foreach (var file in _files)
        {
            if (!file.TryReload(_report, out var error))
            {
                throw new InvalidOperationException($"registry credential file {file.Path}: {error}");
            }
        }

        _entries = Combine();
        _nextCheck = _time.GetUtcNow() + _refreshInterval;
    }

    public static RegistryCredentialStore FromOptions(RegistryOptions options, TimeProvider? time = null, Action<string>? report = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new RegistryCredentialStore(options.CredentialFiles, options.CredentialRefreshInterval, time, report);
    }

    /// <summary>The entries of every file, in file order.</summary>
    public IReadOnlyList<DockerConfigEntry> Entries
    {
        get
        {
            RefreshIfDue();
            return _entries;
        }
    }

    /// <summary>The registries the files hold credentials for (keys as written), for a start-up log line.</summary>
    public IReadOnlyList<string> Keys => [.. _entries.Select(e => e.Key)];

    public RegistryCredential? Find(string registry, string repository) =>
        DockerConfig.Match(Entries, registry, repository)?.Credential;

    private void RefreshIfDue()
    {
        if (_files.Length == 0 || _time.GetUtcNow() < _nextCheck)
        {
            return;
        }

        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (now < _nextCheck)
            {
                return;
            }

            _nextCheck = now + _refreshInterval;
            var changed = false;
            foreach (var file in _files)
            {
                if (file.TryReload(_report, out var error))
                {
                    changed |= file.ChangedOnLastReload;
                }
                else
                {
                    _report?.Invoke($"registry credential file {file.Path}: {error}; keeping the credentials read before");
                }
            }

            if (changed)
            {
                _entries = Combine();
            }
        }
    }

    private List<DockerConfigEntry> Combine() => [.. _files.SelectMany(f => f.Entries)];

    private sealed class CredentialFile(string path)
    {
        private byte[] _hash = [];

        public string Path { get; } = path;

        public IReadOnlyList<DockerConfigEntry> Entries { get; private set; } = [];

        public bool ChangedOnLastReload { get; private set; }

        /// <summary>Reads the file; parses it only when its bytes changed. False (with a reason) when it cannot be used.</summary>
        public bool TryReload(Action<string>? report, out string? error)
        {
            ChangedOnLastReload = false;
            byte[] content;
            try
            {
                using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, FileOptions.None);
                if (stream.Length > MaxFileBytes)
                {
                    error = $"larger than {MaxFileBytes} bytes";
                    return false;
                }

                content = new byte[stream.Length];
                stream.ReadExactly(content);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error = e is FileNotFoundException or DirectoryNotFoundException ? "not found" : "cannot be read (" + e.GetType().Name + ")";
                return false;
            }

            var hash = SHA256.HashData(content);
            if (hash.AsSpan().SequenceEqual(_hash))
            {
                error = null;
                return true;
            }

            var problems = new List<string>();
            IReadOnlyList<DockerConfigEntry> entries;
            try
            {
                entries = DockerConfig.Parse(content, problems);
            }
            catch (FormatException e)
            {
                error = e.Message;
                return false;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(content);
            }

            foreach (var problem in problems)
            {
                report?.Invoke($"registry credential file {Path}: {problem}");
            }

            _hash = hash;
            Entries = entries;
            ChangedOnLastReload = true;
            error = null;
            return true;
        }
    }
}
