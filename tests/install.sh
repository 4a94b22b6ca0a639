#!/usr/bin/env bash
# Install what the tests need on a fresh machine: nginx, chromium and postgresql from Debian, and
# the package with its test extras, built in place so the compiled core is the one
# the tests import.
set -euo pipefail
cd "$(dirname "$0")/.."

# nginx: a real server the tests and benchmarks load; chromium: the HTML report is
# checked in a headless browser (fonts so that its text renders on a bare image);
# postgresql: the database tests start clusters of their own (tests/pg.py: initdb and
# pg_ctl, from PATH or /usr/lib/postgresql/*/bin; pg_stat_statements and pgbench come with it).
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
pg_found() {
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
    done
    return 1
}
pg_found || missing+=(postgresql postgresql-contrib)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "tests/install.sh: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
    fi
fi

python -m pip install -q --disable-pip-version-check -e '.[test]'
