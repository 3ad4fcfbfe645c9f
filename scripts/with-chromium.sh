#!/usr/bin/env bash
# Run a command with a headless Chromium available for the browser tests.
#
#   scripts/with-chromium.sh CMD [ARG...]
#
# What it does, in order:
#   1. finds Chromium (LOYALTY_TEST_CHROMIUM if set, else chromium or chromium-browser on PATH);
#      if there is none, installs the Debian package `chromium` when run as root, or says how to
#      install it otherwise and stops;
#   2. runs CMD with these set in its environment:
#        LOYALTY_TEST_CHROMIUM=/path/to/chromium   (the browser Playwright launches)
#        LOYALTY_REQUIRE_BROWSER=1                 (the browser tests then fail, never skip, when
#                                                   the browser is missing)
#   3. exits with CMD's exit code.
# Playwright's own browser downloads are not used: they need the network at test time, and a
# Debian package is what the machine's other programs are installed from too (as PostgreSQL is in
# scripts/with-postgres.sh, whose pattern this follows).
set -euo pipefail

log() { printf 'with-chromium: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

(($# > 0)) || die "usage: scripts/with-chromium.sh CMD [ARG...]"

find_chromium() {
    local candidate
    if [[ -n ${LOYALTY_TEST_CHROMIUM:-} ]]; then
        [[ -x $LOYALTY_TEST_CHROMIUM ]] || return 1
        echo "$LOYALTY_TEST_CHROMIUM"
        return 0
    fi
    for candidate in chromium chromium-browser; do
        if command -v "$candidate" >/dev/null 2>&1; then
            readlink -f "$(command -v "$candidate")"
            return 0
        fi
    done
    return 1
}

install_chromium() {
    if ((EUID != 0)); then
        die "no Chromium found (chromium, chromium-browser). Install it, e.g.
    sudo apt-get install chromium        # Debian (Ubuntu: chromium-browser)
or name one with LOYALTY_TEST_CHROMIUM=/path/to/chromium; without it the browser tests are
skipped when pytest is run by hand (docs/development.md)"
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "no Chromium found and no apt-get to install it with: install Chromium yourself"
    log "no Chromium found: installing the Debian package chromium (a minute or two)"
    # A new machine's package lists may be empty or old: update them first.
    apt-get update -qq || die "apt-get update failed (see above)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
        || die "apt-get install chromium failed (see above)"
}

if ! CHROMIUM=$(find_chromium); then
    [[ -z ${LOYALTY_TEST_CHROMIUM:-} ]] \
        || die "LOYALTY_TEST_CHROMIUM=$LOYALTY_TEST_CHROMIUM is not an executable file"
    install_chromium
    CHROMIUM=$(find_chromium) || die "the package chromium is installed but no chromium is found on PATH"
fi

export LOYALTY_TEST_CHROMIUM="$CHROMIUM"
export LOYALTY_REQUIRE_BROWSER=1
log "$("$CHROMIUM" --version 2>/dev/null || echo "Chromium") at $CHROMIUM"

exec "$@"
