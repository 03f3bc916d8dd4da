#!/usr/bin/env bash
# Makes sure what the integration tests talk to is there: Redis on 127.0.0.1:$REDIS_PORT (6379),
# PostgreSQL on 127.0.0.1:$PGPORT (5432) with trust auth for 127.0.0.1 and a database `test`,
# Chromium (the dashboard's browser tests) and docker-compose (`docker-compose config -q`; no
# Docker engine needed). Starts the servers if they are installed but stopped; installs what is
# missing from Debian's packages (needs root). Nothing is downloaded at test time.
#
# Exits non-zero, naming each missing piece, when any of them cannot be brought up: under CI a
# suite that skipped its integration tests must not look green (tests/support/ci_skips.py).
set -euo pipefail

REDIS_PORT="${REDIS_PORT:-6379}"
PGPORT="${PGPORT:-5432}"
missing=()

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ "$(id -u)" != 0 ] || ! have apt-get; then
    echo "services: cannot install $* (not root or no apt-get)" >&2
    return 0
  fi
  echo "services: installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || echo "services: apt-get install $* failed" >&2
}

redis_up() {
  (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null
}
pg_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PGPORT") 2>/dev/null; }
# Listening is not enough: the tests log in as postgres over TCP without a password.
pg_up() {
  pg_listening || return 1
  if have psql; then
    psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
  fi
}

# -- browser and compose checker ---------------------------------------------------------------
have chromium || apt_install chromium
have chromium || missing+=("chromium (apt-get install chromium)")
have docker-compose || apt_install docker-compose
have docker-compose || missing+=("docker-compose (apt-get install docker-compose)")

# -- Redis -------------------------------------------------------------------------------------
if ! redis_up; then
  have redis-server || apt_install redis-server
  if have redis-server; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  fi
fi
redis_up || missing+=("Redis on 127.0.0.1:$REDIS_PORT (redis-server; log /var/log/redis/ci.log)")

# -- PostgreSQL --------------------------------------------------------------------------------
# A server we do not manage (a CI service container) is used as it is; a local Debian cluster is
# started if needed and given trust auth for 127.0.0.1, reloaded when pg_hba.conf is edited.
if ! pg_up; then
  have pg_ctlcluster || apt_install postgresql
  if have pg_ctlcluster && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    hba_edited=no
    if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
      hba_edited=yes
    fi
    if pg_listening; then
      # Running, but it refused our login: it must re-read the file we just fixed.
      [ "$hba_edited" = yes ] && pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
    else
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    for _ in $(seq 100); do pg_up && break; sleep 0.1; done
  fi
fi
if pg_up; then
  if have psql; then
    psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" \
      | grep -q 1 || psql -w -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qc "CREATE DATABASE test"
  fi
else
  missing+=("PostgreSQL on 127.0.0.1:$PGPORT accepting user postgres without a password (pg_ctlcluster; pg_hba.conf)")
fi

if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "services: FAILED: the integration tests need, and could not get:"
    for item in "${missing[@]}"; do echo "  - $item"; done
    echo "services: install them (as root this script does it with apt-get) and run it again."
  } >&2
  exit 1
fi
echo "services: redis, postgresql, chromium and docker-compose ok"
