#!/usr/bin/env bash
# Run the real Milvus 2.3.5 standalone server (shipped in the `milvus` PyPI wheel) in the
# foreground until Ctrl+C (installs the wheel into the venv first if it is missing). Defaults: gRPC 19530, health/metrics 9091, a temporary data
# folder deleted at exit. Options (see tests/harness/milvus_server.py):
#   --port 19530  --health-port 9091  --data DIR (kept)  --graceful-stop-timeout 10
# Then: CLIPVEC_MILVUS_URI=http://127.0.0.1:19530 clipvec import images/
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="$(command -v python3)"
# shellcheck source=tools/server_wheels.sh
source "$root/tools/server_wheels.sh"
ensure_milvus_wheel milvus_server.sh  # `make run` does not install it (the test extra does)
exec "$py" "$root/tests/harness/milvus_server.py" "$@"
