#!/usr/bin/env bash
# `npm run prebuilds`: every prebuild this Linux machine can produce, into
# prebuilds/<platform>-<arch>/: linux-x64 (the host) and linux-arm64 (glibc,
# cross-compiled with Debian's aarch64-linux-gnu toolchain). N-API, so one
# binary per platform serves every Node from the oldest in `engines` on.
#
# The builds run in a scratch copy of the binding sources: node-gyp rebuild
# replaces build/, and build/ must stay the host's own development build
# (node-gyp-build prefers it to prebuilds/, so an arm64 file there would break
# every test on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

fail() { echo "prebuilds: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || fail "builds Linux binaries and runs on Linux only (this is $(uname -s))"
case "$(uname -m)" in
  x86_64) ;;
  *) fail "expects an x86_64 host (this is $(uname -m)): the arm64 build is a cross build from x64" ;;
esac

# The oldest Node the package supports, from engines (">=20.19.0" → 20.19.0):
# prebuildify names and builds the binaries for it.
oldest=$(node -p "require('./package.json').engines.node.replace(/^>=\\s*/, '')")
[[ $oldest =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "cannot read the oldest Node from engines.node in package.json (got '$oldest')"

cross=aarch64-linux-gnu
for tool in gcc g++ ar strip; do
  command -v "$cross-$tool" >/dev/null \
    || fail "$cross-$tool not found: the linux-arm64 prebuild needs Debian's cross toolchain (apt-get install g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)"
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -a binding binding.gyp package.json "$scratch/"
ln -s "$root/node_modules" "$scratch/node_modules"

prebuildify() {
  (cd "$scratch" && "$root/node_modules/.bin/prebuildify" --napi --strip --tag-libc -t "$oldest" --out "$root" "$@")
}

rm -rf prebuilds/linux-x64 prebuilds/linux-arm64

echo "prebuilds: linux-x64 (host), Node >= $oldest"
prebuildify

echo "prebuilds: linux-arm64 (glibc, $cross cross toolchain), Node >= $oldest"
CC=$cross-gcc CXX=$cross-g++ LINK=$cross-g++ AR=$cross-ar PREBUILD_STRIP_BIN=$cross-strip \
  prebuildify --arch arm64

ls -l prebuilds/linux-x64 prebuilds/linux-arm64
