#!/bin/sh
# The chassis of a VM whose BMC is ipmi_sim (its chassis_control): power
# on starts DIR/start.sh (which execs QEMU) and records its PID in
# DIR/pid; power off stops it; power is on while that process lives.
# Other parameters (boot, identify, ...) are kept in a file each. Every
# call is logged, a line each, in DIR/calls.
#   DIR get PARAM...        prints PARAM:VALUE for each
#   DIR set PARAM VALUE...  sets them
dir=$1
shift
echo "$*" >>"$dir/calls"

running() {
  pid=$(cat "$dir/pid" 2>/dev/null) || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

stop() {
  running || return 0
  kill "$pid"
  i=0
  while running && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  running && kill -9 "$pid"
  rm -f "$dir/pid"
}

start() {
  running && return 0
  # QEMU must not hold ipmi_sim's pipe: it reads this script's output
  # to its end.
  "$dir/start.sh" </dev/null >>"$dir/qemu.err" 2>&1 &
  echo $! >"$dir/pid"
}

op=$1
shift
case $op in
get)
  for p in "$@"; do
    case $p in
    power) if running; then echo "power:1"; else echo "power:0"; fi ;;
    *) echo "$p:$(cat "$dir/$p" 2>/dev/null || echo 0)" ;;
    esac
  done
  ;;
set)
  while [ $# -ge 2 ]; do
    case $1 in
    power) if [ "$2" = 1 ]; then start; else stop; fi ;;
    reset) if [ "$2" = 1 ] && running; then stop; start; fi ;;
    *) echo "$2" >"$dir/$1" ;;
    esac
    shift 2
  done
  ;;
esac
