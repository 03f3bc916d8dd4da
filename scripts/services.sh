#!/usr/bin/env bash
# Makes sure the local services the integration tests talk to are up: Redis on 6379 and
# PostgreSQL on 5432 (trust auth for 127.0.0.1, database `test`). Starts them if they are
# installed but stopped; installs them from Debian's packages if they are missing (needs root),
# with the browser and the compose checker the tests use.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ "$(id -u)" != 0 ] || ! have apt-get; then
    echo "services: cannot install $* (not root or no apt-get); integration tests will skip" >&2
    return 0
  fi
  echo "services: installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Tools the tests drive without a server: Debian's chromium (Playwright's browser tests; nothing is
# downloaded at run time) and docker-compose (`docker-compose config -q`; no Docker engine needed).
have chromium || apt_install chromium
have docker-compose || apt_install docker-compose

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! redis_up; then
  have redis-server || apt_install redis-server
  if have redis-server; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  fi
fi

if ! pg_up; then
  have pg_ctlcluster || apt_install postgresql
  if have pg_ctlcluster; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
      sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 100); do pg_up && break; sleep 0.1; done
    su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test" || true
  fi
fi

redis_up && echo "services: redis ok" || echo "services: redis unavailable" >&2
pg_up && echo "services: postgresql ok" || echo "services: postgresql unavailable" >&2
