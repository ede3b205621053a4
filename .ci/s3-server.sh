#!/usr/bin/env bash
# Installs what the warehouse-on-S3 tests (tests/it/s3.rs) need: a real S3-compatible server,
# moto's `moto_server` (they start it on 127.0.0.1 and stop it themselves), and the Python
# `deltalake` package to read a table back — both from PyPI into a virtualenv kept in
# ~/.cache, so a rerun reuses it (about 1m40s the first time).
set -euo pipefail
venv="${STOCKROOM_TEST_MOTO:-$HOME/.cache/stockroom/s3-venv}"
if "$venv/bin/python" -c 'import moto.server, deltalake' 2>/dev/null; then
  echo "s3-server: $venv is installed"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
start=$(date +%s)
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]==5.2.5' 'deltalake==1.6.6'
echo "s3-server: installed in $(( $(date +%s) - start ))s: $venv"
