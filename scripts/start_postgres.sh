#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests marked `postgres`.
#
#   eval "$(scripts/start_postgres.sh)"          # installs Debian's postgresql if missing,
#                                                # starts a server on 127.0.0.1:<free port>,
#                                                # exports SOUS_TEST_PG_URL and SOUS_TEST_PG_DIR
#   scripts/start_postgres.sh stop "$SOUS_TEST_PG_DIR"
#
# The server listens on loopback only, runs as user `postgres` from a temp data directory,
# and trusts local connections: it is for tests, never for data you care about.
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

if [ "${1:-}" = stop ]; then
  dir=${2:?usage: start_postgres.sh stop DIR}
  as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >&2
  rm -rf "$dir"
  exit 0
fi

if [ -z "$(pg_bin)" ]; then
  echo "installing postgresql from Debian packages..." >&2
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
fi
BIN=$(pg_bin)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/sous-pg.XXXXXX)
chown postgres "$dir"
as_postgres "$BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >&2
as_postgres "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
as_postgres "$BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres sous_test >&2

echo "export SOUS_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$port/sous_test"
echo "export SOUS_TEST_PG_DIR=$dir"
