# Helpers for a reproducer's guest.sh (busybox sh, PID 1's child; stdout is the console).
# The agent (/usr/bin/huci-agent, our guest agent) reads requests from a fifo and appends its
# replies to a file; run.sh on the host answers "host" lines on the virtio-serial port whose
# name the kernel command line gives as huci.repro=.
REPRO_IN=/tmp/huci-repro.in
REPRO_REPLIES=/tmp/huci-repro.replies

say() { echo "huci-repro: $*"; }

repro_start() {
  mkfifo "$REPRO_IN"
  : >"$REPRO_REPLIES"
  /usr/bin/huci-agent <"$REPRO_IN" >>"$REPRO_REPLIES" 2>/tmp/huci-agent.log &
  exec 3>"$REPRO_IN"
  if [ -n "$1" ] && [ -c "$1" ]; then
    exec 4<>"$1"
  else
    say "no host port: host requests (QMP) are skipped"
  fi
  say "start"
}

# send ID JSON: hand the agent a request, do not wait
send() {
  say "> $2"
  echo "$2" >&3
}

# await ID SECONDS: wait for the agent's reply to request ID and show it
await() {
  n=0
  limit=$(($2 * 50))
  while ! grep -q "^{\"id\":$1," "$REPRO_REPLIES"; do
    n=$((n + 1))
    if [ "$n" -ge "$limit" ]; then
      say "< $1: no reply within $2 s"
      return 0
    fi
    usleep 20000
  done
  say "< $(grep "^{\"id\":$1," "$REPRO_REPLIES" | head -n 1)"
}

# req ID JSON SECONDS: send and await
req() {
  send "$1" "$2"
  await "$1" "$3"
}

# host WORDS…: one line to run.sh, one line back (qmp JSON | arm SLOT EVENT MATCH… | wait SLOT SECONDS | gone ID SECONDS)
host() {
  say "host> $*"
  if ! { true >&4; } 2>/dev/null; then
    say "host< (no host port)"
    return 0
  fi
  echo "$*" >&4
  read -r answer <&4
  say "host< $answer"
}

repro_end() {
  say "done"
  # late reports (RCU callbacks, workqueues) reach the console before the power goes
  sleep 2
}
