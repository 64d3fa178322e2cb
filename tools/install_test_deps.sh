#!/usr/bin/env bash
# System packages the tests need beyond the venv: Debian's Chromium for the browser tests,
# etcd (server and etcdctl) for the full-stack tests (tests/e2e/stack, tools/stack.sh).
# Idempotent and quick when already installed.
set -euo pipefail
packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v etcd >/dev/null 2>&1 || packages+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || packages+=(etcd-client)
if [ "${#packages[@]}" -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_test_deps.sh: installing ${packages[*]} (apt-get)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
