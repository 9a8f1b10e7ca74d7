#!/usr/bin/python3
"""Splits a system-wide perf profile by the benchmark's own processes.

    perf_split.py PERF_DATA NAME=PID,PID,... [NAME=PID,...]...

The machine may run other work at the same time, so only samples of the
listed pids count. Prints, for each group, its share of the benchmark's
samples, then its top shared objects and symbols (percent of the group).
"""

import collections
import re
import subprocess
import sys

LINE = re.compile(r"^\s*(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def short_dso(path):
    name = path.rsplit("/", 1)[-1]
    return re.sub(r"\.so[.\d]*$", ".so", name)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    groups = {}
    order = []
    for arg in sys.argv[2:]:
        name, pids = arg.split("=", 1)
        order.append(name)
        for p in pids.split(","):
            if p.strip():
                groups[int(p)] = name
    out = subprocess.run(
        ["perf", "script", "-i", sys.argv[1], "-F", "pid,ip,sym,dso"],
        capture_output=True, text=True, errors="replace", check=True).stdout
    total = collections.Counter()
    dsos = collections.defaultdict(collections.Counter)
    syms = collections.defaultdict(collections.Counter)
    others = 0
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        g = groups.get(int(m.group(1)))
        if g is None:
            others += 1
            continue
        dso = short_dso(m.group(3))
        sym = m.group(2) if m.group(2) != "[unknown]" else "?"
        total[g] += 1
        dsos[g][dso] += 1
        syms[g]["%s  %s" % (sym, dso)] += 1
    n = sum(total.values())
    print("samples: %d of this benchmark, %d of other processes on the "
          "machine (left out)" % (n, others))
    for g in order:
        if not total[g]:
            continue
        print("\n== %s: %.1f%% of the benchmark's CPU samples" %
              (g, 100.0 * total[g] / n))
        print("  by shared object:")
        for d, c in dsos[g].most_common(12):
            print("    %5.1f%%  %s" % (100.0 * c / total[g], d))
        print("  by symbol:")
        for s, c in syms[g].most_common(25):
            print("    %5.1f%%  %s" % (100.0 * c / total[g], s))


if __name__ == "__main__":
    main()
