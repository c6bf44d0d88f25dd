#!/usr/bin/env bash
# bench/compare.sh: the side-by-side run in one command. Builds this
# checkout's ./cmd/neuais, starts it on loopback with 1,000 seeded agents
# (project-start.sh), runs run.sh against it, go-baseline and node-peer
# interleaved, prints the neuais server's peak and final RSS, and stops it.
# run.sh's knobs apply (ROUNDS, DURATION, SCENARIOS, PIN, ...).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE/.."
WORK=$(mktemp -d /tmp/neuais-bench.XXXXXX)
eval "$(WORK=$WORK "$HERE/project-start.sh" | grep -E '^(PROJECT_URL|PROJECT_TOKEN)=' | sed 's/^/export /')"
trap 'kill -TERM -"$(cat "$WORK/pid")" 2>/dev/null || true' EXIT
# Shape differences that do not bear on speed (neuais lists carry more
# fields; its /graphql answers anonymous requests) must not stop the run.
export PROJECT_NAME=${PROJECT_NAME:-neuais} ALLOW_CHECK_FAIL=${ALLOW_CHECK_FAIL:-1}
export SCENARIOS=${SCENARIOS:-"get-one list-100 graphql-get-one"}
nproc | sed 's/^/cores: /'
uptime
"$HERE/run.sh"
uptime
grep -E '^Vm(HWM|RSS)' "/proc/$(cat "$WORK/pid")/status" | sed 's/^/neuais /'
