/* SPDX-License-Identifier: Apache-2.0 */
/* sysctl.h - which namespace a sysctl belongs to, after kubelet's list of namespaced
 * sysctls (net.*, the SysV IPC and POSIX mqueue ones); the one table that berth-pinns,
 * the OCI spec builder and the RunPodSandbox checks share.
 * Threads: pure, thread-safe. Errors: none. */
#ifndef BERTH_COMMON_SYSCTL_H
#define BERTH_COMMON_SYSCTL_H

enum sysctl_ns {
	SYSCTL_NS_NONE, /* not namespaced: setting it would change the host */
	SYSCTL_NS_NET,
	SYSCTL_NS_IPC,
	SYSCTL_NS_MAX
};

/* The namespace of key, written with '.' or '/' as separator ("net.ipv4.ip_forward",
 * "net/ipv4/ip_forward"). */
enum sysctl_ns sysctl_ns_of(const char *key);

#endif
