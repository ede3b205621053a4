#!/usr/bin/env bash
# Installs the Kafka-compatible broker the Kafka stream tests run against (tansu, a pure-Rust
# broker from crates.io) into a cache folder, only when it is not there yet, so a machine whose
# home persists builds it once. Tests find it through STOCKROOM_TEST_TANSU (default below).
#
# Why these flags:
# - `dynostore` is the smallest feature set that has the `memory://` storage engine (the
#   default features only pull in the broker's crates; `memory://` is behind dynostore).
# - `--debug` with no debug info: no optimiser passes to wait for (589 s measured on the
#   2-core CI machine, against about 12 minutes reported for the release install), and the
#   tests push only a few thousand small records through the broker.
# - `--locked`: tansu's own Cargo.lock, so a new release of one of its dependencies cannot
#   break CI.
set -euo pipefail
cache="${STOCKROOM_CACHE:-$HOME/.cache/stockroom}"
version="0.6.0"
root="$cache/tansu-$version"
bin="$root/bin/tansu"
if [ -x "$bin" ]; then
  echo "kafka-broker: $bin is installed"
  exit 0
fi
echo "kafka-broker: installing tansu $version into $root (once per machine)"
start=$(date +%s)
# A temporary build folder of its own (not the project's CARGO_TARGET_DIR), removed after.
env -u CARGO_TARGET_DIR CARGO_PROFILE_DEV_DEBUG=0 cargo install tansu --version "=$version" --features dynostore \
  --locked --debug --root "$root" --quiet
echo "kafka-broker: tansu installed in $(( $(date +%s) - start ))s: $bin"
