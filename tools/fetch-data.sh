#!/usr/bin/env bash
# Fetch the training data used by `deltagen train` into data/ (or $1), offline-friendly:
#   data/uea/{BasicMotions,GunPoint,JapaneseVowels}/*.ts   from the aeon wheel (PyPI)
#   data/digits/digits.csv.gz                              from the scikit-learn wheel (PyPI)
# Idempotent: files already present are kept; only missing ones are fetched.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/data}"
AEON_VERSION="1.6.0"
SKLEARN_VERSION="1.6.1"
DATASETS=(BasicMotions GunPoint JapaneseVowels)

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "fetch-data: python3 is needed (pip download, zip extraction)" >&2; exit 1; }

need_uea=0
for d in "${DATASETS[@]}"; do
  [[ -f "$dest/uea/$d/${d}_TRAIN.ts" && -f "$dest/uea/$d/${d}_TEST.ts" ]] || need_uea=1
done
need_digits=0
[[ -f "$dest/digits/digits.csv.gz" ]] || need_digits=1
if [[ $need_uea == 0 && $need_digits == 0 ]]; then
  echo "fetch-data: $dest already complete"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Extract members under a prefix of a wheel (a zip) into a directory, dropping the prefix.
extract() { # wheel prefix outdir
  "$python" - "$1" "$2" "$3" <<'PY'
import os, sys, zipfile
wheel, prefix, out = sys.argv[1:]
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            rel = name[len(prefix):]
            path = os.path.join(out, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with z.open(name) as src, open(path, "wb") as dst:
                dst.write(src.read())
            n += 1
if n == 0:
    sys.exit(f"{wheel}: nothing under {prefix}")
print(f"  {n} files from {os.path.basename(wheel)}:{prefix}")
PY
}

if [[ $need_uea == 1 ]]; then
  echo "fetch-data: aeon==$AEON_VERSION wheel (UEA/UCR datasets)"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: "aeon==$AEON_VERSION" -d "$tmp/aeon"
  wheel="$(ls "$tmp"/aeon/*.whl)"
  for d in "${DATASETS[@]}"; do
    extract "$wheel" "aeon/datasets/data/$d/" "$dest/uea/$d"
  done
fi

if [[ $need_digits == 1 ]]; then
  echo "fetch-data: scikit-learn==$SKLEARN_VERSION wheel (8x8 digits)"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: "scikit-learn==$SKLEARN_VERSION" -d "$tmp/sk"
  wheel="$(ls "$tmp"/sk/*.whl)"
  mkdir -p "$dest/digits"
  "$python" - "$wheel" "$dest/digits/digits.csv.gz" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    data = z.read("sklearn/datasets/data/digits.csv.gz")
with open(out + ".part", "wb") as f:
    f.write(data)
os.replace(out + ".part", out)
print(f"  {out} ({len(data)} bytes)")
PY
fi
echo "fetch-data: done ($dest)"
