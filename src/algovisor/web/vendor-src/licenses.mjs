// The licence notices of every npm package the bundle contains, from esbuild's metafile:
// name, version and the package's own LICENSE text, in name order.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const meta = JSON.parse(readFileSync(process.argv[2], "utf8"));
const packages = new Set();
for (const input of Object.keys(meta.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) packages.add(match[1]);
}

const parts = [
  "Third-party code in codemirror.js, bundled from these npm packages by",
  "src/algovisor/web/vendor-src/build.sh (versions pinned in its package-lock.json).",
  "style-mod is bundled with one line changed, as build.mjs explains: documents get a",
  "constructed style sheet, as shadow roots already do, so that a strict CSP allows it.",
  "",
];
for (const name of [...packages].sort()) {
  const dir = join("node_modules", name);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((entry) => /^licen[cs]e/i.test(entry));
  if (!file) throw new Error(`${name} ships no LICENSE file; check its licence by hand`);
  parts.push("=".repeat(78), `${name} ${manifest.version} (${manifest.license})`, "=".repeat(78));
  parts.push(readFileSync(join(dir, file), "utf8").trim(), "");
}
process.stdout.write(parts.join("\n"));
