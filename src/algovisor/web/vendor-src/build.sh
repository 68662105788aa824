#!/bin/sh
# Rebuilds the web UI's vendored CodeMirror 6: static/vendor/codemirror.js (one minified
# ES module) and static/vendor/LICENSES.txt (the licence of every package inside it).
#
# Users never run this: the bundle is committed and shipped in the wheel; this folder is
# not. To upgrade, change the versions in package.json, run `npm install` to update
# package-lock.json, then:
#
#     cd src/algovisor/web/vendor-src && ./build.sh
#
# `npm ci` installs exactly what package-lock.json pins (esbuild too). build.mjs says why
# one line of style-mod is patched (the pages' Content-Security-Policy).
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node build.mjs
node licenses.mjs meta.json > ../static/vendor/LICENSES.txt
rm -f meta.json
echo "built static/vendor/codemirror.js ($(wc -c < ../static/vendor/codemirror.js) bytes) and LICENSES.txt"
