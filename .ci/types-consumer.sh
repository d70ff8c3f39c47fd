#!/usr/bin/env bash
# The published types, as users compile them: the packed tarball installed
# into a fresh project with strict settings and skipLibCheck off, checked
# against each supported @types/node major with TypeScript 5 and the newest
# TypeScript, as an ESM and a CJS consumer. One npm install (aliases give
# every version its own folder), then one tsc run per combination.
# Needs the npm registry; caches nothing in the repository.
# Usage: .ci/types-consumer.sh [path/to/stallguard-x.y.z.tgz]  (packs the tree when omitted)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=${1:-}
if [ -z "$tarball" ]; then
  (cd "$root" && npm pack --silent --ignore-scripts --pack-destination "$work" >/dev/null)
  tarball=$(ls "$work"/stallguard-*.tgz)
fi
TYPES_NODE=(20 22 24 26)
TYPESCRIPT=(5 latest)
cd "$work"
echo '{ "name": "types-consumer", "version": "1.0.0", "private": true }' > package.json
deps=("$tarball" undici@7)
for n in "${TYPES_NODE[@]}"; do deps+=("types-node$n@npm:@types/node@$n"); done
for t in "${TYPESCRIPT[@]}"; do deps+=("typescript-$t@npm:typescript@$t"); done
npm install --silent --no-audit --no-fund --ignore-scripts "${deps[@]}"

failed=0
for kind in esm cjs; do
  mkdir -p "$kind"
  if [ "$kind" = esm ]; then
    echo '{ "type": "module" }' > "$kind/package.json"; module=nodenext
  else
    echo '{ "type": "commonjs" }' > "$kind/package.json"; module=nodenext
  fi
  cp "$root/.ci/types-consumer/consumer.ts" "$kind/consumer.ts"
  for n in "${TYPES_NODE[@]}"; do
    # typeRoots/node → this major's @types/node (what `types: ["node"]` loads).
    mkdir -p "types$n" && ln -sfn "../node_modules/types-node$n" "types$n/node"
    for t in "${TYPESCRIPT[@]}"; do
      cat > "$kind/tsconfig.$n.$t.json" <<JSON
{ "compilerOptions": { "strict": true, "skipLibCheck": false, "noEmit": true, "module": "$module",
  "moduleResolution": "nodenext", "target": "es2022", "types": ["node"], "typeRoots": ["../types$n"] },
  "files": ["consumer.ts"] }
JSON
      version=$(node -p "require('./node_modules/typescript-$t/package.json').version")
      label="$kind @types/node@$n typescript@$version"
      if out=$(cd "$kind" && node "../node_modules/typescript-$t/bin/tsc" -p "tsconfig.$n.$t.json" 2>&1); then
        echo "ok   $label"
      else
        echo "FAIL $label"; echo "$out" | head -n 20; failed=1
      fi
    done
  done
done
exit $failed
