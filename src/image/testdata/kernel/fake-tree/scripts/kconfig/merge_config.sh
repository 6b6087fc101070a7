#!/bin/sh
# Stand-in for the kernel's merge_config.sh -m -O DIR BASE FRAGMENT...: later assignments win.
[ "$1" = -m ] && [ "$2" = -O ] || { echo "usage: -m -O dir base frags" >&2; exit 1; }
out=$3/.config; shift 3
cat "$@" | grep -E '^(CONFIG_|# CONFIG_)' | awk '{ k = ($1 == "#") ? $2 : substr($0, 1, index($0, "=") - 1); v[k] = $0; if (!(k in seen)) { seen[k] = 1; order[++n] = k } } END { for (i = 1; i <= n; i++) print v[order[i]] }' > "$out.new"
mv "$out.new" "$out"
