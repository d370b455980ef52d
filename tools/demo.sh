#!/usr/bin/env bash
# The main job as it stands: a random quantized model with temporally-correlated inputs through
# the golden model and cycle model, for both accelerator presets. Output in build/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cargo build --release
bin=target/release/deltagen
$bin model random --layers 96,64,32,4 --sequences 8 --frames 200 --seed 7 --out build/demo/model --force
for cfg in ice40-up5k-8pe ecp5-16pe; do
  $bin golden --model build/demo/model --inputs build/demo/model/inputs.npz --config "$cfg" \
    --out "build/demo/golden-$cfg" --force
done
echo "reports: build/demo/golden-*/golden.md"
