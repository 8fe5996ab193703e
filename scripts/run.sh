#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up berth on this machine from the source tree: installs the Debian packages it
# needs (only those missing), builds berth, installs it under /usr/local, writes a
# default configuration (and a default bridge CNI network when none exists), and starts
# berthd on /run/berth/berth.sock (a systemd service where systemd runs).
#   scripts/run.sh              set up and (re)start berthd
#   scripts/run.sh --stop       stop a berthd started by this script
#   scripts/run.sh --uninstall  stop it and remove what this script installed (the
#                               configuration and /var/lib/berth are kept)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

prefix=/usr/local
build="build-release"
conf=/etc/berth/berth.json
cni_dir=/etc/cni/net.d
cni_conf=$cni_dir/10-berth.conflist
unit=/etc/systemd/system/berthd.service
pidfile=/run/berth/berthd.pid
logfile=/var/log/berthd.log
sock=/run/berth/berth.sock

step() { echo "==> $*"; }
die() {
	echo "run.sh: $*" >&2
	exit 1
}
has_systemd() { [ -d /run/systemd/system ]; }

stop_berthd() {
	if has_systemd && systemctl is-active --quiet berthd 2>/dev/null; then
		step "stopping berthd (systemctl stop berthd; containers keep running)"
		systemctl stop berthd
	elif [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		pid=$(cat "$pidfile")
		step "stopping berthd (pid $pid; containers keep running)"
		kill -TERM "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && die "berthd (pid $pid) did not stop within 5 s"
	fi
	rm -f "$pidfile"
}

uninstall() {
	[ "$(id -u)" -eq 0 ] || die "--uninstall needs root"
	stop_berthd
	if [ -e "$unit" ]; then
		step "removing the systemd unit $unit"
		if has_systemd; then
			systemctl disable berthd >/dev/null 2>&1 || true
		fi
		rm -f "$unit"
		if has_systemd; then
			systemctl daemon-reload
		fi
	fi
	manifest=$build/install_manifest.txt
	if [ -s "$manifest" ]; then
		step "removing the files 'cmake --install' put under $prefix ($manifest)"
		xargs -d '\n' rm -f <"$manifest"
	else
		step "removing berth's files under $prefix"
		rm -f "$prefix/bin/berthd" "$prefix/share/man/man8/berthd.8.gz" \
			"$prefix/share/man/man5/berth.json.5.gz"
		rm -rf "$prefix/libexec/berth" "$prefix/share/doc/berth" "$prefix/share/berth"
	fi
	rmdir "$prefix/libexec/berth" "$prefix/share/doc/berth" "$prefix/share/berth" \
		2>/dev/null || true
	if [ -e "$cni_conf" ] && cmp -s "$cni_conf" scripts/10-berth.conflist; then
		step "removing the default CNI network $cni_conf"
		rm -f "$cni_conf"
	elif [ -e "$cni_conf" ]; then
		echo "    keeping $cni_conf: it differs from the default this script writes"
	fi
	n=0
	# this berth's shims: their command line names a bundle under /run/berth
	for c in /proc/[0-9]*; do
		[ "$(cat "$c/comm" 2>/dev/null)" = berth-shim ] || continue
		tr '\0' ' ' <"$c/cmdline" 2>/dev/null | grep -q ' /run/berth/' && n=$((n + 1))
	done
	if [ "$n" -gt 0 ]; then
		echo "    $n container(s) are still running in their shims; start berth again to" \
			"manage them, or stop them first (crictl stop)"
	fi
	echo "berth is uninstalled. Kept: $conf, /etc/berth/berth.d, /var/lib/berth (images,"
	echo "records) and $logfile; remove them by hand if you want them gone."
}

case "${1:-}" in
--stop)
	stop_berthd
	exit 0
	;;
--uninstall)
	uninstall
	exit 0
	;;
"") ;;
*)
	sed -n '7,10p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac

[ "$(id -u)" -eq 0 ] || die "run as root: berthd runs containers and manages namespaces"
[ -r /etc/debian_version ] || echo "run.sh: warning: this is not Debian; the package names" \
	"in scripts/deps.sh are Debian 12's" >&2

step "checking the Debian packages berth needs (scripts/deps.sh)"
bash scripts/deps.sh || die "dependencies are missing (see above); nothing was changed"
runc --version >/dev/null 2>&1 || die "runc is not in PATH or does not run ('runc --version'" \
	"failed) after installing the 'runc' package; install it (apt install runc) or put the" \
	"OCI runtime's path in $conf (runtimes.runc.path)"
ls /usr/lib/cni/bridge >/dev/null 2>&1 || [ -x /opt/cni/bin/bridge ] ||
	die "no CNI bridge plugin in /usr/lib/cni or /opt/cni/bin: apt install containernetworking-plugins"

step "building berth (release) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBERTH_TESTS=OFF \
	-DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null || die "cmake could not configure the build"
cmake --build "$build" -j"$(nproc)" >/dev/null || die "the build failed; run" \
	"'cmake --build $build' to see the compiler's messages"
step "installing under $prefix (berthd in $prefix/bin, helpers in $prefix/libexec/berth)"
cmake --install "$build" >/dev/null || die "cmake --install failed"

install -d -m 0755 /etc/berth /etc/berth/berth.d "$cni_dir" /run/berth
install -d -m 0711 /var/lib/berth
if [ ! -e "$conf" ]; then
	step "writing the default configuration $conf (every key: docs/config.md)"
	install -m 0644 scripts/berth.json "$conf"
else
	step "keeping the existing $conf"
fi
"$prefix/bin/berthd" --print-config >/dev/null 2>"$build/print-config.err" || {
	cat "$build/print-config.err" >&2
	die "berthd can't use the configuration in /etc/berth (above)"
}
if ! ls "$cni_dir"/*.conflist "$cni_dir"/*.conf "$cni_dir"/*.json >/dev/null 2>&1; then
	step "writing the default CNI network $cni_conf (bridge berth0, 10.88.0.0/16)"
	install -m 0644 scripts/10-berth.conflist "$cni_conf"
fi

stop_berthd
if has_systemd; then
	step "starting berthd as the systemd service berthd ($unit)"
	install -m 0644 "$build/packaging/berthd.service" "$unit"
	systemctl daemon-reload
	systemctl enable --now berthd >/dev/null 2>&1 ||
		die "systemctl could not start berthd; see 'journalctl -u berthd -b'"
	where="journalctl -u berthd"
else
	step "starting berthd without systemd, detached, logging to $logfile"
	setsid "$prefix/bin/berthd" --config "$conf" </dev/null >>"$logfile" 2>&1 &
	echo $! >"$pidfile"
	where=$logfile
fi

for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.1
done
if [ ! -S "$sock" ]; then
	die "berthd did not come up within 10 s; its log: $where"
fi
echo "berthd is serving CRI on unix://$sock (log: $where; stop: scripts/run.sh --stop)"
