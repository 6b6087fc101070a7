#!/usr/bin/env bash
# A stand-alone reproducer written by hotunplug-ci: boots the kernel, initramfs, command line and
# devices the case ran with under plain QEMU, runs guest.sh inside (the case's steps: devices made,
# fds held by a live process, the removal, the probes), and answers its QMP requests.
#   ./run.sh                                   the kernel the case ran on (kernels/<image>/ of the run)
#   KERNEL=.../bzImage INITRD=.../initrd.gz ./run.sh   others (the initramfs must carry their modules)
#   QEMU=qemu-system-x86_64 TIMEOUT=600 CONSOLE=console.log ./run.sh
# Needs bash, coreutils (timeout, mktemp, truncate), grep and QEMU.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=$(cat "$here/image")
KERNEL=${KERNEL:-$here/../../../kernels/$image/bzImage}
INITRD=${INITRD:-$here/../../../kernels/$image/initrd.gz}
QEMU=${QEMU:-qemu-system-x86_64}
TIMEOUT=${TIMEOUT:-600}
for f in "$KERNEL" "$INITRD"; do [ -f "$f" ] || { echo "run.sh: $f: no such file (set KERNEL/INITRD)" >&2; exit 2; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/huci-repro.XXXXXX")
CONSOLE=${CONSOLE:-$work/console.log}
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
  for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# guest.sh rides on the image's initramfs as a second archive, which the kernel unpacks over it
cat "$INITRD" "$here/overlay.cpio.gz" >"$work/initrd.gz"
if [ -f "$here/drives" ]; then
  while read -r file mib; do truncate -s "${mib}M" "$work/$file"; done <"$here/drives"
fi
mkfifo "$work/qmp.in" "$work/qmp.out" "$work/ctl.in" "$work/ctl.out"
args=()
while IFS= read -r a; do
  a=${a//@KERNEL@/$KERNEL}
  a=${a//@INITRD@/$work/initrd.gz}
  a=${a//@WORK@/$work}
  args+=("$a")
done <"$here/qemu-args"

echo "run.sh: $QEMU ${args[*]}" >&2
# timeout(1) ends QEMU after $TIMEOUT s, and passes on the TERM that cleanup sends it
timeout "$TIMEOUT" "$QEMU" "${args[@]}" </dev/null > >(tee "$CONSOLE") 2>&1 &
qemu_pid=$!

# QEMU holds every fifo open read-write, so these opens do not wait
exec 5>"$work/qmp.in" 6<"$work/ctl.out" 7>"$work/ctl.in"
cat "$work/qmp.out" >>"$work/qmp.log" &
qmp_lines() { wc -l <"$work/qmp.log"; }

# qmp JSON: one command, its return (or error) line
qmp() {
  local before line n=0
  before=$(qmp_lines)
  printf '%s\n' "$1" >&5
  while [ $n -lt 1000 ]; do
    line=$(tail -n +"$((before + 1))" "$work/qmp.log" | grep -m 1 -E '"(return|error)"' || true)
    if [ -n "$line" ]; then printf '%s' "$line"; return; fi
    n=$((n + 1))
    sleep 0.02
  done
  printf '{"error": "no answer within 20 s"}'
}
qmp '{"execute":"qmp_capabilities"}' >/dev/null

declare -A armed_at armed_event armed_match
# an event armed at line N: seen since then, with every "key":value of the match in it
event_seen() {
  local slot=$1 m
  local seen
  seen=$(tail -n +"$((armed_at[$slot] + 1))" "$work/qmp.log" | tr -d ' ' | grep -F "\"event\":\"${armed_event[$slot]}\"" || true)
  for m in ${armed_match[$slot]}; do seen=$(printf '%s\n' "$seen" | grep -F -- "$m" || true); done
  [ -n "$seen" ]
}

# the guest's requests, one line each, one line back
while IFS= read -r line <&6; do
  read -r op rest <<<"$line"
  case "$op" in
    qmp) answer=$(qmp "${rest//@WORK@/$work}") ;;
    arm)
      read -r slot event match <<<"$rest"
      armed_at[$slot]=$(qmp_lines)
      armed_event[$slot]=$event
      armed_match[$slot]=$match
      answer=armed
      ;;
    gone)
      # the device has left QEMU (its qom path is gone), as the case saw it before going on
      read -r id secs <<<"$rest"
      answer=present
      for _ in $(seq 1 $((secs * 20))); do
        if ! qmp '{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}' | tr -d ' ' | grep -qF "\"name\":\"$id\""; then
          answer=gone
          break
        fi
        sleep 0.05
      done
      ;;
    wait)
      read -r slot secs <<<"$rest"
      answer=timeout
      for _ in $(seq 1 $((secs * 20))); do
        if event_seen "$slot"; then answer=arrived; break; fi
        sleep 0.05
      done
      ;;
    *) answer="unknown request: $op" ;;
  esac
  printf '%s\n' "$answer" >&7
done

status=0
wait "$qemu_pid" || status=$?
qemu_pid=
[ "$status" -eq 124 ] && echo "run.sh: no end after $TIMEOUT s; QEMU stopped" >&2
echo >&2
report=$(grep -m 1 -E 'BUG:|WARNING:|Oops|general protection fault|Kernel panic|INFO: task .* blocked|INFO: rcu_' "$CONSOLE" || true)
echo "run.sh: ${report:-no kernel report on the console}" >&2
