# Starts and stops a throw-away PostgreSQL on a free loopback port, its data under a work
# directory (fsync off: nothing in it outlives the run). Sourced by scripts/test and
# scripts/bench-registry.
#
#   start_postgres WORK   sets pg_url (postgres://postgres@127.0.0.1:PORT/postgres)
#   stop_postgres WORK

_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# As root, the server runs as the `postgres` user (made when missing).
_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    local work=$1 bin port
    bin=$(_pg_bin)
    [ -x "$bin/initdb" ] || { echo "no PostgreSQL server binaries found under /usr/lib/postgresql" >&2; return 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$work/pg"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chmod o+x "$work"
        chown postgres "$work/pg"
    fi
    _as_pg "$bin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 >/dev/null
    _as_pg "$bin/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
        -o "-h 127.0.0.1 -p $port -k $work/pg -c fsync=off -c max_connections=300" start >/dev/null
    pg_url="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
    local work=$1
    [ -d "$work/pg" ] || return 0
    _as_pg "$(_pg_bin)/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
}
