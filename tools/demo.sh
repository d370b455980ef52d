#!/usr/bin/env bash
# The main job as it stands: train a delta-sparse network on BasicMotions, export the integer
# model, check that the golden model reproduces the exported traces bit for bit and that the
# generated RTL (Verilator, with random back-pressure) matches them too; then a
# random model through the golden and cycle models for both accelerator presets.
# Output in build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cargo build --release
bin=target/release/deltagen
$bin train --dataset basicmotions --method delta-lsq --out build/demo/basicmotions --force
$bin golden --model build/demo/basicmotions --inputs build/demo/basicmotions/inputs.npz \
  --config ice40-up5k-8pe --expect build/demo/basicmotions/traces.npz \
  --out build/demo/basicmotions/golden --force
$bin sim --config ice40-up5k-8pe --model build/demo/basicmotions \
  --inputs build/demo/basicmotions/inputs.npz --expect build/demo/basicmotions/traces.npz \
  --stall-prob 0.3 --out build/demo/basicmotions/sim --force
$bin model random --layers 96,64,32,4 --sequences 8 --frames 200 --seed 7 --out build/demo/random --force
for cfg in ice40-up5k-8pe ecp5-16pe; do
  $bin golden --model build/demo/random --inputs build/demo/random/inputs.npz --config "$cfg" \
    --out "build/demo/random/golden-$cfg" --force
done
echo "reports: build/demo/basicmotions/train.json, build/demo/*/golden*/golden.md, build/demo/basicmotions/sim/sim.md"
