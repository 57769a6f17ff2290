#!/bin/sh
# A tour of `sandbox exec` on the embedded default root (the host's /, layered).
sb=${1:-sandbox}
show() { printf '\n$ %s\n' "$*"; "$@"; printf '[exit status %s]\n' "$?"; }

show "$sb" exec -- sh -c 'echo "my pid: $$"; echo "hostname: $(hostname)"; echo "interfaces: $(ls /sys/class/net)"; ps -e -o pid,comm'
show "$sb" exec -- sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; env'
show "$sb" exec -- sh -c 'echo scribble > /etc/sandbox-demo && rm -rf /usr/share/doc && echo "wrote /etc/sandbox-demo, removed /usr/share/doc"'
printf '\nOn the host afterwards: '; ls /etc/sandbox-demo 2>/dev/null || echo "no /etc/sandbox-demo, and /usr/share/doc has $(ls /usr/share/doc | wc -l) entries"
show "$sb" exec -- sh -c 'exit 3'
show "$sb" exec -- sh -c 'kill -9 $$'
show "$sb" exec -- no-such-command
show "$sb" exec --root /no/such/dir -- true
