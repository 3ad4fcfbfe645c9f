#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server beside it.
#
#   scripts/with-postgres.sh CMD [ARG...]
#
# What it does, in order:
#   1. finds the PostgreSQL server programs (initdb, postgres, pg_ctl); if there are none, installs
#      the Debian package `postgresql` when run as root, or says how to install it otherwise;
#   2. makes a temporary folder and a new cluster in it (trust authentication, superuser `loyalty`,
#      UTF8), tuned for tests rather than for keeping data (fsync off: a crash loses it, which is fine;
#      PG_DURABLE=1 keeps PostgreSQL's durable defaults — fsync, synchronous_commit, full_page_writes
#      on — for benchmarks that must measure what a production server pays for a commit);
#   3. starts the server on 127.0.0.1 at a free port, plus a Unix socket in the temporary folder,
#      waits until it accepts connections and creates the database `loyalty_test`;
#   4. runs CMD with these set in its environment:
#        LOYALTY_TEST_POSTGRES=postgresql://loyalty@127.0.0.1:PORT/loyalty_test
#        LOYALTY_REQUIRE_POSTGRES=1   (the tests then fail, never skip, when the server is missing)
#   5. always stops the server and removes the folder afterwards, also when CMD fails or is
#      interrupted (Ctrl-C, or SIGTERM/SIGHUP to the process group, as a terminal, make or CI send
#      them; a signal to this script alone takes effect when CMD ends), and exits with CMD's exit
#      code (128 + the signal's number when interrupted). Only SIGKILL leaves things behind.
# If something of its own goes wrong (install, initdb, start), it says what, shows the end of the
# server's log and exits non-zero before running CMD.
#
# PostgreSQL refuses to run as root, so under root the server runs as the unprivileged user
# `postgres` that the Debian package creates (override with PG_SERVER_USER=name); under any other
# user it runs as that user. CMD itself runs as the caller.
set -euo pipefail

log() { printf 'with-postgres: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

(($# > 0)) || die "usage: scripts/with-postgres.sh CMD [ARG...]"

SUPERUSER=loyalty
DATABASE=loyalty_test
START_TIMEOUT=30   # seconds pg_ctl waits for the server to start or stop

now() { echo "${EPOCHREALTIME:-$(date +%s)}"; }   # seconds, with microseconds on bash >= 5
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
t0=$(now)

# --- 1. The server programs ------------------------------------------------------------------------

# Print the first folder holding initdb, postgres and pg_ctl: where pg_config says, where initdb on
# PATH really lives, then Debian's /usr/lib/postgresql/<version>/bin, highest version first.
find_bindir() {
    local candidates=() dir
    if command -v pg_config >/dev/null 2>&1; then
        candidates+=("$(pg_config --bindir 2>/dev/null || true)")
    fi
    if command -v initdb >/dev/null 2>&1; then
        candidates+=("$(dirname "$(readlink -f "$(command -v initdb)")")")
    fi
    # `sort -V` puts 9.6 before 15; -r makes the highest come first.
    while IFS= read -r dir; do
        candidates+=("$dir")
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)

    for dir in "${candidates[@]}"; do
        if [[ -n $dir && -x $dir/initdb && -x $dir/postgres && -x $dir/pg_ctl ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

install_postgres() {
    if ((EUID != 0)); then
        die "no PostgreSQL server found (initdb, postgres, pg_ctl). Install it, e.g.
    sudo apt-get install postgresql      # Debian, Ubuntu
or run the tests against a server of your own (see docs/development.md):
    LOYALTY_TEST_POSTGRES=postgresql://USER@HOST:PORT/DB .venv/bin/python -m pytest"
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "no PostgreSQL server found and no apt-get to install it with: install PostgreSQL yourself"
    log "no PostgreSQL server found: installing the Debian package postgresql"
    # A new machine's package lists may be empty or old: update them first.
    apt-get update -qq || die "apt-get update failed (see above)"
    # The package would start its own server as a service; on a machine without an init system
    # (a container, CI) that start can fail the install. Services are not needed here: deny their
    # start for the length of the install (the policy-rc.d convention), unless a policy exists.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    local status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql || status=$?
    ((own_policy)) && rm -f "$policy"
    ((status == 0)) || die "apt-get install postgresql failed (see above)"
}

if ! BINDIR=$(find_bindir); then
    install_postgres
    BINDIR=$(find_bindir) || die "the package postgresql is installed but initdb/postgres/pg_ctl are still not found"
fi

# --- 2. Who runs the server, and a temporary folder it owns ----------------------------------------

if ((EUID == 0)); then
    SERVER_USER=${PG_SERVER_USER:-postgres}
    id -u "$SERVER_USER" >/dev/null 2>&1 \
        || die "running as root, but there is no user '$SERVER_USER' to run the server as (PostgreSQL refuses root);
create one (e.g. useradd --system $SERVER_USER) or set PG_SERVER_USER to an unprivileged user"
    # runuser keeps the environment; start in the temporary folder, which that user can enter.
    as_server() { (cd "$TMP" && runuser -u "$SERVER_USER" -- "$@"); }
else
    as_server() { (cd "$TMP" && "$@"); }
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/loyalty-pg.XXXXXXXX")
DATA=$TMP/data
LOG=$TMP/server.log

# From here on the folder (and the server, once its pid file exists) is cleaned up on every exit.
# shellcheck disable=SC2317  # (run by the EXIT trap, which shellcheck does not follow)
cleanup() {
    local status=$?
    trap - EXIT
    trap '' INT TERM HUP   # a second Ctrl-C must not cut the clean-up short
    if [[ -f $DATA/postmaster.pid ]]; then
        local t_stop
        t_stop=$(now)
        # "fast": roll back open transactions and disconnect clients instead of waiting for them.
        if as_server "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w -t "$START_TIMEOUT" >/dev/null 2>&1; then
            log "server stopped in $(elapsed "$t_stop")"
        else
            # Still up after the timeout: stop it at once (SIGQUIT = immediate shutdown).
            log "server did not stop within ${START_TIMEOUT}s; stopping it immediately"
            kill -QUIT "$(head -n 1 "$DATA/postmaster.pid")" 2>/dev/null || true
            sleep 1
        fi
    fi
    rm -rf "$TMP" || log "could not remove $TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT    # exit codes as if the signal had killed us; the EXIT trap still runs
trap 'exit 143' TERM
trap 'exit 129' HUP

if ((EUID == 0)); then
    chown "$SERVER_USER" "$TMP"
fi

show_log() {
    if [[ -s $LOG ]]; then
        log "last lines of the server log ($LOG):"
        tail -n 20 "$LOG" >&2
    fi
}

# --- 3. A new cluster ------------------------------------------------------------------------------

# C.UTF-8 when the system has it (Debian always does): byte order for sorting, but lower()/upper()
# still know non-ASCII letters. Plain C otherwise. The environment's locale is not used, so a LANG
# naming a locale the machine lacks cannot break initdb.
LOCALE=C
if locale -a 2>/dev/null | grep -qixE 'c\.utf-?8'; then
    LOCALE=C.UTF-8
fi

# --no-sync: don't wait for the disk; a test cluster doesn't need to survive a power cut.
if ! initdb_output=$(as_server "$BINDIR/initdb" -D "$DATA" -U "$SUPERUSER" --auth=trust \
        --encoding=UTF8 --locale="$LOCALE" --no-sync --no-instructions 2>&1); then
    printf '%s\n' "$initdb_output" >&2
    die "initdb failed (above)"
fi

# Settings for a throwaway cluster. The port is given on the command line (it may change on retry).
cat >>"$DATA/postgresql.conf" <<EOF

# --- added by scripts/with-postgres.sh: a throwaway test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP'
max_connections = 100            # room for concurrency tests
EOF
if [[ "${PG_DURABLE:-}" != 1 ]]; then
    cat >>"$DATA/postgresql.conf" <<EOF
fsync = off                      # durability is not wanted here, speed is
synchronous_commit = off
full_page_writes = off
EOF
fi

# --- 4. Start it at a free port ---------------------------------------------------------------------

# A port nothing listens on now: the kernel's pick via python3, else a random one. Another program
# could take it before the server does; the start is then retried with another port.
free_port() {
    if command -v python3 >/dev/null 2>&1 && python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null; then
        return 0
    fi
    echo $((20000 + RANDOM % 40000))
}

ATTEMPTS=5
started=
for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
    PORT=$(free_port)
    rm -f "$LOG"   # the server user writes it; a fresh one for each attempt
    if pg_ctl_output=$(as_server "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -o "-p $PORT" \
            -w -t "$START_TIMEOUT" 2>&1); then
        started=1
        break
    fi
    if grep -q 'could not bind\|Address already in use' "$LOG" 2>/dev/null; then
        log "port $PORT was taken (attempt $attempt of $ATTEMPTS)"
        continue
    fi
    printf '%s\n' "$pg_ctl_output" >&2
    show_log
    die "the PostgreSQL server did not start"
done
[[ -n $started ]] || { show_log; die "the PostgreSQL server did not start: no free port found"; }

# pg_ctl -w already waited for the server; check that it answers on TCP too, as the tests will use it.
if ! "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 10; then
    show_log
    die "the server started but does not answer on 127.0.0.1:$PORT"
fi

if ! createdb_output=$("$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" "$DATABASE" 2>&1); then
    printf '%s\n' "$createdb_output" >&2
    show_log
    die "could not create the database $DATABASE"
fi

export LOYALTY_TEST_POSTGRES="postgresql://$SUPERUSER@127.0.0.1:$PORT/$DATABASE"
export LOYALTY_REQUIRE_POSTGRES=1
log "PostgreSQL $("$BINDIR/postgres" -V | awk '{ print $3 }') ready in $(elapsed "$t0") at $LOYALTY_TEST_POSTGRES (socket and data in $TMP)"

# --- 5. Run the command; the EXIT trap stops the server and removes the folder ----------------------

status=0
"$@" || status=$?
exit "$status"
