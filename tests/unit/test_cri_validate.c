/* SPDX-License-Identifier: Apache-2.0 */
/* test_cri_validate.c - the request validation rules (cri/validate*.c): for
 * each rule family a value just inside and one just outside its limit, the
 * errno and the field named in the message; the host facts read from a fake
 * sysfs; the NUL scan of the wire form; the runtime and CNI error classes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "cri/cri-internal.h"
#include "cri/pod.h"
#include "cri/validate-internal.h"
#include "netns/netns.h"
#include "oci/oci.h"

/* A node with CPUs 0-3, memory node 0, 2 MiB and 1 GiB hugepages, cgroup v2. */
static struct cri_host_facts facts;

static int group_setup(void **state)
{
	memset(&facts, 0, sizeof(facts));
	facts.cpus[0] = 0xf;
	facts.mems[0] = 1;
	facts.cpus_known = facts.mems_known = facts.hugepages_known = true;
	facts.hugepage_sizes[0] = 2 << 20;
	facts.hugepage_sizes[1] = 1 << 30;
	facts.n_hugepage_sizes = 2;
	facts.cgroup_v2 = true;
	return 0;
}

/* r is what a check returned with e; want 0 or -errno with msg in the message. */
static void expect(int r, struct berr **e, int want, const char *msg, const char *what)
{
	if (want == 0 && r != 0)
		fail_msg("%s: refused: %s", what, berr_msg(*e));
	if (want != 0 && r != -want)
		fail_msg("%s: got %d (%s), want %d", what, r, berr_msg(*e), -want);
	if (want != 0 && msg && !strstr(berr_msg(*e), msg))
		fail_msg("%s: message '%s' lacks '%s'", what, berr_msg(*e), msg);
	*e = berr_free(*e);
}

/* ---- resources ---- */

struct res_case {
	size_t off; /* of an int64 field of LinuxContainerResources */
	int64_t v;
	int want;
	const char *msg;
};

#define RES(f) offsetof(Runtime__V1__LinuxContainerResources, f)

static void test_validate_resources_ranges(void **state)
{
	static const struct res_case t[] = {
	    {RES(cpu_shares), 0, 0, NULL},
	    {RES(cpu_shares), 2, 0, NULL},
	    {RES(cpu_shares), 1, EINVAL, "r.cpu_shares 1 out of range (2..262144)"},
	    {RES(cpu_shares), 262144, 0, NULL},
	    {RES(cpu_shares), 262145, EINVAL, "cpu_shares 262145"},
	    {RES(cpu_shares), -5, EINVAL, "cpu_shares -5"},
	    {RES(cpu_period), 1000, 0, NULL},
	    {RES(cpu_period), 999, EINVAL, "cpu_period 999 out of range (1000..1000000)"},
	    {RES(cpu_period), 1000000, 0, NULL},
	    {RES(cpu_period), 1000001, EINVAL, "cpu_period"},
	    {RES(cpu_quota), -1, 0, NULL},
	    {RES(cpu_quota), -2, EINVAL, "cpu_quota -2"},
	    {RES(cpu_quota), 1000, 0, NULL},
	    {RES(cpu_quota), 999, EINVAL, "cpu_quota 999"},
	    {RES(cpu_quota), 17592186044415LL, 0, NULL},
	    {RES(cpu_quota), 17592186044416LL, EINVAL, "cpu_quota"},
	    {RES(memory_limit_in_bytes), 6 << 20, 0, NULL},
	    {RES(memory_limit_in_bytes), (6 << 20) - 1, EINVAL,
	     "memory_limit_in_bytes 6291455 out of range (6291456.."},
	    {RES(memory_limit_in_bytes), -1, EINVAL, "memory_limit_in_bytes -1"},
	    {RES(memory_limit_in_bytes), INT64_MAX, 0, NULL},
	    {RES(oom_score_adj), -1000, 0, NULL},
	    {RES(oom_score_adj), -1001, EINVAL, "oom_score_adj -1001 out of range (-1000..1000)"},
	    {RES(oom_score_adj), 1000, 0, NULL},
	    {RES(oom_score_adj), 1001, EINVAL, "oom_score_adj 1001"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		Runtime__V1__LinuxContainerResources r =
		    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
		*(int64_t *)((char *)&r + t[i].off) = t[i].v;
		struct berr *e = NULL;
		char what[64];
		snprintf(what, sizeof(what), "case %zu", i);
		expect(cri_validate_resources(&facts, &r, "r", &e), &e, t[i].want, t[i].msg, what);
	}
}

static void test_validate_resources_swap(void **state)
{
	static const struct {
		int64_t mem, swap;
		unsigned mode;
		int want;
		const char *msg;
	} t[] = {
	    {64 << 20, 64 << 20, CRI_V_RES_LIMITS | CRI_V_RES_PAIRS, 0, NULL},
	    {64 << 20, (64 << 20) - 1, CRI_V_RES_LIMITS | CRI_V_RES_PAIRS, EINVAL,
	     "is below memory_limit_in_bytes"},
	    {64 << 20, -1, CRI_V_RES_LIMITS | CRI_V_RES_PAIRS, 0, NULL},
	    {64 << 20, -2, CRI_V_RES_LIMITS | CRI_V_RES_PAIRS, EINVAL,
	     "memory_swap_limit_in_bytes -2"},
	    {0, 64 << 20, CRI_V_RES_LIMITS | CRI_V_RES_PAIRS, EINVAL,
	     "set without memory_limit_in_bytes"},
	    /* an update may set swap alone: the pair is checked after the merge */
	    {0, 64 << 20, CRI_V_RES_LIMITS, 0, NULL},
	    /* a pod's amounts have no memory minimum */
	    {1 << 20, 0, 0, 0, NULL},
	    {1 << 20, 0, CRI_V_RES_LIMITS, EINVAL, "memory_limit_in_bytes 1048576"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		Runtime__V1__LinuxContainerResources r =
		    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
		r.memory_limit_in_bytes = t[i].mem;
		r.memory_swap_limit_in_bytes = t[i].swap;
		struct berr *e = NULL;
		char what[64];
		snprintf(what, sizeof(what), "swap case %zu", i);
		expect(cri_v_resources(&facts, &r, "r", t[i].mode, &e), &e, t[i].want, t[i].msg,
		       what);
	}
}

static void test_validate_cpuset(void **state)
{
	static const struct {
		const char *cpus, *mems;
		int want;
		const char *msg;
	} t[] = {
	    {"0-3", "0", 0, NULL},
	    {"0,2,3", NULL, 0, NULL},
	    {"3", NULL, 0, NULL},
	    {"4", NULL, ERANGE,
	     "r.cpuset_cpus '4': CPU 4 is not online on this node (online: 0-3)"},
	    {"0-4", NULL, ERANGE, "CPU 4"},
	    {"3-1", NULL, EINVAL, "goes down"},
	    {"0-", NULL, EINVAL, "is not a list like '0-3,8'"},
	    {"a", NULL, EINVAL, "is not a list"},
	    {"0,,1", NULL, EINVAL, "is not a list"},
	    {"0 1", NULL, EINVAL, "holds a space"},
	    {"8191", NULL, ERANGE, "CPU 8191"},
	    {"8192", NULL, EINVAL, "8192 is above 8191"},
	    {NULL, "1", ERANGE, "r.cpuset_mems '1': memory node 1 is not online"},
	    {NULL, "0-0", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		Runtime__V1__LinuxContainerResources r =
		    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
		r.cpuset_cpus = (char *)(t[i].cpus ? t[i].cpus : "");
		r.cpuset_mems = (char *)(t[i].mems ? t[i].mems : "");
		struct berr *e = NULL;
		char what[64];
		snprintf(what, sizeof(what), "cpuset case %zu", i);
		expect(cri_validate_resources(&facts, &r, "r", &e), &e, t[i].want, t[i].msg, what);
	}
	/* unknown facts: syntax only */
	Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	r.cpuset_cpus = "100";
	struct berr *e = NULL;
	expect(cri_validate_resources(NULL, &r, "r", &e), &e, 0, NULL, "no facts");
}

static void test_validate_hugepages(void **state)
{
	static const struct {
		const char *size1, *size2;
		uint64_t limit;
		int want;
		const char *msg;
	} t[] = {
	    {"2MB", NULL, 4 << 20, 0, NULL},
	    {"2MB", "1GB", 0, 0, NULL},
	    {"2MB", NULL, (4 << 20) + 1, EINVAL, "is not a multiple of the page size 2MB"},
	    {"64KB", NULL, 0, ERANGE, "'64KB': this node has no hugepages of that size"},
	    {"2mb", NULL, 0, EINVAL, "is not a size like '2MB' or '1GB'"},
	    {"", NULL, 0, EINVAL, "hugepage_limits[0].page_size"},
	    {"2MB", "2MB", 0, EINVAL, "hugepage_limits[1].page_size '2MB' is listed twice"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		Runtime__V1__HugepageLimit h[2] = {RUNTIME__V1__HUGEPAGE_LIMIT__INIT,
						   RUNTIME__V1__HUGEPAGE_LIMIT__INIT};
		Runtime__V1__HugepageLimit *hp[2] = {&h[0], &h[1]};
		h[0].page_size = (char *)t[i].size1;
		h[0].limit = t[i].limit;
		h[1].page_size = (char *)(t[i].size2 ? t[i].size2 : "");
		Runtime__V1__LinuxContainerResources r =
		    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
		r.hugepage_limits = hp;
		r.n_hugepage_limits = t[i].size2 ? 2 : 1;
		struct berr *e = NULL;
		char what[64];
		snprintf(what, sizeof(what), "hugepage case %zu", i);
		expect(cri_validate_resources(&facts, &r, "r", &e), &e, t[i].want, t[i].msg, what);
	}
}

static void test_validate_unified(void **state)
{
	static const struct {
		const char *k, *v;
		int want;
		const char *msg;
	} t[] = {
	    {"cpu.weight", "1", 0, NULL},
	    {"cpu.weight", "10000", 0, NULL},
	    {"cpu.weight", "0", EINVAL, "r.unified['cpu.weight'] '0' is not 1..10000"},
	    {"cpu.weight", "10001", EINVAL, "is not 1..10000"},
	    {"cpu.max", "max 100000", 0, NULL},
	    {"cpu.max", "1000 1000000", 0, NULL},
	    {"cpu.max", "999", EINVAL, "cpu.max"},
	    {"cpu.max", "1000 1000001", EINVAL, "cpu.max"},
	    {"pids.max", "max", 0, NULL},
	    {"pids.max", "4194304", 0, NULL},
	    {"pids.max", "4194305", EINVAL, "'max' or 0..4194304"},
	    {"pids.max", "-1", EINVAL, "pids.max"},
	    {"memory.high", "max", 0, NULL},
	    {"memory.high", "12k", EINVAL, "'max' or a number of bytes"},
	    {"io.weight", "default 100", 0, NULL},
	    {"io.weight", "1\n2", EINVAL, "control character"},
	    {"cgroup.procs", "1", EINVAL, "cgroup.* files are the runtime's"},
	    {"memory", "1", EINVAL, "not a cgroup file name"},
	    {"../x.y", "1", EINVAL, "not a cgroup file name"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		Runtime__V1__LinuxContainerResources__UnifiedEntry u =
		    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
		Runtime__V1__LinuxContainerResources__UnifiedEntry *up = &u;
		u.key = (char *)t[i].k;
		u.value = (char *)t[i].v;
		Runtime__V1__LinuxContainerResources r =
		    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
		r.unified = &up;
		r.n_unified = 1;
		struct berr *e = NULL;
		char what[64];
		snprintf(what, sizeof(what), "unified case %zu", i);
		expect(cri_validate_resources(&facts, &r, "r", &e), &e, t[i].want, t[i].msg, what);
	}
	/* on a cgroup v1 node none is taken */
	struct cri_host_facts v1 = facts;
	v1.cgroup_v2 = false;
	Runtime__V1__LinuxContainerResources__UnifiedEntry u =
	    RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
	Runtime__V1__LinuxContainerResources__UnifiedEntry *up = &u;
	u.key = "pids.max";
	u.value = "10";
	Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	r.unified = &up;
	r.n_unified = 1;
	struct berr *e = NULL;
	expect(cri_validate_resources(&v1, &r, "r", &e), &e, EOPNOTSUPP, "needs cgroup v2", "v1");
}

/* ---- pod config ---- */

struct pod {
	Runtime__V1__PodSandboxConfig c;
	Runtime__V1__PodSandboxMetadata md;
	Runtime__V1__LinuxPodSandboxConfig l;
	Runtime__V1__LinuxSandboxSecurityContext sc;
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__DNSConfig dns;
	Runtime__V1__PortMapping pm;
	Runtime__V1__PortMapping *pmp;
	Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry sy;
	Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *syp;
};

static void pod_init(struct pod *p)
{
	runtime__v1__pod_sandbox_config__init(&p->c);
	runtime__v1__pod_sandbox_metadata__init(&p->md);
	runtime__v1__linux_pod_sandbox_config__init(&p->l);
	runtime__v1__linux_sandbox_security_context__init(&p->sc);
	runtime__v1__namespace_option__init(&p->ns);
	runtime__v1__dnsconfig__init(&p->dns);
	runtime__v1__port_mapping__init(&p->pm);
	runtime__v1__linux_pod_sandbox_config__sysctls_entry__init(&p->sy);
	p->md.name = "web";
	p->md.namespace_ = "default";
	p->md.uid = "8e1c4a5e-uid";
	p->c.metadata = &p->md;
	p->c.linux = &p->l;
	p->l.security_context = &p->sc;
	p->sc.namespace_options = &p->ns;
	p->pmp = &p->pm;
	p->syp = &p->sy;
}

static int pod_check(struct pod *p, struct berr **e)
{
	return cri_validate_pod_config(&facts, &p->c, "config", e);
}

static void test_validate_pod_names_and_hostname(void **state)
{
	struct pod p;
	struct berr *e = NULL;
	char big[400];
	pod_init(&p);
	expect(pod_check(&p, &e), &e, 0, NULL, "base");
	memset(big, 'a', sizeof(big));
	big[253] = '\0';
	p.md.name = big; /* 253: fine as a name; the hostname is cut to 63 */
	expect(pod_check(&p, &e), &e, 0, NULL, "name 253");
	big[253] = 'a';
	big[254] = '\0';
	expect(pod_check(&p, &e), &e, E2BIG, "config.metadata.name too long (254 > 253 bytes)",
	       "name 254");
	pod_init(&p);
	p.md.namespace_ = "a;b";
	expect(pod_check(&p, &e), &e, EINVAL, "config.metadata.namespace 'a;b' holds ';'", "ns ;");
	p.md.namespace_ = "";
	expect(pod_check(&p, &e), &e, EINVAL, "config.metadata.namespace is empty", "ns empty");
	pod_init(&p);
	p.md.uid = "a b";
	expect(pod_check(&p, &e), &e, EINVAL, "config.metadata.uid 'a b' holds a space", "uid");
	pod_init(&p);
	memset(big, 'h', 64);
	big[64] = '\0';
	p.c.hostname = big;
	expect(pod_check(&p, &e), &e, 0, NULL, "hostname 64");
	big[64] = 'h';
	big[65] = '\0';
	expect(pod_check(&p, &e), &e, E2BIG, "config.hostname", "hostname 65");
	p.c.hostname = "web\n127.0.0.1 evil";
	expect(pod_check(&p, &e), &e, EINVAL, "config.hostname", "hostname newline");
	p.c.hostname = "-web";
	expect(pod_check(&p, &e), &e, EINVAL, "starts with '-'", "hostname -");
	p.c.hostname = "";
	p.md.name = "we:b";
	expect(pod_check(&p, &e), &e, EINVAL, "config.metadata.name (the hostname) 'we:b'",
	       "derived hostname");
	pod_init(&p);
	p.c.log_directory = "var/log/pods";
	expect(pod_check(&p, &e), &e, EINVAL,
	       "config.log_directory 'var/log/pods' is not an "
	       "absolute path",
	       "log dir");
}

static void test_validate_pod_dns(void **state)
{
	struct pod p;
	struct berr *e = NULL;
	char *servers[33], *one[1];
	for (int i = 0; i < 33; i++)
		servers[i] = "10.0.0.10";
	pod_init(&p);
	p.c.dns_config = &p.dns;
	p.dns.servers = servers;
	p.dns.n_servers = 32;
	expect(pod_check(&p, &e), &e, 0, NULL, "32 servers");
	p.dns.n_servers = 33;
	expect(pod_check(&p, &e), &e, E2BIG, "too many config.dns_config.servers (33 > 32)",
	       "33 servers");
	one[0] = "fd00::10";
	p.dns.servers = one;
	p.dns.n_servers = 1;
	expect(pod_check(&p, &e), &e, 0, NULL, "v6 server");
	one[0] = "dns.example";
	expect(pod_check(&p, &e), &e, EINVAL,
	       "servers[0]: dns server 'dns.example' is not an IP address", "name server");
	p.dns.n_servers = 0;
	one[0] = "svc.cluster.local\nnameserver 6.6.6.6";
	p.dns.searches = one;
	p.dns.n_searches = 1;
	expect(pod_check(&p, &e), &e, EINVAL, "config.dns_config.searches[0]", "search newline");
	char big[300];
	memset(big, 'd', sizeof(big));
	big[253] = '\0';
	one[0] = big;
	expect(pod_check(&p, &e), &e, 0, NULL, "search 253");
	big[253] = 'd';
	big[254] = '\0';
	expect(pod_check(&p, &e), &e, E2BIG, "searches[0] too long (254 > 253 bytes)",
	       "search 254");
	p.dns.n_searches = 0;
	one[0] = "ndots:5 x";
	p.dns.options = one;
	p.dns.n_options = 1;
	expect(pod_check(&p, &e), &e, EINVAL, "options[0] 'ndots:5 x' holds a space", "option");
}

static void test_validate_pod_ports(void **state)
{
	static const struct {
		int cport, hport;
		const char *ip;
		int want;
		const char *msg;
	} t[] = {
	    {80, 0, NULL, 0, NULL},
	    {65535, 65535, "127.0.0.1", 0, NULL},
	    {0, 8080, NULL, EINVAL, "port_mappings[0].container_port 0 out of range (1..65535)"},
	    {65536, 0, NULL, EINVAL, "container_port 65536"},
	    {80, -1, NULL, EINVAL, "host_port -1"},
	    {80, 65536, NULL, EINVAL, "host_port 65536"},
	    {80, 8080, "localhost", EINVAL, "host_ip 'localhost' is not an IP address"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pod p;
		pod_init(&p);
		p.pm.container_port = t[i].cport;
		p.pm.host_port = t[i].hport;
		p.pm.host_ip = (char *)(t[i].ip ? t[i].ip : "");
		p.c.port_mappings = &p.pmp;
		p.c.n_port_mappings = 1;
		struct berr *e = NULL;
		char what[64];
		snprintf(what, sizeof(what), "port case %zu", i);
		expect(pod_check(&p, &e), &e, t[i].want, t[i].msg, what);
	}
}

static void test_validate_pod_sysctls(void **state)
{
	static const struct {
		const char *k, *v;
		Runtime__V1__NamespaceMode net, ipc;
		int want;
		const char *msg;
	} t[] = {
	    {"net.ipv4.ip_forward", "1", 0, 0, 0, NULL},
	    {"net/ipv4/conf/eth0/forwarding", "1", 0, 0, 0, NULL},
	    {"kernel.shmmax", "65536", 0, 0, 0, NULL},
	    {"kernel.hostname", "x", 0, 0, EINVAL, "sysctl 'kernel.hostname' is not namespaced"},
	    {"net.ipv4..x", "1", 0, 0, EINVAL, "not a sysctl name"},
	    {"net/../../etc", "1", 0, 0, EINVAL, "not a sysctl name"},
	    {"net.ipv4.ip_forward", "1\n", 0, 0, EINVAL, "control character"},
	    {"net.ipv4.ip_forward", "1", RUNTIME__V1__NAMESPACE_MODE__NODE, 0, EINVAL,
	     "config.linux.sysctls 'net.ipv4.ip_forward' needs the pod's own network namespace, "
	     "but namespace_options.network is NODE"},
	    {"kernel.msgmax", "1", 0, RUNTIME__V1__NAMESPACE_MODE__NODE, EINVAL,
	     "namespace_options.ipc is NODE"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pod p;
		pod_init(&p);
		p.sy.key = (char *)t[i].k;
		p.sy.value = (char *)t[i].v;
		p.l.sysctls = &p.syp;
		p.l.n_sysctls = 1;
		p.ns.network = t[i].net;
		p.ns.ipc = t[i].ipc;
		struct berr *e = NULL;
		char what[64];
		snprintf(what, sizeof(what), "sysctl case %zu", i);
		expect(pod_check(&p, &e), &e, t[i].want, t[i].msg, what);
	}
	/* 256 sysctls, then 257 */
	struct pod p;
	pod_init(&p);
	Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *v[257];
	for (int i = 0; i < 257; i++)
		v[i] = &p.sy;
	p.sy.key = "net.core.somaxconn";
	p.sy.value = "1024";
	p.l.sysctls = v;
	p.l.n_sysctls = 256;
	struct berr *e = NULL;
	expect(pod_check(&p, &e), &e, 0, NULL, "256 sysctls");
	p.l.n_sysctls = 257;
	expect(pod_check(&p, &e), &e, E2BIG, "too many config.linux.sysctls (257 > 256)", "257");
}

static void test_validate_pod_security_and_cgroup(void **state)
{
	struct pod p;
	struct berr *e = NULL;
	Runtime__V1__Int64Value u = RUNTIME__V1__INT64_VALUE__INIT;
	pod_init(&p);
	p.sc.run_as_user = &u;
	u.value = 4294967294LL;
	expect(pod_check(&p, &e), &e, 0, NULL, "uid max");
	u.value = 4294967295LL;
	expect(pod_check(&p, &e), &e, EINVAL,
	       "config.linux.security_context.run_as_user 4294967295 out of range", "uid max+1");
	u.value = -1;
	expect(pod_check(&p, &e), &e, EINVAL, "run_as_user -1", "uid -1");
	pod_init(&p);
	p.ns.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
	expect(pod_check(&p, &e), &e, EINVAL, "mode TARGET is not valid for a sandbox", "target");
	pod_init(&p);
	Runtime__V1__SecurityProfile sp = RUNTIME__V1__SECURITY_PROFILE__INIT;
	p.sc.seccomp = &sp;
	sp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
	sp.localhost_ref = "/etc/seccomp/p.json";
	expect(pod_check(&p, &e), &e, 0, NULL, "localhost abs");
	sp.localhost_ref = "p.json";
	expect(pod_check(&p, &e), &e, EINVAL,
	       "seccomp localhost profile 'p.json' is not an absolute path", "localhost rel");
	sp.localhost_ref = "";
	expect(pod_check(&p, &e), &e, EINVAL, "seccomp is Localhost without a localhost_ref",
	       "localhost empty");
	sp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
	sp.localhost_ref = "/x";
	expect(pod_check(&p, &e), &e, EINVAL, "is set but the profile type is not Localhost",
	       "ref without localhost");
	pod_init(&p);
	p.l.cgroup_parent = "/kubepods/burstable";
	expect(pod_check(&p, &e), &e, 0, NULL, "cgroup abs");
	p.l.cgroup_parent = "/kubepods/../../x";
	expect(pod_check(&p, &e), &e, EINVAL, "has a '.' or '..' component", "cgroup ..");
	p.l.cgroup_parent = "kubepods";
	expect(pod_check(&p, &e), &e, EINVAL, "is not an absolute cgroup path", "cgroup rel");
	struct cri_host_facts sd = facts;
	sd.systemd_cgroup = true;
	p.l.cgroup_parent = "kubepods-burstable.slice";
	expect(cri_validate_pod_config(&sd, &p.c, "config", &e), &e, 0, NULL, "slice");
	p.l.cgroup_parent = "/kubepods";
	expect(cri_validate_pod_config(&sd, &p.c, "config", &e), &e, EINVAL,
	       "is not a systemd slice", "not a slice");
}

/* labels and annotations: entries, key length, total size */
static void test_validate_maps(void **state)
{
	struct pod p;
	struct berr *e = NULL;
	static Runtime__V1__PodSandboxConfig__LabelsEntry ent[4097];
	static Runtime__V1__PodSandboxConfig__LabelsEntry *v[4097];
	static char keys[4097][8];
	for (int i = 0; i < 4097; i++) {
		runtime__v1__pod_sandbox_config__labels_entry__init(&ent[i]);
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		ent[i].key = keys[i];
		ent[i].value = "v";
		v[i] = &ent[i];
	}
	pod_init(&p);
	p.c.labels = v;
	p.c.n_labels = 4096;
	expect(pod_check(&p, &e), &e, 0, NULL, "4096 labels");
	p.c.n_labels = 4097;
	expect(pod_check(&p, &e), &e, E2BIG, "too many config.labels (4097 > 4096)", "4097");
	char key[400];
	memset(key, 'k', sizeof(key));
	key[317] = '\0';
	ent[0].key = key;
	p.c.n_labels = 1;
	expect(pod_check(&p, &e), &e, 0, NULL, "key 317");
	key[317] = 'k';
	key[318] = '\0';
	expect(pod_check(&p, &e), &e, E2BIG, "too long (318 > 317 bytes)", "key 318");
	ent[0].key = "";
	expect(pod_check(&p, &e), &e, EINVAL, "config.labels has an empty key", "empty key");
	/* total: one value of 512 KiB less the key, then one byte more */
	_cleanup_free_ char *val = xmalloc(CRI_V_MAP_BYTES + 2);
	memset(val, 'v', CRI_V_MAP_BYTES + 1);
	val[CRI_V_MAP_BYTES - 1] = '\0';
	ent[0].key = "k";
	ent[0].value = val;
	p.c.annotations = (void *)v;
	p.c.n_annotations = 1;
	p.c.n_labels = 0;
	expect(pod_check(&p, &e), &e, 0, NULL, "512 KiB");
	val[CRI_V_MAP_BYTES - 1] = 'v';
	val[CRI_V_MAP_BYTES] = '\0';
	expect(pod_check(&p, &e), &e, E2BIG, "config.annotations too large (524289 > 524288",
	       "512 KiB + 1");
	ent[0].value = "v";
}

/* ---- container config ---- */

struct ctr {
	Runtime__V1__CreateContainerRequest req;
	Runtime__V1__ContainerConfig c;
	Runtime__V1__ContainerMetadata md;
	Runtime__V1__ImageSpec img;
	Runtime__V1__LinuxContainerConfig l;
	Runtime__V1__LinuxContainerSecurityContext sc;
	Runtime__V1__Mount m;
	Runtime__V1__Mount *mp;
	Runtime__V1__Device d;
	Runtime__V1__Device *dp;
};

static void ctr_init(struct ctr *c)
{
	runtime__v1__create_container_request__init(&c->req);
	runtime__v1__container_config__init(&c->c);
	runtime__v1__container_metadata__init(&c->md);
	runtime__v1__image_spec__init(&c->img);
	runtime__v1__linux_container_config__init(&c->l);
	runtime__v1__linux_container_security_context__init(&c->sc);
	runtime__v1__mount__init(&c->m);
	runtime__v1__device__init(&c->d);
	c->req.pod_sandbox_id = "0123456789abcdef";
	c->req.config = &c->c;
	c->md.name = "app";
	c->c.metadata = &c->md;
	c->img.image = "busybox:latest";
	c->c.image = &c->img;
	c->c.linux = &c->l;
	c->l.security_context = &c->sc;
	c->mp = &c->m;
	c->dp = &c->d;
}

static int ctr_check(struct ctr *c, struct berr **e)
{
	return cri_validate(&facts, &c->req.base, e);
}

static void test_validate_ctr_process(void **state)
{
	struct ctr c;
	struct berr *e = NULL;
	ctr_init(&c);
	expect(ctr_check(&c, &e), &e, 0, NULL, "base");
	_cleanup_free_ char *arg = xmalloc(CRI_V_ARG_MAX + 2);
	memset(arg, 'a', CRI_V_ARG_MAX + 1);
	arg[CRI_V_ARG_MAX] = '\0';
	char *argv[] = {arg};
	c.c.args = argv;
	c.c.n_args = 1;
	expect(ctr_check(&c, &e), &e, 0, NULL, "arg 131071");
	arg[CRI_V_ARG_MAX] = 'a';
	arg[CRI_V_ARG_MAX + 1] = '\0';
	expect(ctr_check(&c, &e), &e, E2BIG, "config.args[0] too long (131072 > 131071 bytes)",
	       "arg 131072");
	/* together: 12 args of 128 KiB are over 1.5 MiB */
	arg[CRI_V_ARG_MAX - 1] = '\0';
	char *many[13];
	for (int i = 0; i < 13; i++)
		many[i] = arg;
	c.c.args = many;
	c.c.n_args = 11;
	expect(ctr_check(&c, &e), &e, 0, NULL, "11 args");
	c.c.n_args = 12;
	expect(ctr_check(&c, &e), &e, E2BIG, "command, args and envs too large", "12 args");
	c.c.n_args = 0;
	Runtime__V1__KeyValue kv = RUNTIME__V1__KEY_VALUE__INIT;
	Runtime__V1__KeyValue *kvp = &kv;
	kv.key = "A=B";
	c.c.envs = &kvp;
	c.c.n_envs = 1;
	expect(ctr_check(&c, &e), &e, EINVAL, "config.envs[0].key 'A=B' is not an environment",
	       "env =");
	kv.key = "A";
	kv.value.data = (uint8_t *)"x\0y";
	kv.value.len = 3;
	expect(ctr_check(&c, &e), &e, EINVAL, "config.envs[0].value of 'A' holds a NUL byte",
	       "env nul");
	kv.value.len = 1;
	expect(ctr_check(&c, &e), &e, 0, NULL, "env ok");
	c.c.n_envs = 0;
	c.c.working_dir = "srv";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.working_dir 'srv' is not an absolute path",
	       "cwd");
	c.c.working_dir = "";
	c.c.log_path = "app/../../../etc/x.log";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.log_path", "log ..");
	c.c.log_path = "app/0.log";
	expect(ctr_check(&c, &e), &e, 0, NULL, "log ok");
	c.md.name = "";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.metadata.name is empty", "no name");
	c.md.name = "app";
	c.img.image = "";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.image names no image", "no image");
	c.img.image = "busy box";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.image.image 'busy box' holds a space",
	       "image space");
}

static void test_validate_ctr_mounts_devices(void **state)
{
	struct ctr c;
	struct berr *e = NULL;
	ctr_init(&c);
	c.m.container_path = "/data";
	c.m.host_path = "/srv/data";
	c.c.mounts = &c.mp;
	c.c.n_mounts = 1;
	expect(ctr_check(&c, &e), &e, 0, NULL, "mount");
	c.m.container_path = "data";
	expect(ctr_check(&c, &e), &e, EINVAL,
	       "config.mounts[0].container_path 'data' is not an "
	       "absolute path",
	       "mount rel");
	c.m.container_path = "/data";
	c.m.host_path = "";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.mounts[0].host_path is empty", "no host");
	c.m.host_path = "/srv/data";
	c.m.propagation = 7;
	expect(ctr_check(&c, &e), &e, EINVAL,
	       "config.mounts[0].propagation 7 is not a MountPropagation (PROPAGATION_PRIVATE",
	       "propagation");
	c.m.propagation = 0;
	/* recursive read-only: read-only, private, and a kernel with mount_setattr */
	c.m.recursive_read_only = true;
	expect(ctr_check(&c, &e), &e, EINVAL,
	       "config.mounts[0].recursive_read_only needs readonly: mount '/data' is read-write",
	       "rro rw");
	c.m.readonly = true;
	c.m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
	expect(ctr_check(&c, &e), &e, EINVAL,
	       "config.mounts[0].recursive_read_only needs propagation PROPAGATION_PRIVATE: "
	       "mount '/data' has PROPAGATION_HOST_TO_CONTAINER",
	       "rro slave");
	c.m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
	expect(ctr_check(&c, &e), &e, EINVAL, "has PROPAGATION_BIDIRECTIONAL", "rro shared");
	c.m.propagation = 0;
	expect(ctr_check(&c, &e), &e, 0, NULL, "rro ok, kernel not probed");
	facts.kernel_known = true;
	facts.rro_mounts = true;
	expect(ctr_check(&c, &e), &e, 0, NULL, "rro ok");
	facts.rro_mounts = false;
	expect(ctr_check(&c, &e), &e, EOPNOTSUPP,
	       "config.mounts[0].recursive_read_only: this kernel has no mount_setattr(2)",
	       "rro without mount_setattr");
	facts.kernel_known = false;
	c.m.recursive_read_only = false;
	c.m.readonly = false;
	Runtime__V1__Mount *v[1025];
	for (int i = 0; i < 1025; i++)
		v[i] = &c.m;
	c.c.mounts = v;
	c.c.n_mounts = 1024;
	expect(ctr_check(&c, &e), &e, 0, NULL, "1024 mounts");
	c.c.n_mounts = 1025;
	expect(ctr_check(&c, &e), &e, E2BIG, "too many config.mounts (1025 > 1024)", "1025");
	c.c.n_mounts = 0;
	c.d.container_path = "/dev/fuse";
	c.d.host_path = "/dev/fuse";
	c.d.permissions = "rwm";
	c.c.devices = &c.dp;
	c.c.n_devices = 1;
	expect(ctr_check(&c, &e), &e, 0, NULL, "device");
	c.d.permissions = "rwx";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.devices[0].permissions 'rwx' is not a set",
	       "perm x");
	c.d.permissions = "rr";
	expect(ctr_check(&c, &e), &e, EINVAL, "permissions 'rr'", "perm rr");
	c.d.permissions = "";
	c.d.host_path = "dev/fuse";
	expect(ctr_check(&c, &e), &e, EINVAL, "config.devices[0].host_path 'dev/fuse'", "dev rel");
	c.c.n_devices = 0;
	Runtime__V1__CDIDevice cdi = RUNTIME__V1__CDIDEVICE__INIT;
	Runtime__V1__CDIDevice *cdip = &cdi;
	cdi.name = "vendor.com/gpu=0";
	c.c.cdi_devices = &cdip;
	c.c.n_cdi_devices = 1;
	expect(ctr_check(&c, &e), &e, EOPNOTSUPP, "CDI devices are not supported", "cdi");
}

static void test_validate_ctr_security(void **state)
{
	struct ctr c;
	struct berr *e = NULL;
	ctr_init(&c);
	Runtime__V1__Capability cap = RUNTIME__V1__CAPABILITY__INIT;
	char *add[] = {"NET_ADMIN", "cap_sys_time", "ALL"};
	c.sc.capabilities = &cap;
	cap.add_capabilities = add;
	cap.n_add_capabilities = 3;
	expect(ctr_check(&c, &e), &e, 0, NULL, "caps");
	char *bad[] = {"CAP_FLY"};
	cap.drop_capabilities = bad;
	cap.n_drop_capabilities = 1;
	expect(ctr_check(&c, &e), &e, EINVAL,
	       "config.linux.security_context.capabilities.drop_capabilities[0] 'CAP_FLY' is not a "
	       "capability",
	       "unknown cap");
	cap.n_drop_capabilities = 0;
	char *amb[] = {"ALL"};
	cap.add_ambient_capabilities = amb;
	cap.n_add_ambient_capabilities = 1;
	expect(ctr_check(&c, &e), &e, EINVAL, "add_ambient_capabilities[0] 'ALL'", "ambient all");
	cap.n_add_ambient_capabilities = 0;
	Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	c.sc.namespace_options = &ns;
	ns.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
	expect(ctr_check(&c, &e), &e, EINVAL, "pid mode TARGET without a target_id", "target");
	ns.target_id = "abc";
	expect(ctr_check(&c, &e), &e, 0, NULL, "target ok");
	ns.network = RUNTIME__V1__NAMESPACE_MODE__TARGET;
	expect(ctr_check(&c, &e), &e, EINVAL, "mode TARGET is only valid for pid", "net target");
	ns.network = 4;
	expect(ctr_check(&c, &e), &e, EINVAL,
	       "config.linux.security_context.namespace_options.network 4 is not a NamespaceMode",
	       "net 4");
	ns.network = 0;
	char *paths[] = {"proc/kcore"};
	c.sc.masked_paths = paths;
	c.sc.n_masked_paths = 1;
	expect(ctr_check(&c, &e), &e, EINVAL, "masked_paths[0] 'proc/kcore' is not an absolute",
	       "masked");
	c.sc.n_masked_paths = 0;
	int64_t groups[] = {0, 4294967295LL};
	c.sc.supplemental_groups = groups;
	c.sc.n_supplemental_groups = 2;
	expect(ctr_check(&c, &e), &e, EINVAL, "supplemental_groups[1] 4294967295 out of range",
	       "groups");
	c.sc.n_supplemental_groups = 1;
	expect(ctr_check(&c, &e), &e, 0, NULL, "groups ok");
	Runtime__V1__SecurityProfile ap = RUNTIME__V1__SECURITY_PROFILE__INIT;
	c.sc.apparmor = &ap;
	ap.profile_type = 3;
	expect(ctr_check(&c, &e), &e, EINVAL, "apparmor.profile_type 3 is not a ProfileType",
	       "apparmor type");
	ap.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
	expect(ctr_check(&c, &e), &e, 0, NULL, "apparmor ok");
	c.c.stop_signal = 66;
	expect(ctr_check(&c, &e), &e, EINVAL, "config.stop_signal 66 is not a Signal", "signal");
	c.c.stop_signal = RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAX;
	expect(ctr_check(&c, &e), &e, 0, NULL, "signal ok");
}

/* ---- the other requests ---- */

/* namespace_options.userns_options of a pod (and, the same rules, of a container) */
static void test_validate_pod_userns(void **state)
{
	struct pod p;
	struct berr *e = NULL;
	pod_init(&p);
	Runtime__V1__UserNamespace u = RUNTIME__V1__USER_NAMESPACE__INIT;
	Runtime__V1__IDMapping um = RUNTIME__V1__IDMAPPING__INIT, gm = RUNTIME__V1__IDMAPPING__INIT;
	Runtime__V1__IDMapping *ums[2] = {&um, &gm}, *gms[1] = {&gm};
	p.ns.userns_options = &u;
	u.mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
	expect(pod_check(&p, &e), &e, 0, NULL, "node");
	um = (Runtime__V1__IDMapping){.base = um.base, .host_id = 65536, .length = 65536};
	gm = (Runtime__V1__IDMapping){.base = gm.base, .host_id = 65536, .length = 65536};
	u.uids = ums;
	u.n_uids = 1;
	expect(pod_check(&p, &e), &e, EINVAL,
	       "config.linux.security_context.namespace_options.userns_options: mode NODE takes "
	       "no mappings (1 uids, 0 gids given)",
	       "node with mappings");
	u.mode = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	expect(pod_check(&p, &e), &e, EINVAL,
	       "userns_options.mode CONTAINER is not supported: a user namespace is the node's",
	       "container");
	u.mode = RUNTIME__V1__NAMESPACE_MODE__TARGET;
	expect(pod_check(&p, &e), &e, EINVAL, "userns_options.mode TARGET is not supported",
	       "target");
	u.mode = RUNTIME__V1__NAMESPACE_MODE__POD;
	expect(pod_check(&p, &e), &e, EINVAL,
	       "mode POD needs exactly one uids and one gids mapping (1 uids, 0 gids given)",
	       "no gids");
	u.gids = gms;
	u.n_gids = 1;
	expect(pod_check(&p, &e), &e, 0, NULL, "pod");
	u.n_uids = 2;
	expect(pod_check(&p, &e), &e, EINVAL, "(2 uids, 1 gids given)", "two uid mappings");
	u.n_uids = 1;
	um.container_id = 1;
	expect(pod_check(&p, &e), &e, EINVAL,
	       "userns_options.uids[0].container_id 1: the mapping must start at container ID 0",
	       "no root");
	um.container_id = 0;
	gm.length = 0;
	expect(pod_check(&p, &e), &e, EINVAL, "userns_options.gids[0].length is 0", "empty");
	gm.length = 65536;
	um.host_id = 4294967295u - 65536; /* the last id is 4294967294: (uid_t)-1 is none */
	expect(pod_check(&p, &e), &e, 0, NULL, "up to the last id");
	um.host_id++;
	expect(pod_check(&p, &e), &e, EINVAL,
	       "userns_options.uids[0]: host_id 4294901760 + length 65536 overflows the ID range",
	       "overflow");
	um.host_id = 65536;
	p.ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	expect(pod_check(&p, &e), &e, EINVAL,
	       "mode POD with network NODE: the node's network namespace is not owned by the "
	       "pod's user namespace",
	       "host network");
	p.ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
	p.ns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
	expect(pod_check(&p, &e), &e, EINVAL, "mode POD with ipc NODE", "host ipc");
	p.ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	/* a node whose probe found no idmapped mounts */
	struct cri_host_facts no = facts;
	no.kernel_known = true;
	expect(cri_validate_pod_config(&no, &p.c, "config", &e), &e, EOPNOTSUPP,
	       "user namespaces are not supported on this node", "unsupported");
	no.user_namespaces = true;
	expect(cri_validate_pod_config(&no, &p.c, "config", &e), &e, 0, NULL, "supported");
	/* the container's copy, as kubelet sends it, passes the same checks */
	struct ctr c;
	ctr_init(&c);
	c.sc.namespace_options = &p.ns;
	p.ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	expect(ctr_check(&c, &e), &e, 0, NULL, "container pod");
	um.container_id = 5;
	expect(ctr_check(&c, &e), &e, EINVAL,
	       "config.linux.security_context.namespace_options.userns_options.uids[0]."
	       "container_id 5",
	       "container no root");
}

static void test_validate_exec_and_streams(void **state)
{
	struct berr *e = NULL;
	Runtime__V1__ExecSyncRequest x = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	char *cmd[] = {"sh", "-c", "true"};
	x.container_id = "abc";
	x.cmd = cmd;
	x.n_cmd = 3;
	x.timeout = CRI_V_EXEC_TIMEOUT;
	expect(cri_validate(&facts, &x.base, &e), &e, 0, NULL, "exec sync");
	x.timeout = CRI_V_EXEC_TIMEOUT + 1;
	expect(cri_validate(&facts, &x.base, &e), &e, EINVAL, "timeout 2147484 out of range",
	       "timeout");
	x.timeout = -1;
	expect(cri_validate(&facts, &x.base, &e), &e, EINVAL, "timeout -1", "timeout -1");
	x.timeout = 0;
	x.n_cmd = 0;
	expect(cri_validate(&facts, &x.base, &e), &e, EINVAL, "empty command", "no cmd");
	char **many = xcalloc(CRI_V_EXEC_CMD + 1, sizeof(char *));
	for (int i = 0; i <= CRI_V_EXEC_CMD; i++)
		many[i] = "x";
	x.cmd = many;
	x.n_cmd = CRI_V_EXEC_CMD;
	expect(cri_validate(&facts, &x.base, &e), &e, 0, NULL, "4096 args");
	x.n_cmd = CRI_V_EXEC_CMD + 1;
	expect(cri_validate(&facts, &x.base, &e), &e, E2BIG, "too many cmd (4097 > 4096)", "4097");
	free(many);
	Runtime__V1__ExecRequest ex = RUNTIME__V1__EXEC_REQUEST__INIT;
	ex.container_id = "abc";
	ex.cmd = cmd;
	ex.n_cmd = 1;
	expect(cri_validate(&facts, &ex.base, &e), &e, EINVAL, "one of stdin, stdout, or stderr",
	       "no stdio");
	ex.tty = ex.stderr = true;
	expect(cri_validate(&facts, &ex.base, &e), &e, EINVAL, "tty and stderr", "tty stderr");
	Runtime__V1__PortForwardRequest pf = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
	int32_t ports[] = {1, 65535, 65536};
	pf.pod_sandbox_id = "abc";
	pf.port = ports;
	pf.n_port = 2;
	expect(cri_validate(&facts, &pf.base, &e), &e, 0, NULL, "ports");
	pf.n_port = 3;
	expect(cri_validate(&facts, &pf.base, &e), &e, EINVAL, "port[2]: invalid port 65536",
	       "port 65536");
	Runtime__V1__StopContainerRequest st = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	st.container_id = "abc";
	st.timeout = -1;
	expect(cri_validate(&facts, &st.base, &e), &e, EINVAL, "timeout -1 out of range", "stop");
	st.timeout = CRI_V_STOP_TIMEOUT;
	expect(cri_validate(&facts, &st.base, &e), &e, 0, NULL, "stop max");
	st.timeout = (int64_t)CRI_V_STOP_TIMEOUT + 1;
	expect(cri_validate(&facts, &st.base, &e), &e, EINVAL, "timeout 2147483648", "stop max+1");
}

static void test_validate_images_filters_config(void **state)
{
	struct berr *e = NULL;
	Runtime__V1__PullImageRequest p = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageSpec s = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__AuthConfig a = RUNTIME__V1__AUTH_CONFIG__INIT;
	expect(cri_validate(&facts, &p.base, &e), &e, EINVAL, "image names no image", "no image");
	p.image = &s;
	s.image = "registry.local/app:1";
	p.auth = &a;
	a.auth = "dXNlcjpwYXNz";
	expect(cri_validate(&facts, &p.base, &e), &e, 0, NULL, "pull");
	a.auth = "dXNlcjpwYXN";
	expect(cri_validate(&facts, &p.base, &e), &e, EINVAL, "auth.auth is not base64", "b64");
	a.auth = "";
	a.password = "pa\r\nX-Injected: 1";
	expect(cri_validate(&facts, &p.base, &e), &e, EINVAL, "auth.password holds a control",
	       "header injection");
	a.password = "";
	_cleanup_free_ char *img = xmalloc(CRI_V_IMAGE_LEN + 2);
	memset(img, 'i', CRI_V_IMAGE_LEN + 1);
	img[CRI_V_IMAGE_LEN] = '\0';
	s.image = img;
	expect(cri_validate(&facts, &p.base, &e), &e, 0, NULL, "image 4096");
	img[CRI_V_IMAGE_LEN] = 'i';
	img[CRI_V_IMAGE_LEN + 1] = '\0';
	expect(cri_validate(&facts, &p.base, &e), &e, E2BIG, "image.image too long (4097 > 4096",
	       "image 4097");

	Runtime__V1__ListContainersRequest lc = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ContainerStateValue sv = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	lc.filter = &cf;
	cf.state = &sv;
	sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
	expect(cri_validate(&facts, &lc.base, &e), &e, 0, NULL, "state ok");
	sv.state = 4;
	expect(cri_validate(&facts, &lc.base, &e), &e, EINVAL,
	       "filter.state.state 4 is not a ContainerState", "state 4");
	sv.state = 0;
	char id[CRI_V_ID_MAX + 2];
	memset(id, 'a', sizeof(id));
	id[CRI_V_ID_MAX + 1] = '\0';
	cf.id = id;
	expect(cri_validate(&facts, &lc.base, &e), &e, E2BIG, "filter.id too long (257 > 256",
	       "id 257");

	Runtime__V1__UpdateRuntimeConfigRequest u =
	    RUNTIME__V1__UPDATE_RUNTIME_CONFIG_REQUEST__INIT;
	Runtime__V1__RuntimeConfig rc = RUNTIME__V1__RUNTIME_CONFIG__INIT;
	Runtime__V1__NetworkConfig nc = RUNTIME__V1__NETWORK_CONFIG__INIT;
	u.runtime_config = &rc;
	rc.network_config = &nc;
	nc.pod_cidr = "10.244.0.0/24, fd00::/64";
	expect(cri_validate(&facts, &u.base, &e), &e, EINVAL,
	       "pod_cidr '10.244.0.0/24, fd00::/64' "
	       "holds a space",
	       "cidr space");

	Runtime__V1__UpdateContainerResourcesRequest up =
	    RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
	Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	up.container_id = "abc";
	up.linux = &r;
	r.memory_swap_limit_in_bytes = 64 << 20; /* alone: fine, merged later */
	expect(cri_validate(&facts, &up.base, &e), &e, 0, NULL, "update swap");
	r.cpu_shares = 1;
	expect(cri_validate(&facts, &up.base, &e), &e, EINVAL, "linux.cpu_shares 1",
	       "update shares");
}

/* ---- wire form, facts, classes ---- */

static void test_validate_wire_nul(void **state)
{
	Runtime__V1__RunPodSandboxRequest in = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__PodSandboxConfig c = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	in.config = &c;
	c.metadata = &md;
	md.name = "webXetc";
	c.hostname = "h";
	size_t len = protobuf_c_message_get_packed_size(&in.base);
	_cleanup_free_ uint8_t *buf = xmalloc(len);
	protobuf_c_message_pack(&in.base, buf);
	struct berr *e = NULL;
	expect(cri_validate_wire(in.base.descriptor, buf, len, &e), &e, 0, NULL, "clean");
	uint8_t *x = memchr(buf, 'X', len);
	assert_non_null(x);
	*x = '\0';
	expect(cri_validate_wire(in.base.descriptor, buf, len, &e), &e, EINVAL,
	       "config.metadata.name holds a NUL byte", "nul");
	/* the decoder refuses it too */
	ProtobufCMessage *m = cri_msg_unpack(in.base.descriptor, buf, len, &e);
	assert_null(m);
	expect(-e->code, &e, EINVAL, "holds a NUL byte", "unpack");
	/* bad wire data is the decoder's to judge */
	uint8_t junk[] = {0x0a, 0x7f, 0x01};
	expect(cri_validate_wire(in.base.descriptor, junk, sizeof(junk), &e), &e, 0, NULL, "junk");
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
	_cleanup_free_ char *d = xstrdup(p);
	*strrchr(d, '/') = '\0';
	assert_int_equal(fileio_mkdir_p(d, 0755, NULL), 0);
	assert_int_equal(fileio_write_atomic_nosync(p, text, strlen(text), 0644, NULL), 0);
}

static void test_host_facts_detect(void **state)
{
	char dir[] = "/tmp/berth-facts-XXXXXX";
	assert_non_null(mkdtemp(dir));
	write_file(dir, "devices/system/cpu/online", "0-2,5\n");
	write_file(dir, "devices/system/node/online", "0\n");
	_cleanup_free_ char *h1 = xasprintf("%s/kernel/mm/hugepages/hugepages-2048kB", dir);
	_cleanup_free_ char *h2 = xasprintf("%s/kernel/mm/hugepages/hugepages-1048576kB", dir);
	assert_int_equal(fileio_mkdir_p(h1, 0755, NULL), 0);
	assert_int_equal(fileio_mkdir_p(h2, 0755, NULL), 0);
	struct cri_host_facts h;
	cri_host_facts_detect(dir, false, true, &h);
	assert_true(h.cpus_known && h.mems_known && h.hugepages_known);
	assert_int_equal(h.cpus[0], 0x27);
	assert_int_equal(h.mems[0], 1);
	assert_int_equal(h.n_hugepage_sizes, 2);
	assert_true((h.hugepage_sizes[0] == 2 << 20 && h.hugepage_sizes[1] == 1 << 30) ||
		    (h.hugepage_sizes[1] == 2 << 20 && h.hugepage_sizes[0] == 1 << 30));
	assert_int_equal(fileio_remove_tree(dir, NULL), 0);
	/* nothing readable: nothing known, nothing refused for it */
	cri_host_facts_detect("/nonexistent-sysfs", false, false, &h);
	assert_false(h.cpus_known);
	assert_false(h.hugepages_known);
	/* and the real one has CPU 0 */
	cri_host_facts_detect(NULL, false, false, &h);
	assert_true(h.cpus_known);
	assert_true(h.cpus[0] & 1);
}

static void test_runtime_error_classes(void **state)
{
	static const struct {
		const char *text;
		int code, sh;
	} t[] = {
	    {"runc create failed: unable to start container process: exec: \"nosuch\": "
	     "executable file not found in $PATH",
	     ENOENT, 127},
	    {"exec failed: unable to start container process: exec: \\\"/bin/x\\\": stat /bin/x: "
	     "no such file or directory",
	     ENOENT, 127},
	    {"exec: \"/etc/passwd\": permission denied", EACCES, 126},
	    {"exec: \"/bin\": is a directory", EACCES, 126},
	    {"exec format error", EINVAL, 126},
	    {"container \"x\" does not exist", ENOENT, 0},
	    {"failed to write \"200000\": write /sys/fs/cgroup/cpu/x/cpu.cfs_quota_us: invalid "
	     "argument",
	     EINVAL, 0},
	    {"container init was OOM-killed (memory limit too low?)", ENOMEM, 0},
	    {"fork/exec /proc/self/exe: resource temporarily unavailable", EAGAIN, 0},
	    {"write /sys/fs/cgroup/memory/x/memory.limit_in_bytes: device or resource busy", EBUSY,
	     0},
	    {"mkdir /run/x: no space left on device", ENOSPC, 0},
	    {"error setting cgroup config for procHooks process: unable to set memory limit to "
	     "6291456 (current usage: 7495680, peak usage: 7495680)",
	     ENOMEM, 0},
	    {"container with id exists: x", EEXIST, 0},
	    {"something else entirely", EIO, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *cause = NULL;
		if (oci_runtime_errno(t[i].text, EIO, &cause) != t[i].code)
			fail_msg("'%s': got %d, want %d", t[i].text,
				 oci_runtime_errno(t[i].text, EIO, NULL), t[i].code);
		assert_true(t[i].code == EIO ? cause == NULL : cause != NULL);
		if (oci_exec_failure_code(t[i].text) != t[i].sh)
			fail_msg("'%s': exit %d, want %d", t[i].text,
				 oci_exec_failure_code(t[i].text), t[i].sh);
	}
	/* the shim's EIO gets the text's code and cause; others stay */
	struct berr *e = NULL;
	berr_set(&e, EIO,
		 "runtime create failed (exit 1): exec: \"x\": executable file not found "
		 "in $PATH");
	assert_int_equal(cri_runtime_failure(-EIO, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "executable not found: runtime create failed"));
	berr_set(&e, ETIMEDOUT, "runtime create timed out");
	assert_int_equal(cri_runtime_failure(-ETIMEDOUT, &e), -ETIMEDOUT);
	berr_set(&e, EIO, "no idea");
	assert_int_equal(cri_runtime_failure(-EIO, &e), -EIO);
	e = berr_free(e);
}

static void test_cni_error_classes(void **state)
{
	static const struct {
		const char *out, *errout;
		int code;
	} t[] = {
	    {"{\"code\":1,\"msg\":\"incompatible CNI versions\"}", "", EBUSY},
	    {"{\"code\":7,\"msg\":\"invalid network config\"}", "", EBUSY},
	    {"{\"code\":3,\"msg\":\"container unknown\"}", "", ENOENT},
	    {"{\"code\":4,\"msg\":\"bad CNI_ARGS\"}", "", EINVAL},
	    {"{\"code\":11,\"msg\":\"busy\"}", "", EAGAIN},
	    {"{\"code\":999,\"msg\":\"failed to allocate for range 0: no IP addresses available in "
	     "range set: 10.0.0.1-10.0.0.2\"}",
	     "", ENOSPC},
	    {"{\"code\":999,\"msg\":\"invalid CIDR address: x\"}", "", EBUSY},
	    {"{\"code\":5,\"msg\":\"i/o\"}", "", EIO},
	    {"", "panic: something", EIO},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (cni_error_errno(t[i].out, t[i].errout) != t[i].code)
			fail_msg("case %zu: got %d, want %d", i,
				 cni_error_errno(t[i].out, t[i].errout), t[i].code);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validate_resources_ranges),
	    cmocka_unit_test(test_validate_resources_swap),
	    cmocka_unit_test(test_validate_cpuset),
	    cmocka_unit_test(test_validate_hugepages),
	    cmocka_unit_test(test_validate_unified),
	    cmocka_unit_test(test_validate_pod_names_and_hostname),
	    cmocka_unit_test(test_validate_pod_dns),
	    cmocka_unit_test(test_validate_pod_ports),
	    cmocka_unit_test(test_validate_pod_sysctls),
	    cmocka_unit_test(test_validate_pod_security_and_cgroup),
	    cmocka_unit_test(test_validate_pod_userns),
	    cmocka_unit_test(test_validate_maps),
	    cmocka_unit_test(test_validate_ctr_process),
	    cmocka_unit_test(test_validate_ctr_mounts_devices),
	    cmocka_unit_test(test_validate_ctr_security),
	    cmocka_unit_test(test_validate_exec_and_streams),
	    cmocka_unit_test(test_validate_images_filters_config),
	    cmocka_unit_test(test_validate_wire_nul),
	    cmocka_unit_test(test_host_facts_detect),
	    cmocka_unit_test(test_runtime_error_classes),
	    cmocka_unit_test(test_cni_error_classes),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
