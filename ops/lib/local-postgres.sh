# Throw-away local PostgreSQL for the demo and the chaos run (sourced, not executed).
# Debian's server binaries refuse to run as root, so the cluster is owned by the `postgres` OS user.
#   pg_local_start DIR   → initdb (first time) and start on a unix socket in DIR/socket; sets PG_CONNINFO
#   pg_local_stop DIR    → fast shutdown
# PG_EXTRA_OPTS adds server options (e.g. "-c shared_preload_libraries=pg_stat_statements").
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"

pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_local_start() {
    local dir
    dir="$(realpath -m "$1")"
    [ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL server binaries not found (install Debian's postgresql)" >&2; return 1; }
    mkdir -p "$dir/socket"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
    # Let the postgres user reach a data directory below root's home or /work.
    local d="$dir"
    while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U ternflux --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; return 1; }
    fi
    pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir/socket' -c fsync=off -c max_connections=200 ${PG_EXTRA_OPTS:-}" start >/dev/null \
        || { tail -n 20 "$dir/postgres.log" >&2; return 1; }
    pg_as_owner "$PG_BIN/psql" -h "$dir/socket" -U ternflux -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='ternflux'" | grep -q 1 \
        || pg_as_owner "$PG_BIN/createdb" -h "$dir/socket" -U ternflux ternflux
    PG_CONNINFO="host=$dir/socket user=ternflux dbname=ternflux"
    export PG_CONNINFO
}

pg_local_stop() {
    local dir
    dir="$(realpath -m "$1")"
    [ -f "$dir/data/postmaster.pid" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
