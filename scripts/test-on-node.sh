#!/usr/bin/env bash
# Runs the tests under another Node major, against the build in dist/ (npm run test:node -- 22
# type-checks and builds first):
#   scripts/test-on-node.sh 22                        the whole suite on Node 22 (~10 minutes)
#   scripts/test-on-node.sh 24 test/server/*.test.ts  some files (run compiled, from dist/test)
# The npm package "node" brings the binary (npx caches it). tap starts each test file with the
# node that runs it, and the tests spawn the CLI with that node too. .ci/run uses this for its
# Node 22 and 24 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/test-on-node.sh MAJOR [TEST_FILE...]}
shift
node_bin=$(npx --yes "node@$version" -p process.execPath 2>/dev/null | tail -n 1 || true)
if [ -z "$node_bin" ] || [ ! -x "$node_bin" ]; then
  echo "Node $version could not be installed (npx --yes node@$version)" >&2
  exit 1
fi
echo "== Node $("$node_bin" --version): $([ $# -gt 0 ] && echo "$# test files" || echo "the whole suite")"
files=()
for file in "$@"; do
  case $file in
    test/*.ts) file="dist/${file%.ts}.js" ;;
  esac
  files+=("$file")
done
# tap's plugin set as .taprc has it, before the runner loads (see the file).
node test/support/tap-plugins.mjs
exec "$node_bin" node_modules/.bin/tap --disable-coverage "${files[@]}"
