// Joins the JSON of both sides of the peer benchmark into one Markdown table with the geometric means of the ratios.
// Usage: node table.mjs ours.json theirs.json   (each: { results: { case: { median, cpuMedian, ... } }, skipped: { case: reason } })
import { readFileSync } from 'node:fs';

const [ours, theirs] = process.argv.slice(2).map((p) => JSON.parse(readFileSync(p, 'utf8')));
const rate = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
const cases = [...new Set([...Object.keys(ours.results), ...Object.keys(theirs.results), ...Object.keys(theirs.skipped)])].sort();
const wallRatios = [];
const cpuRatios = [];
console.log('| case | PolicyCompiler verifications/s | sigstore-js verifications/s | ratio | PolicyCompiler per CPU-s | sigstore-js per CPU-s | CPU ratio |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const name of cases) {
  const a = ours.results[name];
  const b = theirs.results[name];
  if (a && b) {
    const wall = a.median / b.median;
    const cpu = a.cpuMedian / b.cpuMedian;
    wallRatios.push(wall);
    cpuRatios.push(cpu);
    console.log(`| ${name} | ${rate(a.median)} | ${rate(b.median)} | ${wall.toFixed(2)}× | ${rate(a.cpuMedian)} | ${rate(b.cpuMedian)} | ${cpu.toFixed(2)}× |`);
  } else {
    console.log(`| ${name} | ${a ? rate(a.median) : 'n/a'} | ${b ? rate(b.median) : 'skipped¹'} | n/a | ${a ? rate(a.cpuMedian) : 'n/a'} | ${b ? rate(b.cpuMedian) : 'skipped¹'} | n/a |`);
  }
}
const geomean = (values) => Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
console.log(`| **geometric mean of ratios (${wallRatios.length} cases)** | | | **${geomean(wallRatios).toFixed(2)}×** | | | **${geomean(cpuRatios).toFixed(2)}×** |`);
const skipped = Object.entries(theirs.skipped);
if (skipped.length > 0) {
  console.log('');
  for (const [name, reason] of skipped) {
    console.log(`¹ ${name}: ${reason}`);
  }
}
