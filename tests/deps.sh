#!/bin/sh
# deps.sh PKG... — install the Debian packages that are missing (as root),
# or name them and fail (as another user). Used by `make deps`.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
        echo "deps: apt-get install$missing failed" >&2; exit 1; }
    exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: run as root: apt-get install$missing   (or 'sudo make deps')" >&2
exit 1
