# Sourced by scripts/start and scripts/test: install what veille needs, idempotently.
# Usage: bootstrap <extras> <debian packages…>
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VEILLE_VENV:-$ROOT/.venv}"

_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "veille: need root (or sudo) to install Debian packages: $*" >&2; return 1; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "veille: installing Debian packages: ${missing[*]}"
    _sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

find_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null &&
       "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

bootstrap() {
  local extras="$1"; shift
  local base=(ca-certificates gcc libc6-dev libsqlite3-dev)
  if ! find_python >/dev/null; then base+=(python3 python3-venv python3-dev); fi
  command -v dpkg-query >/dev/null && apt_install "${base[@]}" "$@"
  local py; py="$(find_python)" || { echo "veille: Python 3.11 or newer with venv is required" >&2; exit 1; }
  # Python headers are needed to build the compiled helpers (text folding, text check).
  if ! "$py" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))'; then
    apt_install python3-dev
  fi
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  # Reinstall only when the project's declared dependencies or compiled sources change.
  local stamp="$VENV/.veille-installed-$extras"
  local digest; digest="$( { cat "$ROOT/pyproject.toml" "$ROOT"/setup.py "$ROOT"/src/veille/*/*.c 2>/dev/null || true; } | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
    echo "$digest" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}
