// sigstore-js side of the peer benchmark (build/peer-benchmark.sh): verifies the happy-path cases of the Sigstore
// conformance suite offline and prints verifications per second per case as JSON on stdout.
//
// `sigstore.createVerifier` always fetches the trusted root through TUF, so this goes one level down to the packages it
// is built from (@sigstore/verify, @sigstore/bundle, @sigstore/protobuf-specs, the versions sigstore@4.1.1 pins) and
// makes the same calls its verifier makes per bundle, with the case's trusted root instead of TUF.
//
// Usage: node verify.mjs [--suite DIR] [--public-good FILE] [--warmup-ms N] [--round-ms N] [--rounds N] [case ...]
import { createHash, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const DEFAULT_IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';
const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
// Happy-path cases this sigstore-js version cannot verify offline, with the reason (listed in the README table).
const SKIPPED = JSON.parse(readFileSync(new URL('./skipped.json', import.meta.url), 'utf8'));

const options = {
  suite: '/work/shared/testdata/sigstore-conformance/bundle-verify',
  publicGood: null,
  warmupMs: 1000,
  roundMs: 500,
  rounds: 5,
};
const only = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const value = () => argv[++i];
  switch (argv[i]) {
    case '--suite': options.suite = value(); break;
    case '--public-good': options.publicGood = value(); break;
    case '--warmup-ms': options.warmupMs = Number(value()); break;
    case '--round-ms': options.roundMs = Number(value()); break;
    case '--rounds': options.rounds = Number(value()); break;
    default: only.push(argv[i]);
  }
}
options.publicGood ??= join(options.suite, '..', '..', 'sigstore-public-good', 'trusted_root.json');

const readOr = (path, fallback) => (existsSync(path) ? readFileSync(path, 'utf8').trim() : fallback);

// Everything a verifier holds between admissions is built here, once per case, outside the timed loop: the trust
// material from the trusted root, the expected key (as a parsed KeyObject, like our StaticKeySigner), the policy.
function prepare(name) {
  const dir = join(options.suite, name);
  const rootPath = existsSync(join(dir, 'trusted_root.json')) ? join(dir, 'trusted_root.json') : options.publicGood;
  const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(rootPath, 'utf8')));
  const keyPath = join(dir, 'key.pub');
  let keyFinder;
  let policy = {};
  if (existsSync(keyPath)) {
    // The suite's rule: key.pub is the expected key whatever hint the bundle carries.
    const publicKey = createPublicKey(readFileSync(keyPath));
    keyFinder = () => ({ publicKey, validFor: () => true });
  } else {
    policy = {
      subjectAlternativeName: readOr(join(dir, 'identity'), DEFAULT_IDENTITY),
      extensions: { issuer: readOr(join(dir, 'issuer'), DEFAULT_ISSUER) },
    };
  }
  const verifier = new Verifier(toTrustMaterial(root, keyFinder));
  const artifactPath = existsSync(join(dir, 'artifact')) ? join(dir, 'artifact') : join(options.suite, 'a.txt');
  return {
    verifier,
    policy,
    artifact: readFileSync(artifactPath),
    bundleBytes: readFileSync(join(dir, 'bundle.sigstore.json')),
  };
}

// @sigstore/verify checks a DSSE envelope's signature but not what the in-toto statement is about (its CLI users do
// that themselves); the suite requires it, and PolicyCompiler does it, so the harness does it here, inside the loop.
function checkSubject(bundle, artifact) {
  if (bundle.content.$case !== 'dsseEnvelope') {
    return;
  }
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE) {
    throw new Error(`DSSE payload type ${envelope.payloadType} is not in-toto`);
  }
  const statement = JSON.parse(envelope.payload.toString('utf8'));
  const digest = createHash('sha256').update(artifact).digest('hex');
  if (!(statement.subject ?? []).some((s) => s?.digest?.sha256 === digest)) {
    throw new Error('the in-toto statement does not name the artifact');
  }
}

// One verification as an admission would do it: the bundle arrives as bytes and is parsed every time.
function verifyOnce(c) {
  const bundle = bundleFromJSON(JSON.parse(c.bundleBytes.toString('utf8')));
  const signer = c.verifier.verify(toSignedEntity(bundle, c.artifact), c.policy);
  checkSubject(bundle, c.artifact);
  return signer;
}

// One round: wall-clock and process CPU time (all threads, so GC helpers count) in milliseconds.
function run(c, iterations) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) {
    verifyOnce(c);
  }
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function measure(c) {
  // Warm-up (JIT) for warmupMs, which also calibrates how many iterations fill one round.
  let iterations = 0;
  const warmStart = performance.now();
  while (performance.now() - warmStart < options.warmupMs) {
    verifyOnce(c);
    iterations++;
  }
  const perRound = Math.max(1, Math.round((iterations * options.roundMs) / options.warmupMs));
  const wall = [];
  const cpu = [];
  for (let r = 0; r < options.rounds; r++) {
    const t = run(c, perRound);
    wall.push((perRound * 1000) / t.wall);
    cpu.push((perRound * 1000) / t.cpu);
  }
  // The machine is shared, so besides wall-clock rates the CPU-time rate (verifications per CPU-second) is reported: it
  // does not count time spent waiting for a core.
  return { median: median(wall), min: Math.min(...wall), max: Math.max(...wall), cpuMedian: median(cpu), iterationsPerRound: perRound };
}

const names = (only.length > 0 ? only : readdirSync(options.suite, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name))
  .filter((n) => !n.endsWith('_fail'))
  .sort();
const results = {};
const skipped = {};
for (const name of names) {
  if (SKIPPED[name]) {
    skipped[name] = SKIPPED[name];
    continue;
  }
  const c = prepare(name);
  // Success is asserted before anything is timed: a case sigstore-js cannot verify stops the run.
  try {
    verifyOnce(c);
  } catch (e) {
    console.error(`${name}: sigstore-js does not verify it: ${e.code ?? ''} ${e.message}`);
    process.exit(1);
  }
  results[name] = measure(c);
  console.error(`${name}: ${results[name].median.toFixed(0)} verifications/s`);
}
console.log(JSON.stringify({ peer: 'sigstore-js', node: process.version, results, skipped }, null, 2));
