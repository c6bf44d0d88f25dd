#!/bin/bash
# Start the test cluster for the Kubernetes driver's tests: build it into
# <build-dir> (kept: a second start reuses it), import the sandbox and runner
# images, give the pod bridge the host address test servers listen on for
# pods, and start it with its state in <state-dir>.
# usage: start.sh <build-dir> <state-dir>     needs root; stop with down.sh <state-dir>
# The tests then read NEUAIS_TEST_KUBECONFIG=<state-dir>/admin.kubeconfig.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
B=$(realpath -m "$1"); S=$(realpath -m "$2"); mkdir -p "$B/images"
K8S_VERSION=v1.37.2
missing=""
for p in etcd-server containerd runc containernetworking-plugins iproute2 bc curl openssl; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ ! -x "$B/bin/kubelet" ]; then
  t0=$(date +%s)
  "$here/build-k8s.sh" "$B" $K8S_VERSION >"$B/build.log" 2>&1 || { tail -20 "$B/build.log"; exit 1; }
  echo "built Kubernetes $K8S_VERSION in $(( $(date +%s) - t0 )) s"
fi
CGO_ENABLED=0 go build -o "$B/images/pause" "$here/pause"
CGO_ENABLED=0 go build -o "$B/images/neuais" "$repo/cmd/neuais"
"$here/mkimage.sh" "$B/images/pause" localhost/pause:local "$B/images/pause.tar" '["/pause","pause"]'
"$here/mkimage.sh" "$B/images/neuais" localhost/neuais-runner:test "$B/images/runner.tar" '["/neuais","runner"]'
# The bridge plugin adopts an existing bridge: made here, it has the host
# address before the first pod (host-local never hands out .1).
if ! ip link show localcni0 >/dev/null 2>&1; then ip link add localcni0 type bridge; fi
ip addr replace 10.88.0.1/24 dev localcni0
ip link set localcni0 up
"$here/up.sh" "$S" "$B/bin"
for img in pause runner; do ctr -a "$S/ctr/containerd.sock" -n k8s.io images import "$B/images/$img.tar" >/dev/null; done
