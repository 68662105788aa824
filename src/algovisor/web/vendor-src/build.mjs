// Bundles entry.js into ../static/vendor/codemirror.js (run by build.sh, after `npm ci`).
//
// One patch is applied on the way: style-mod (CodeMirror's style injector) gives a document
// a <style> element and only shadow roots a constructed style sheet. The web UI's pages
// forbid inline styles (CSP `style-src 'self'`), which blocks that element, while
// constructed sheets (document.adoptedStyleSheets) are allowed. So documents get a
// constructed sheet too; a browser without them still falls back to the <style> element.
import { readFile, writeFile } from "node:fs/promises";
import { build } from "esbuild";

const STYLE_MOD_CHECK = "if (!root.head && root.adoptedStyleSheets && win.CSSStyleSheet) {";
const PATCHED_CHECK = "if (root.adoptedStyleSheets && win.CSSStyleSheet) {";

const constructedSheets = {
  name: "style-mod-constructed-sheets",
  setup(builder) {
    builder.onLoad({ filter: /style-mod[\\/]src[\\/]style-mod\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      if (!source.includes(STYLE_MOD_CHECK)) {
        throw new Error(`style-mod changed: ${args.path} no longer has the check to patch`);
      }
      return { contents: source.replace(STYLE_MOD_CHECK, PATCHED_CHECK), loader: "js" };
    });
  },
};

let patched = false;
const result = await build({
  entryPoints: ["entry.js"],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  legalComments: "none",
  banner: {
    js:
      "/* CodeMirror 6 and its dependencies, MIT licensed: see LICENSES.txt beside this " +
      "file. Built by src/algovisor/web/vendor-src/build.sh. */",
  },
  metafile: true,
  outfile: "../static/vendor/codemirror.js",
  plugins: [constructedSheets],
});
for (const input of Object.keys(result.metafile.inputs)) {
  if (/style-mod[\\/]src[\\/]style-mod\.js$/.test(input)) patched = true;
}
if (!patched) throw new Error("style-mod was not bundled: the CSP patch did not apply");
await writeFile("meta.json", JSON.stringify(result.metafile));
