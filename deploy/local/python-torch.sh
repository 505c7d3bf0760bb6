#!/usr/bin/env bash
# Creates (or updates) the Python environment of the PyTorch benchmark
# (bench/train/deepfm_torch.py): its own venv, because PyPI's torch wheel for
# Linux x86_64 pulls the CUDA runtime (several GB) that no test needs. Only
# `go test ./bench/train -run TestDeepVersusPyTorch` uses it; `make test` does
# not. Prints the interpreter's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

venv=$LAKESTREAM_CACHE/venv-torch
req=$here/requirements-torch.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ ! -x "$venv/bin/pip" ]; then
  command -v python3 >/dev/null || die "python3 is needed for the PyTorch benchmark"
  log "creating Python environment in $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || { rm -rf "$venv"; die "python3 -m venv failed (apt-get install python3-venv)"; }
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages from deploy/local/requirements-torch.txt (torch from pypi.org: about 4 GB with its CUDA dependencies)"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2 || die "pip install -r $req failed"
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
