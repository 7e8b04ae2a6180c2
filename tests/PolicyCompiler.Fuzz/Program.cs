using PolicyCompiler.Fuzz;

// PolicyCompiler.Fuzz fuzz <target>            run under afl-fuzz (SharpFuzz's fork server; one run when not under AFL)
// PolicyCompiler.Fuzz replay <target> <path>…  run files (or every file of folders) once; exit 1 on a crash or hang
// PolicyCompiler.Fuzz list                     print the target names
if (args is ["list"])
{
    foreach (var name in FuzzTargets.All.Keys)
    {
        Console.WriteLine(name);
    }

    return 0;
}

if (args is ["fuzz", var target] && FuzzTargets.All.ContainsKey(target))
{
    // Out of process: a stack overflow ends a child that SharpFuzz restarts, and AFL records a crash; in process it
    // would end the fork server and the whole run.
    SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        FuzzTargets.Run(target, buffer.ToArray());
    });
    return 0;
}

if (args is ["replay", var replayTarget, .. var paths] && FuzzTargets.All.ContainsKey(replayTarget))
{
    var failed = 0;
    var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p).Order(StringComparer.Ordinal) : (IEnumerable<string>)[p]).ToList();
    foreach (var file in files)
    {
        var outcome = Replay.One(replayTarget, File.ReadAllBytes(file));
        if (outcome is not null)
        {
            failed++;
            Console.WriteLine($"{replayTarget}: {file}: {outcome}");
        }
    }

    Console.WriteLine($"{replayTarget}: {files.Count} inputs replayed, {failed} crashed or hung");
    return failed == 0 ? 0 : 1;
}

Console.Error.WriteLine("usage: PolicyCompiler.Fuzz list | fuzz <target> | replay <target> <file-or-folder>...");
Console.Error.WriteLine("targets: " + string.Join(", ", FuzzTargets.All.Keys));
return 2;
