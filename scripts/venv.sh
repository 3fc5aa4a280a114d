# Sourced by scripts/demo and scripts/test: make sure .venv exists with Kassa installed.
# Usage: ensure_venv [EXTRAS]   e.g. ensure_venv test
ensure_venv() {
    local extras=${1:-}
    local UV
    if command -v uv >/dev/null 2>&1; then
        UV=(uv)
    else
        if ! python3 -m pip --version >/dev/null 2>&1; then
            # A fresh Debian has python3 without pip.
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip
        fi
        # Debian's python3 is "externally managed" (PEP 668); uv is a standalone tool.
        PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --root-user-action=ignore uv
        if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi
    fi
    if [[ ! -x .venv/bin/python ]]; then
        # --python: use this machine's interpreter; uv must not download one.
        "${UV[@]}" venv --quiet --python "$(python_for_venv)" .venv
    fi
    "${UV[@]}" pip install --quiet -p .venv -e ".${extras:+[$extras]}"
    # Bytecode compiled once, here (1.4 s when it is up to date): every process that starts
    # (a `kassa` command, each billing worker, the tests' subprocesses) reads it rather than
    # compiling some 460 modules from source, 1.1 s a start on this machine. Python writes
    # it on its own only where PYTHONDONTWRITEBYTECODE is unset, and uv does not write it.
    .venv/bin/python -m compileall -q -j 0 .venv/lib/python3*/site-packages src >/dev/null || true
}

# The interpreter for .venv: the system's python3 if it is 3.11 or newer, else the first
# python3 on PATH. Debian builds its python3 with profile-guided and link-time optimization;
# a plain build from source (pyenv's default) bills 14% slower (bench/README.md).
python_for_venv() {
    local candidate
    for candidate in /usr/bin/python3 "$(command -v python3)"; do
        if [[ -x $candidate ]] && "$candidate" -c \
                'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    command -v python3
}
