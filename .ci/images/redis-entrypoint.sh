#!/bin/sh
# As the official image's entrypoint: redis-server runs as the redis user, owning /data; the
# arguments (and stdin, where docker-compose.yml passes the password) go through unchanged.
set -e
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
