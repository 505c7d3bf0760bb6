#!/usr/bin/env bash
# Creates (or updates) the Python environment the tests use as an independent
# reference: pyarrow writes Parquet fixtures, scikit-learn computes reference
# metrics and models, grpcio is a second-language client, nbclient runs the
# notebooks. Prints the interpreter's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

venv=$LAKESTREAM_CACHE/venv
req=$here/requirements.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
# A venv without pip is a half-made one (python3-venv was missing): redo it.
if [ ! -x "$venv/bin/python" ] || [ ! -x "$venv/bin/pip" ]; then
  command -v python3 >/dev/null || die "python3 is needed for the reference tests"
  log "creating Python environment in $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || { rm -rf "$venv"; die "python3 -m venv failed (apt-get install python3-venv)"; }
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages from deploy/local/requirements.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2 || die "pip install -r $req failed"
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
