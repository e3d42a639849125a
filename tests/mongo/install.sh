#!/bin/sh
# Install CongoDB, the MongoDB wire-protocol server the tests run (see
# congo.js), into DEST (default: this directory), from the npm registry:
#   tests/mongo/install.sh [DEST]
# - the packages the wire server imports, pinned by the committed
#   package-lock.json (npm ci, no install scripts);
# - @push.rocks/smartmongo@2.2.0 itself, fetched with `npm pack` (a plain
#   `npm install` of it fails: one of its declared dependencies does not
#   resolve and another downloads mongod), checked against its registry sha1
#   and unpacked beside them as node_modules/@push.rocks/smartmongo.
# Idempotent: a DEST that already holds both is left alone.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here}
smartmongo=@push.rocks/smartmongo@2.2.0
sha1=8e8d6fe2de716cc16385447467cc47ce35e10af2
target=$dest/node_modules/@push.rocks/smartmongo

if [ -f "$target/dist_ts/congodb/index.js" ] && [ -f "$dest/node_modules/bson/package.json" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "install.sh: npm not found (scripts/deps.sh --test installs it)" >&2; exit 1; }

mkdir -p "$dest"
if [ "$dest" != "$here" ]; then
    cp "$here/package.json" "$here/package-lock.json" "$dest/"
fi
cd "$dest"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-smartmongo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "$smartmongo" --silent >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(sha1sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$sha1" ]; then
    echo "install.sh: $smartmongo has sha1 $got, expected $sha1; refusing it" >&2
    exit 1
fi
rm -rf "$target"
mkdir -p "$target"
tar -xzf "$tgz" -C "$target" --strip-components=1
[ -f "$target/dist_ts/congodb/index.js" ] || { echo "install.sh: $tgz has no dist_ts/congodb" >&2; exit 1; }
echo "install.sh: CongoDB ($smartmongo) installed in $dest"
