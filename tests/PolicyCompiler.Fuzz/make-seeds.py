#!/usr/bin/env python3
"""Writes the initial seed corpus (corpus/<target>/seed-*) from the repository's own policies and test data.

Run once when the seeds change; the output is checked in. Inputs the fuzzer finds are added beside the seeds by
build/fuzz.sh --keep (minimised, named found-*). Third-party data is copied unchanged; see corpus/NOTICE.md.
"""
import base64, glob, hashlib, json, os, re, shutil, sys

here = os.path.dirname(os.path.abspath(__file__))
tests = os.path.dirname(here)
repo = os.path.dirname(tests)
corpus = os.path.join(here, "corpus")


def put(target, name, data):
    folder = os.path.join(corpus, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


for target in os.listdir(corpus) if os.path.isdir(corpus) else []:
    for old in glob.glob(os.path.join(corpus, target, "seed-*")):
        os.remove(old)

# image-reference: the shapes the parser distinguishes.
refs = [
    "nginx", "nginx:1.27", "docker.io/library/nginx:1.27", "index.docker.io/library/nginx",
    "ghcr.io/kyverno/test-verify-image:signed", "ghcr.io/acme/team/app:v1.2.3-rc.1",
    "localhost:5000/app@sha256:" + "a" * 64, "127.0.0.1:5000/team/app:v1@sha256:" + "0" * 64,
    "[::1]:5000/app:latest", "registry.example.com/app-1:v1", "my-registry.local/app_name/x.y-z:TAG",
    "registry.example.com:443/a/b/c/d:t", "ghcr.io/org/app@sha512:" + "f" * 128, "sha256:" + "b" * 64,
]
for i, r in enumerate(refs):
    put("image-reference", f"{i:02}", r)

# policy-yaml: the checked-in policies, the generator's baselines, the reference page's samples.
for path in sorted(glob.glob(os.path.join(repo, "policies", "*.yaml"))):
    put("policy-yaml", "policies-" + os.path.basename(path), open(path, "rb").read())
for path in sorted(glob.glob(os.path.join(tests, "PolicyCompiler.Generators.Tests", "TestData", "baselines", "*.yaml"))):
    put("policy-yaml", "baseline-" + os.path.basename(path), open(path, "rb").read())
for path in sorted(glob.glob(os.path.join(tests, "PolicyCompiler.Generators.Tests", "TestData", "reference-samples", "*.yaml"))):
    put("policy-yaml", "kyverno-docs-" + os.path.basename(path), open(path, "rb").read())
for path in sorted(glob.glob(os.path.join(here, "policies", "*.yaml"))):
    put("policy-yaml", "fuzz-" + os.path.basename(path), open(path, "rb").read())

# jmespath: every {{ }} value and jmesPath of those policies, plus expressions covering the grammar.
expressions = set()
for path in glob.glob(os.path.join(corpus, "policy-yaml", "seed-*")):
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r'(?:key|value|jmesPath|message):\s*"((?:[^"\\]|\\.)*\{\{(?:[^"\\]|\\.)*)"', text):
        expressions.add(m.group(1).replace('\\"', '"'))
    for m in re.finditer(r'jmesPath:\s*"((?:[^"\\]|\\.)*)"', text):
        expressions.add(m.group(1))
expressions.update([
    "spec.containers[?name == 'x'].image | [0]", "a.b.c", "foo[*].bar[1:10:2]", "foo[-1]", "@", "`[1, {\"a\": null}]`",
    "{a: b, c: d[0]}", "[a, b][]", "a || b && !c", "length(@) > `2`", "sort_by(items, &age)[].name",
    "max_by(people, &to_number(age))", "\"quoted field\".x", "'raw string'", "foo.*.bar", "to_string(@) == '1'",
    "{{ request.object.metadata.name }}", "prefix-{{ images.containers.*.registry }}-suffix",
    "{{ regex_match('^https://.*$', '{{ builder.id }}') }}", "\\{{ literal }}", "{{ time_now_utc() }}",
    "{{ split(request.object.metadata.name, '-') | [0] }}", "{{ base64_decode('aGVsbG8=') }}",
    "{{ x509_decode(cert).Subject }}", "{{ semver_compare('1.2.3', '>1.0.0') }}", "{{ divide(`10`, `3`) }}",
    "{{ items[?starts_with(name, 'a')] | length(@) }}", "{{ a.b.{c: d} }}", "{{ @ }}",
])
for i, e in enumerate(sorted(expressions)):
    put("jmespath", f"{i:03}", e)

# cel: every matchConditions expression of those policies, plus expressions covering the grammar.
cel = set()
for path in glob.glob(os.path.join(corpus, "policy-yaml", "seed-*")):
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r'expression:\s*"((?:[^"\\]|\\.)*)"', text):
        cel.add(m.group(1).replace('\\"', '"'))
cel.update([
    "!(request.userInfo.username == 'system:kube-scheduler')", "object.metadata.labels.?app.orValue('') == 'x'",
    "has(object.spec.replicas) && object.spec.containers.all(c, c.image.startsWith('ghcr.io/'))",
    "\"label\" in object.metadata.labels ? [1, 2u, 3.5e-1, -9223372036854775808][0] == 1 : {?'a': optional.none()}.size() == 0",
    r"""r'\d' != b'\x00\377' && '''x
y''' != "\u00e9\U0001F600\101" // comment""",
    "google.protobuf.Timestamp{seconds: 0}.?x[?0] != null && !authorizer.group('apps').resource('x').check('get').allowed()",
    "request.namespace = 'x' && namespaceObject.y && has(object)",
])
for i, e in enumerate(sorted(cel)):
    put("cel", f"{i:03}", e)

rt = os.path.join(tests, "PolicyCompiler.Runtime.Tests", "TestData")

# sigstore-bundle and dsse: the cosign attestation bundle and the conformance suite's bundles (their DSSE envelopes
# for the dsse target).
bundles = [os.path.join(rt, "cosign", "oci-attestation.sigstore.json")]
bundles += sorted(glob.glob(os.path.join(rt, "sigstore-conformance", "bundle-verify", "*", "bundle.sigstore.json")))
dsse_seen = set()
for path in bundles:
    case = os.path.basename(os.path.dirname(path)) if "conformance" in path else "cosign-oci-attestation"
    raw = open(path, "rb").read()
    put("sigstore-bundle", case + ".json", raw)
    try:
        doc = json.loads(raw)
    except ValueError:
        continue
    env = doc.get("dsseEnvelope") if isinstance(doc, dict) else None
    if env is not None:
        data = json.dumps(env, separators=(",", ":")).encode()
        if hashlib.sha256(data).digest() not in dsse_seen:
            dsse_seen.add(hashlib.sha256(data).digest())
            put("dsse", case + ".json", data)
            try:
                put("dsse", case + ".statement.json", base64.b64decode(env["payload"]))
            except Exception:
                pass

# simple-signing and rekor-bundle: the containers/image cosign fixtures (a NUL, "sigstore-json\n", then JSON).
sig_seen, rekor_seen = set(), set()
for path in sorted(glob.glob(os.path.join(rt, "containers-image-cosign", "**", "signature-*"), recursive=True)
                   + glob.glob(os.path.join(rt, "containers-image-cosign", "*.signature"))):
    blob = open(path, "rb").read()
    nl = blob.find(b"\n")
    if not blob.startswith(b"\0") or nl < 0:
        continue
    doc = json.loads(blob[nl + 1:])
    name = os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path)
    payload = base64.b64decode(doc["payload"])
    if payload not in sig_seen:
        sig_seen.add(payload)
        put("simple-signing", name + ".json", payload)
    bundle = (doc.get("annotations") or {}).get("dev.sigstore.cosign/bundle")
    if bundle and bundle not in rekor_seen:
        rekor_seen.add(bundle)
        put("rekor-bundle", name + ".json", bundle)
rekor_set = os.path.join(rt, "containers-image-cosign", "rekor-set")
if os.path.exists(rekor_set):
    put("rekor-bundle", "rekor-set.json", open(rekor_set, "rb").read())

# admission-review: reviews shaped as the API server sends them, for the kinds and paths the compiled policies take.
def review(kind, group, obj, namespace="default", operation="CREATE", old=None, user=None, api="admission.k8s.io/v1", version="v1", dry=False):
    request = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
        "name": obj.get("metadata", {}).get("name", "x"), "namespace": namespace, "operation": operation,
        "userInfo": user or {"username": "admin", "uid": "0", "groups": ["system:authenticated"]},
        "object": obj, "dryRun": dry,
    }
    if old is not None:
        request["oldObject"] = old
    return json.dumps({"apiVersion": api, "kind": "AdmissionReview", "request": request}, indent=1)


def pod(images, labels=None, annotations=None, init=None, ephemeral=None):
    meta = {"name": "app", "labels": labels or {}}
    if annotations:
        meta["annotations"] = annotations
    spec = {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": "init", "image": init}]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": "debug", "image": ephemeral}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


digest = "@sha256:" + "a" * 64
seeds = {
    "pod-kyverno-test": review("Pod", "", pod(["ghcr.io/kyverno/test-verify-image:signed"])),
    "pod-production": review("Pod", "", pod(["ghcr.io/acme/web:v1", "nginx"], labels={"release": "1"}, init="ghcr.io/acme/init" + digest), namespace="production"),
    "pod-sandbox-mirror-sa": review("Pod", "", pod(["ghcr.io/acme/web:v1"]), namespace="sandbox",
                                     user={"username": "system:serviceaccount:platform:image-mirror", "groups": ["system:serviceaccounts"]}),
    "pod-preconditions": review("Pod", "", pod(["registry.invalid/org/app:v1"] * 4, labels={"verify": "yes"})),
    "pod-team-a-ephemeral": review("Pod", "", pod(["ghcr.io/team-a/app:v2", "registry.example.com/app-1:v1"], ephemeral="ghcr.io/team-a/debug:1",
                                                 annotations={"kyverno.io/verify-images": "{\"ghcr.io/team-a/app:v2\":\"pass\"}"}), namespace="team-a"),
    "pod-attestation": review("Pod", "", pod(["registry.io/org/app:1" , "registry.io/org/app" + digest], labels={"tier": "experimental"})),
    "pod-update": review("Pod", "", pod(["ghcr.io/acme/web:v2"]), operation="UPDATE", old=pod(["ghcr.io/acme/web:v1"]), namespace="production"),
    "pod-delete": review("Pod", "", {}, operation="DELETE", old=pod(["ghcr.io/acme/web:v1"])),
    "pod-invalid-image": review("Pod", "", pod(["UPPER/case:x", "ghcr.io/acme/..:v1", ""])),
    "pod-dry-run": review("Pod", "", pod(["docker.io/library/nginx:1.27"]), dry=True),
    "deployment": review("Deployment", "apps", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                                 "spec": {"template": {"metadata": {"labels": {"verify": "yes"}}, "spec": pod(["ghcr.io/example/release/app:1"])["spec"]}}}),
    "cronjob": review("CronJob", "batch", {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly-report"},
                                          "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(["ghcr.io/team-a/base:1"])["spec"]}}}}}, namespace="team-a"),
    "taskrun": review("TaskRun", "tekton.dev", {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "build"},
                                               "spec": {"taskSpec": {"steps": [{"name": "a", "image": "docker://ghcr.io/acme/step:v1"}, {"name": "b", "image": "alpine"}]}}}, namespace="ci"),
    "configmap": review("ConfigMap", "", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": "nginx"}}),
    "old-api-version": review("Pod", "", pod(["nginx"]), api="admission.k8s.io/v1beta1"),
}
for name, text in seeds.items():
    put("admission-review", name + ".json", text)

# notary-envelope: a media-type byte (even JWS, odd COSE), then the envelope. notation-go's two real JWS envelopes
# unchanged; COSE_Sign1 envelopes of our own making, shaped as the Notary Project's COSE profile lays them out (the
# real envelope's certificate in x5chain, its payload, a signature that does not verify), so that mutants start inside
# the format rather than at its first byte.
notation = os.path.join(tests, "PolicyCompiler.Runtime.Tests", "TestData", "notation")
jws = {}
for name in ["withoutTimestamp.sig", "jwsWithTimestamp.sig"]:
    raw = open(os.path.join(notation, name), "rb").read()
    jws[name] = json.loads(raw)
    put("notary-envelope", "jws-" + name, b"\x00" + raw)


def cbor_head(major, value):
    if value < 24:
        return bytes([major << 5 | value])
    for size, code in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | code]) + value.to_bytes(size, "big")


def cbor(value):
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return cbor_head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode("utf-8")
        return cbor_head(3, len(data)) + data
    if isinstance(value, list):
        return cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    if isinstance(value, tuple):  # (tag, value)
        return cbor_head(6, value[0]) + cbor(value[1])
    raise TypeError(value)


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


real = jws["withoutTimestamp.sig"]
chain = [base64.b64decode(c) for c in real["header"]["x5c"]]
payload = b64url(real["payload"])
schemes = {"x509": "notary.x509", "authority": "notary.x509.signingAuthority"}
for name, scheme in schemes.items():
    time_label = "io.cncf.notary.signingTime" if scheme == "notary.x509" else "io.cncf.notary.authenticSigningTime"
    protected = {1: -37, 2: ["io.cncf.notary.signingScheme"] + ([time_label] if name == "authority" else []) + ["io.cncf.notary.expiry"],
                 3: "application/vnd.cncf.notary.payload.v1+json", "io.cncf.notary.signingScheme": scheme,
                 time_label: (1, 1700000000), "io.cncf.notary.expiry": (1, 2000000000)}
    envelope = (18, [cbor(protected), {33: chain, "io.cncf.notary.signingAgent": "PolicyCompiler seeds"}, payload, b64url(real["signature"])])
    put("notary-envelope", "cose-" + name, b"\x01" + cbor(envelope))

for target in sorted(os.listdir(corpus)):
    if os.path.isdir(os.path.join(corpus, target)):
        print(target, len(os.listdir(os.path.join(corpus, target))))
