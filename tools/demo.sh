#!/usr/bin/env bash
# The main job, as in the README: set-up, then the whole flow for BasicMotions on the iCE40 UP5K
# accelerator (data, training, integer export, golden model, Verilog, Verilator co-simulation,
# synthesis, report in build/basicmotions-ice40/report.md and report.html).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cargo run --release -- flow --preset basicmotions-ice40 "$@"
