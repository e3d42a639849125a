#!/bin/sh
# Install the Debian 12 packages Parley needs, or say which are missing.
#   scripts/deps.sh          what `make build` / `make run` need
#   scripts/deps.sh --test   that plus what `make test` needs
#   scripts/deps.sh --fuzz   that plus clang with libFuzzer, for `make fuzz` only
#   scripts/deps.sh --bench  that plus wrk, Node.js and util-linux (taskset), for `make bench`
# As root, missing packages are installed with apt-get. Otherwise the one
# apt-get line to run is printed and the script fails.
set -eu

build_pkgs="gcc make cmake pkg-config libuv1-dev \
libyaml-dev libcjson-dev libsqlite3-dev libmongoc-dev"
test_pkgs="libcmocka-dev python3 python3-websocket python3-socketio python3-requests binutils curl"
# The MongoDB tests' wire server (tests/mongo) runs on Node.js; a node
# already on the PATH (from anywhere) is used as it is.
command -v node >/dev/null 2>&1 || test_pkgs="$test_pkgs nodejs npm"

fuzz_pkgs="clang"
bench_pkgs="wrk python3 util-linux curl"
command -v node >/dev/null 2>&1 || bench_pkgs="$bench_pkgs nodejs npm"

pkgs=$build_pkgs
[ "${1:-}" = "--test" ] && pkgs="$build_pkgs $test_pkgs"
[ "${1:-}" = "--fuzz" ] && pkgs="$build_pkgs $fuzz_pkgs"
[ "${1:-}" = "--bench" ] && pkgs="$build_pkgs $bench_pkgs"

missing=""
for p in $pkgs; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "Parley needs these Debian packages. Run as root:" >&2
    echo "  apt-get install -y$missing" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
