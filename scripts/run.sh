#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs berth's dependencies, builds and installs berth, writes a default
# configuration (and a default bridge CNI network when none exists), and starts
# berthd on /run/berth/berth.sock.
#   scripts/run.sh          build, install, (re)start berthd
#   scripts/run.sh --stop   stop a berthd started by this script
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

conf=/etc/berth/berth.json
pidfile=/run/berth/berthd.pid
logfile=/var/log/berthd.log
sock=/run/berth/berth.sock

stop_berthd() {
	if systemctl is-active --quiet berthd 2>/dev/null; then
		systemctl stop berthd
	elif [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		pid=$(cat "$pidfile")
		kill -TERM "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$pidfile"
}

if [ "${1:-}" = "--stop" ]; then
	stop_berthd
	exit 0
fi

bash scripts/deps.sh

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBERTH_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)"
cmake --install build-release >/dev/null

install -d -m 0755 /etc/berth /etc/cni/net.d /var/lib/berth /run/berth
if [ ! -e "$conf" ]; then
	install -m 0644 scripts/berth.json "$conf"
	echo "wrote default $conf"
fi
if [ -z "$(ls -A /etc/cni/net.d 2>/dev/null)" ]; then
	install -m 0644 scripts/10-berth.conflist /etc/cni/net.d/10-berth.conflist
	echo "wrote default CNI network /etc/cni/net.d/10-berth.conflist (bridge berth0, 10.88.0.0/16)"
fi

stop_berthd
if [ -d /run/systemd/system ]; then
	install -m 0644 scripts/berthd.service /etc/systemd/system/berthd.service
	systemctl daemon-reload
	systemctl enable --now berthd
else
	# No systemd: start berthd in its own session, detached from this shell.
	setsid /usr/local/bin/berthd --config "$conf" </dev/null >>"$logfile" 2>&1 &
	echo $! >"$pidfile"
fi

for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.1
done
if [ ! -S "$sock" ]; then
	echo "berthd did not come up; see $logfile or 'journalctl -u berthd'" >&2
	exit 1
fi
echo "berthd is serving CRI on unix://$sock (log: $logfile, stop: scripts/run.sh --stop)"
