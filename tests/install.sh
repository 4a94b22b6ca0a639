#!/usr/bin/env bash
# Install what the tests need on a fresh machine: nginx (a real server the tests and
# benchmarks run against) from Debian, and the package with its test extras, built
# in place so the compiled core is the one the tests import.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx
    else
        echo "tests/install.sh: nginx is missing and apt-get is not available; install nginx by hand" >&2
    fi
fi

python -m pip install -q --disable-pip-version-check -e '.[test]'
