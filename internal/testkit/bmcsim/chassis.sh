#!/bin/sh
# ipmi_sim's chassis control for the tests: "DIR get PARAM..." prints
# PARAM:VALUE for each, "DIR set PARAM VALUE..." stores them. DIR keeps
# one file per parameter, and "calls" logs every call.
dir=$1
shift
echo "$*" >>"$dir/calls"
op=$1
shift
case $op in
get)
  for p in "$@"; do
    v=$(cat "$dir/$p" 2>/dev/null || echo 0)
    echo "$p:$v"
  done
  ;;
set)
  while [ $# -ge 2 ]; do
    echo "$2" >"$dir/$1"
    shift 2
  done
  ;;
esac
