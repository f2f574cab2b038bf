#!/bin/sh
# Install the Debian 12 packages Cairn needs to build and test.
# Idempotent: installs only what is missing. Works as root or via sudo.
set -eu

PKGS="build-essential cmake pkg-config clang \
libnng-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev \
libhwloc-dev hwloc-nox libsqlite3-dev libyaml-dev libjansson-dev libcriterion-dev \
python3 python3-sklearn python3-jsonschema openssl libmbedtls-dev procps \
postgresql libpq-dev \
chromium nodejs"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "setup: all packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "setup: need root or sudo to install:$missing" >&2
    exit 1
fi

echo "setup: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# PostgreSQL: the tests start servers of their own (tests/cli/lib/pg.sh) as
# the postgres user; the package must not create (and start) the system's
# "main" cluster on port 5432. postgresql-common reads create_main_cluster
# from createcluster.conf, which includes createcluster.d/; the override is
# there only during this install. With no cluster, the package's start of
# the postgresql service starts nothing. A cluster that already exists is
# left alone: the tests use sockets of their own, never port 5432.
nocluster=/etc/postgresql-common/createcluster.d/cairn-setup.conf
case " $missing " in
*" postgresql "*)
    $SUDO mkdir -p "$(dirname "$nocluster")"
    echo "create_main_cluster = false" | $SUDO tee "$nocluster" >/dev/null
    trap '$SUDO rm -f "$nocluster"' EXIT
    ;;
esac
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
