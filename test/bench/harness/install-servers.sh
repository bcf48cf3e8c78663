#!/usr/bin/env bash
# Provides the peer FTP servers for `make bench` from Debian packages: vsftpd, pure-ftpd and proftpd, plus curl.
#
# Debian's three server packages conflict with one another (each Provides/Conflicts ftp-server), so they cannot
# be installed side by side with dpkg. We install their shared-library dependencies with apt-get as usual, then
# fetch the three .debs with `apt-get download` and unpack them (dpkg-deb -x) into DEST. Their maintainer scripts
# never run, so no service is enabled or started: the benchmark starts each server itself, in the foreground,
# on loopback, and stops it by PID. Prints DEST.
set -euo pipefail

DEST="${1:-$(cd "$(dirname "$0")/../../.." && pwd)/bin/bench-peers}"
debs=(vsftpd pure-ftpd proftpd-core)
libs=(curl libcap2 libpam0g libpam-modules libssl3 libwrap0 libcrypt1 libsodium23 libhiredis0.14 libmemcached11
	libmemcachedutil2 libpcre2-8-0 libpcre2-posix3 libacl1 libidn2-0 zlib1g libncursesw6 libtinfo6)

missing=()
for p in "${libs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: apt-get install ${missing[*]}" >&2
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

mkdir -p "$DEST/debs"
for p in "${debs[@]}"; do
	ver="$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')"
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		apt-get update -q >/dev/null
		ver="$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')"
	fi
	stamp="$DEST/$p.version"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then
		continue
	fi
	echo "bench: apt-get download $p=$ver, unpacking into $DEST/root" >&2
	rm -f "$DEST/debs/${p}_"*.deb
	(cd "$DEST/debs" && apt-get download -q "$p=$ver" >/dev/null 2>&1)
	dpkg-deb -x "$DEST/debs/${p}_"*.deb "$DEST/root"
	echo "$ver" >"$stamp"
done
for b in usr/sbin/vsftpd usr/sbin/pure-ftpd usr/sbin/proftpd; do
	"$DEST/root/$b" -v >/dev/null 2>&1 </dev/null || test -x "$DEST/root/$b" || { echo "bench: $b missing" >&2; exit 1; }
done
echo "$DEST"
