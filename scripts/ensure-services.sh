#!/usr/bin/env bash
# Make sure the services tracker needs are reachable: use running ones; start them if installed
# but stopped; install them with apt-get when missing and running as root; otherwise stop with a
# message that says exactly what to install.
#   scripts/ensure-services.sh redis            (make run)
#   scripts/ensure-services.sh redis postgres   (make test)
set -euo pipefail

REDIS_HOST=127.0.0.1 REDIS_PORT=6379
PG_HOST=127.0.0.1 PG_PORT=5432

say() { printf 'ensure-services: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

port_open() {  # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-
}

wait_port() {  # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do port_open "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  port_open $REDIS_HOST $REDIS_PORT && { say "redis is up on $REDIS_HOST:$REDIS_PORT"; return; }
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server || die "Redis is not running and not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and run it on $REDIS_HOST:$REDIS_PORT."
  fi
  say "starting redis-server on $REDIS_HOST:$REDIS_PORT"
  local dir="${TMPDIR:-/tmp}/tracker-redis"
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --dir "$dir" \
    --save "" --appendonly no --logfile "$dir/redis.log" >/dev/null
  wait_port $REDIS_HOST $REDIS_PORT 10 || die "redis-server did not start; see $dir/redis.log"
}

pg_start_installed() {
  command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] || return 1
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  [ -n "$version" ] || return 1
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || pg_ctlcluster "$version" main start
}

pg_trust_local() {
  # Only for a cluster this script installed itself: let local TCP connections in without a
  # password, as on the CI machines, so the test URL postgresql+psycopg://postgres@127.0.0.1 works.
  local hba
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf | tail -1)
  sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main reload \
    2>/dev/null || true
}

ensure_postgres() {
  port_open $PG_HOST $PG_PORT && { say "postgresql is up on $PG_HOST:$PG_PORT"; return; }
  if ! pg_start_installed; then
    apt_install postgresql || die "PostgreSQL is not running and not installed. Install it (Debian/Ubuntu: sudo apt-get install postgresql), start it on $PG_HOST:$PG_PORT, and let user postgres connect over TCP without a password (or set TRACKER_TEST_POSTGRES_URL)."
    pg_start_installed || die "PostgreSQL was installed but did not start"
    pg_trust_local
  fi
  wait_port $PG_HOST $PG_PORT 20 || die "PostgreSQL did not start on $PG_HOST:$PG_PORT"
}

for service in "$@"; do
  case "$service" in
    redis) ensure_redis ;;
    postgres) ensure_postgres ;;
    *) die "unknown service $service" ;;
  esac
done
