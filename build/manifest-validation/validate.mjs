// Validates Kubernetes manifests (multi-document YAML, a file or "-" for standard input) against the schemas that
// kubernetes-models compiles from the Kubernetes OpenAPI definitions (and cert-manager's CRDs), without a cluster:
// kubectl's own validation downloads the schema from an API server. Every document must be of a known kind and valid;
// one line per document, exit code 1 if any is not.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const source = process.argv[2];
if (!source) {
  console.error("usage: node validate.mjs <manifests.yaml | ->");
  process.exit(2);
}

const text = readFileSync(source === "-" ? 0 : source, "utf8");
let failed = 0;
let index = 0;
for (const document of parseAllDocuments(text)) {
  index++;
  if (document.errors.length > 0) {
    console.log(`invalid document ${index}: ${document.errors.map((e) => e.message).join("; ")}`);
    failed++;
    continue;
  }

  const object = document.toJS();
  if (object === null || object === undefined) {
    continue;
  }

  const label = `${object.kind}/${object.metadata?.name ?? "?"}`;
  const model = await modelOf(object.apiVersion, object.kind);
  if (!model) {
    console.log(`invalid ${label}: no schema for ${object.apiVersion} ${object.kind}`);
    failed++;
    continue;
  }

  try {
    new model(object).validate();
    console.log(`valid ${label} (${object.apiVersion})`);
  } catch (error) {
    console.log(`invalid ${label} (${object.apiVersion}): ${error.message}`);
    failed++;
  }
}

process.exit(failed > 0 ? 1 : 0);

async function modelOf(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return undefined;
  }

  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const module = group === ""
    ? `kubernetes-models/${version}`
    : group.endsWith("cert-manager.io")
      ? `@kubernetes-models/cert-manager/${group}/${version}`
      : `kubernetes-models/${group}/${version}`;
  try {
    return (await import(module))[kind];
  } catch {
    return undefined;
  }
}
