#!/usr/bin/env bash
# Installs Debian's Chromium when it is missing; the console's browser tests
# (model/console) drive it headless. Called by up.sh's tools step. Runs
# apt-get update only when the package is not installed yet; needs root (or
# sudo without a password), as CI has.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

command -v chromium >/dev/null && exit 0
command -v apt-get >/dev/null || die "chromium is missing and this is not a Debian-like system: install Chromium so that 'chromium' is on PATH (the console's browser tests need it)"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "chromium is missing; install it as root: apt-get install chromium"
  sudo=(sudo -n)
fi
log "installing Debian's chromium with apt-get (first run only)"
"${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2 \
  || die "apt-get install chromium failed"
command -v chromium >/dev/null || die "apt-get installed chromium but 'chromium' is not on PATH"
