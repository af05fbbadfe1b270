#!/bin/sh
# Makes the credentials docker-compose.yml declares, once, in deploy/compose/secrets/:
#   redis_password     Redis's requirepass, read by Redis, the orchestrator and the pools
#   grpc_tokens        the orchestrator's gRPC tokens, one `<token> <role>` per line
#   orchestrator.toml  the orchestrator's config file, holding the dashboard's token
# Existing files are kept (re-running never changes a credential in use); delete one to renew it.
#
# The folder is 0700, so only you reach the files on this host. The files are 0644 because
# compose mounts them into the containers as they are, where Redis and the orchestrator run as
# their own users (redis, orq), not as you.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
umask 022

new() { openssl rand -hex 32; }

make() { # file, content
  if [ -e "$dir/$1" ]; then
    echo "kept    $dir/$1"
  else
    printf '%s\n' "$2" >"$dir/$1.tmp"
    mv "$dir/$1.tmp" "$dir/$1"
    echo "created $dir/$1"
  fi
}

make redis_password "$(new)"
make grpc_tokens "$(new) admin"
make orchestrator.toml "# The orchestrator's config in docker-compose.yml; a secret because of the token below.
[[http.dashboard.tokens]]
token = \"$(new)\"
role = \"admin\""

echo "gRPC admin token: the first word of $dir/grpc_tokens (orchctl --token <it>)"
echo "dashboard: http://127.0.0.1:9097/admin with the token in $dir/orchestrator.toml"
