#!/usr/bin/env bash
# Plugin benchmark: the cost of one hook call (fresh store + instantiate + call + drop) with
# the fixture plugin, against instantiate-and-drop alone in the same run. Release builds.
#
# Usage: scripts/bench-plugins.sh [ITERATIONS]   (default 20000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml -p fixture
cargo build --release --example plugin_call
./target/release/examples/plugin_call plugins/target/wasm32-wasip2/release/fixture.wasm "${1:-20000}"
