#!/bin/sh
# Entrypoint of the edgewatch image.
#
#   (no arguments)        edgewatch run --config $EDGEWATCH_CONFIG (default /etc/edgewatch/agent.yaml)
#   run|hunt|... ARGS     edgewatch run|hunt|... ARGS (any edgewatch sub-command, or --help)
#   ig ARGS / gadgetctl   the bundled IG tools, for debugging a node (ig version, ig run ...)
#   any other command     run as given (sh, python ...)
#
# It always execs, so the agent gets SIGTERM from the kubelet directly (tini, PID 1,
# forwards it and reaps what IG leaves behind). It only warns, never refuses: the agent
# itself reports a missing config or a failing IG with the precise reason.
set -eu

warn() {
    echo "edgewatch-entrypoint: $*" >&2
}

if [ "$#" -eq 0 ]; then
    set -- run --config "${EDGEWATCH_CONFIG:-/etc/edgewatch/agent.yaml}"
fi

case "$1" in
    ig | gadgetctl | sh | bash | python | python3 | /*)
        exec "$@"
        ;;
esac

if [ "$1" = "run" ]; then
    # IG reads the host through HOST_ROOT; a DaemonSet without the hostPath mount would
    # otherwise fail later with a less obvious error from IG.
    if [ -n "${HOST_ROOT:-}" ] && [ ! -d "${HOST_ROOT}/proc/1" ]; then
        warn "HOST_ROOT=${HOST_ROOT} does not hold the host's /proc; IG sources will fail (mount the host's / there, or run a cri/file source)"
    fi
    if [ -n "${EDGEWATCH_LOG_LEVEL:-}" ]; then
        shift
        set -- run --log-level "${EDGEWATCH_LOG_LEVEL}" "$@"
    fi
fi

exec edgewatch "$@"
