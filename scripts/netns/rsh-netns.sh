#!/usr/bin/env bash
# An rsh/ssh stand-in for mpirun (--mca plm_rsh_agent .../rsh-netns.sh) that "logs in" to a network
# namespace made by up.sh instead of a remote machine.
# usage: rsh-netns.sh [ssh-style options] HOST COMMAND...
#   HOST is a namespace address ($NETNS_NET.K -> namespace ${NETNS_PREFIX}(K-1)) or a namespace name.
# Like ssh, the COMMAND words are joined with spaces and run by a shell (mpirun relies on this: it
# sends "VAR=...; export VAR; orted ..."). The shell also gets its own UTS namespace whose hostname is
# the namespace name, so every "host" reports a distinct hostname as real hosts do, and a fresh
# environment as an ssh login has.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"

# mpirun passes agent options only for ssh/rsh themselves; skip any ssh-style flags all the same.
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
[ $# -ge 2 ] || { echo "usage: rsh-netns.sh HOST COMMAND..." >&2; exit 2; }
host="$1"; shift

ns=""
if [[ "$host" =~ ^${NETNS_NET//./\\.}\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 253 ]; then
    ns="$(netns_name $((BASH_REMATCH[1] - 1)))"
elif [[ "$host" =~ ^${NETNS_PREFIX}[0-9]+$ ]]; then
    ns="$host"
fi
if [ -z "$ns" ] || [ ! -e "/run/netns/$ns" ]; then
    echo "rsh-netns.sh: host '$host' is not a namespace of this cluster (expected $NETNS_NET.K or ${NETNS_PREFIX}N, see up.sh)" >&2
    exit 255   # ssh's status for "could not connect"
fi
# Variables reach the ranks only through mpirun's -x, so launch.sh's exports are tested here as
# they would be between real hosts.
exec env -i HOME="${HOME:-/root}" USER="$(id -un)" LOGNAME="$(id -un)" SHELL=/bin/sh \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$ns" "$*"
