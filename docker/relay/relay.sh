#!/bin/sh
# Forwards each port of LISTEN_PORTS on this container's addresses to TARGET_HOST:TARGET_PORT.
# Runs until the container is stopped.
set -eu
: "${TARGET_HOST:=host.docker.internal}"
: "${TARGET_PORT:?TARGET_PORT: the daemon's server.containers.relayPort}"
: "${LISTEN_PORTS:=9911 80}"
for port in $LISTEN_PORTS; do
  socat "TCP-LISTEN:${port},fork,reuseaddr" "TCP:${TARGET_HOST}:${TARGET_PORT}" &
done
wait
