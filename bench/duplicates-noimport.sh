#!/bin/sh
# Counts duplicated code the way issue 11 measures it, without Go import
# blocks: the `duplicates` tool says it passes over import lines, but it does
# not recognise the lines of a grouped Go `import ( … )` block, so two files
# importing the same six standard packages count as a pair. This copies the
# tracked tree to a temporary folder, replaces each file's first import block
# with `import ()`, and runs the same command on the copy.
#   usage: bench/duplicates-noimport.sh [most]   (rows to list, default 200)
# First line: the pair count.
set -eu
cd "$(dirname "$0")/.."
most=${1:-200}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$d" -xf -
python3 - "$d" <<'PY'
import os, re, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith('.go'):
            p = os.path.join(root, f)
            s = open(p).read()
            open(p, 'w').write(re.sub(r'\nimport \((.*?)\n\)', '\nimport ()', s, count=1, flags=re.S))
PY
duplicates --repo "$d" --most "$most" --seconds 200
