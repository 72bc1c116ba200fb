#!/bin/sh
# Renders the Alertmanager configuration from its template and the environment, then (when a
# command follows `--`) executes it. Alertmanager itself reads no environment variables in its
# configuration (an upstream decision), and its image is busybox: POSIX sh and awk only.
#
#   render-config.sh TEMPLATE OUTPUT [-- COMMAND ARGS...]
#
# Template syntax, one directive per line:
#   ${NAME}            the value of NAME; only inside single-quoted YAML scalars ('...'), where
#                      the value's own single quotes are doubled, so any value stays one string
#                      (comment lines are copied as they are)
#   #@if NAME [NAME]   keep the lines up to the next `#@end` only when every NAME is non-empty
#   #@end
# A receiver whose name ends in `-critical` and that is left without any integration is reported
# on stderr; with ALERTMANAGER_REQUIRE_CRITICAL_RECEIVERS=true it stops the start instead.
set -eu

if [ "$#" -lt 2 ]; then
  echo "usage: render-config.sh TEMPLATE OUTPUT [-- COMMAND ARGS...]" >&2
  exit 2
fi
template=$1
output=$2
shift 2

awk '
  BEGIN { quote = sprintf("%c", 39) }
  function fail(message) {
    # Through a command: opening /dev/stderr is not portable (busybox, or stderr a socket).
    printf "render-config: %s:%d: %s\n", FILENAME, FNR, message | "cat 1>&2"
    close("cat 1>&2")
    failed = 1
    exit 1
  }
  function quoted(value) {
    gsub(quote, quote quote, value)
    return value
  }
  /^[ \t]*#@if[ \t]/ {
    if (in_block) fail("nested #@if")
    in_block = 1
    keep = 1
    count = split($0, words, /[ \t]+/)
    for (i = 1; i <= count; i++) {
      if (words[i] == "" || words[i] == "#@if") continue
      if (ENVIRON[words[i]] == "") keep = 0
    }
    next
  }
  /^[ \t]*#@end[ \t]*$/ {
    if (!in_block) fail("#@end without #@if")
    in_block = 0
    next
  }
  in_block && !keep { next }
  /^[ \t]*#/ { print; next }
  {
    line = $0
    rendered = ""
    quotes = 0
    while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*\}/)) {
      name = substr(line, RSTART + 2, RLENGTH - 3)
      before = substr(line, 1, RSTART - 1)
      quotes += gsub(quote, quote, before)
      if (quotes % 2 != 1) fail("${" name "} outside a single-quoted scalar")
      if (index(ENVIRON[name], "\n") > 0) fail(name " contains a line break")
      rendered = rendered before quoted(ENVIRON[name])
      line = substr(line, RSTART + RLENGTH)
    }
    print rendered line
  }
  END {
    if (!failed && in_block) fail("#@if without #@end")
  }
' "$template" > "$output.tmp"
mv "$output.tmp" "$output"

# Critical receivers with no integration: alerts would reach Alertmanager and go nowhere.
unrouted=$(awk '
  BEGIN { quote = sprintf("%c", 39) }
  function report() { if (name ~ /-critical$/ && !integrations) print name }
  /^receivers:/ { in_receivers = 1; next }
  /^[^ \t#]/ { if (in_receivers && name != "") report(); in_receivers = 0; name = "" }
  in_receivers && /^  - name:/ {
    if (name != "") report()
    name = $0
    sub(/^  - name:[ \t]*/, "", name)
    gsub(/["]/, "", name)
    gsub(quote, "", name)
    integrations = 0
    next
  }
  in_receivers && /^    [a-z_]+_configs:/ { integrations = 1 }
  END { if (in_receivers && name != "") report() }
' "$output")
if [ -n "$unrouted" ]; then
  for receiver in $unrouted; do
    echo "render-config: receiver $receiver has no webhook, Slack or e-mail target: critical alerts routed to it are not delivered (see observability/.env.example)" >&2
  done
  if [ "${ALERTMANAGER_REQUIRE_CRITICAL_RECEIVERS:-false}" = "true" ]; then
    echo "render-config: ALERTMANAGER_REQUIRE_CRITICAL_RECEIVERS=true: refusing to start" >&2
    exit 1
  fi
fi

if [ "$#" -gt 0 ]; then
  if [ "$1" != "--" ]; then
    echo "render-config: expected -- before the command" >&2
    exit 2
  fi
  shift
  exec "$@"
fi
