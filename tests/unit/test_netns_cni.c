/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of netns/ CNI: config loading, request building, result and
 * error parsing (pure, table-driven), then real ADD/DEL with Debian's
 * bridge, host-local, portmap and firewall plugins into pinned namespaces,
 * all inside the private network and mount namespaces of this test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <net/if.h>
#include <pthread.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "common/err.h"
#include "common/spawn.h"
#include "netns/cni-internal.h"
#include "netns/netns.h"
#include "tests/unit/test_netns_common.h"

#define SYS_BIN	      "/usr/lib/cni"
#define BRIDGE	      "bt0"
#define SUBNET_PREFIX "10.99."

static char *tmpdir;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-cni-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = xstrdup(tpl);
	return 0;
}

static int group_teardown(void **state)
{
	/* The bridge, veths and iptables rules live in this process's private
	 * netns and die with it; pins and pod inits are removed here. */
	test_unpin_all(tmpdir);
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

static char *path_in(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *path_in(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *rel = NULL;
	if (vasprintf(&rel, fmt, ap) < 0)
		xalloc_die();
	va_end(ap);
	return xasprintf("%s/%s", tmpdir, rel);
}

static void write_text(const char *path, const char *text)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fileio_mkdir_p(dir, 0755, &e), 0);
	assert_int_equal(fileio_write_atomic(path, text, strlen(text), 0755, &e), 0);
}

/* ---- loading ---- */

static struct cni_net *load_one(const char *dirname, const char *file, const char *text, int want,
				const char *want_msg)
{
	_cleanup_free_ char *dir = path_in("conf-%s", dirname);
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
	write_text(p, text);
	struct cni_net *net = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = cni_net_load(dir, SYS_BIN, &net, &e);
	assert_int_equal(r, want);
	if (want_msg)
		assert_non_null(strstr(berr_msg(e), want_msg));
	return net;
}

static void test_cni_load_versions_and_single_conf(void **state)
{
	struct cni_net *n = load_one(
	    "v1", "10-a.conflist",
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"one\",\"plugins\":[{\"type\":\"bridge\"},"
	    "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}",
	    0, NULL);
	assert_string_equal(cni_net_name(n), "one");
	assert_string_equal(cni_net_version(n), "1.0.0");
	assert_int_equal(cni_net_n_plugins(n), 2);
	assert_string_equal(cni_net_plugin_type(n, 1), "portmap");
	n = cni_net_free(n);

	n = load_one("v04", "10-a.conflist",
		     "{\"cniVersion\":\"0.4.0\",\"name\":\"four\",\"plugins\":[{\"type\":"
		     "\"bridge\"}]}",
		     0, NULL);
	assert_string_equal(cni_net_version(n), "0.4.0");
	n = cni_net_free(n);

	/* a single-plugin .conf becomes a list of one */
	n = load_one("single", "87-single.conf",
		     "{\"cniVersion\":\"0.3.1\",\"name\":\"solo\",\"type\":\"bridge\",\"bridge\":"
		     "\"x0\"}",
		     0, NULL);
	assert_string_equal(cni_net_name(n), "solo");
	assert_int_equal(cni_net_n_plugins(n), 1);
	assert_string_equal(cni_net_plugin_type(n, 0), "bridge");
	n = cni_net_free(n);
}

static void test_cni_load_picks_lexically_first(void **state)
{
	_cleanup_free_ char *dir = path_in("conf-%s", "order");
	_cleanup_free_ char *b = xasprintf("%s/20-b.conflist", dir);
	_cleanup_free_ char *a = xasprintf("%s/10-a.conf", dir);
	_cleanup_free_ char *junk = xasprintf("%s/00-readme.txt", dir);
	write_text(b,
		   "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"bridge\"}]}");
	write_text(a, "{\"cniVersion\":\"1.0.0\",\"name\":\"a\",\"type\":\"bridge\"}");
	write_text(junk, "not a config");
	struct cni_net *n = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cni_net_load(dir, SYS_BIN, &n, &e), 0);
	assert_string_equal(cni_net_name(n), "a");
	assert_string_equal(cni_net_file(n), a);
	cni_net_free(n);
}

static void test_cni_load_errors(void **state)
{
	load_one("badjson", "10-x.conflist", "{\"cniVersion\":\"1.0.0\",", -EINVAL,
		 "10-x.conflist' is not valid JSON");
	load_one("noplugin", "10-x.conflist",
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"},{"
		 "\"type\":\"nonexistent-plugin\"}]}",
		 -ENOENT, "network 'n': plugin 'nonexistent-plugin' not found in '/usr/lib/cni'");
	load_one("oldver", "10-x.conflist",
		 "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"}]}",
		 -EINVAL, "cniVersion '0.2.0' is not supported");
	load_one("notype", "10-x.conflist",
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"bridge\":\"x\"}]}",
		 -EINVAL, "plugin 0 has no 'type'");
	load_one("badtype", "10-x.conflist",
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"../sh\"}]}",
		 -EINVAL, "plugin type '../sh' is not a valid name");
	load_one("noname", "10-x.conf", "{\"cniVersion\":\"1.0.0\",\"type\":\"bridge\"}", -EINVAL,
		 "has no 'name'");

	_cleanup_free_ char *empty = path_in("conf-%s", "empty");
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_mkdir_p(empty, 0755, &e), 0);
	struct cni_net *n = NULL;
	assert_int_equal(cni_net_load(empty, SYS_BIN, &n, &e), -ENOENT);
	_cleanup_free_ char *want = xasprintf("no network config found in '%s'", empty);
	assert_string_equal(berr_msg(e), want);
}

static void test_cni_ready_and_default_conf(void **state)
{
	_cleanup_free_ char *dir = path_in("conf-%s", "default");
	struct cni_config c = {.conf_dir = dir, .bin_path = SYS_BIN};
	_cleanup_free_ char *reason = NULL;
	assert_false(cni_network_ready(&c, &reason));
	assert_non_null(strstr(reason, "no network config found"));
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cni_write_default_conf(dir, &e), 1);
	assert_true(cni_network_ready(&c, NULL));
	assert_int_equal(cni_write_default_conf(dir, &e), 0);
	struct cni_net *n = NULL;
	assert_int_equal(cni_net_load(dir, SYS_BIN, &n, &e), 0);
	assert_string_equal(cni_net_name(n), "berth");
	assert_int_equal(cni_net_n_plugins(n), 3);
	assert_string_equal(cni_net_plugin_type(n, 0), "bridge");
	assert_string_equal(cni_net_plugin_type(n, 1), "portmap");
	assert_string_equal(cni_net_plugin_type(n, 2), "firewall");
	cni_net_free(n);
}

/* ---- requests ---- */

static struct cni_net *net_from(const char *json)
{
	struct json_object *o = json_tokener_parse(json);
	assert_non_null(o);
	struct cni_net *n = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cni_net_from_json(o, "mem", NULL, &n, &e), 0);
	json_object_put(o);
	return n;
}

static void test_cni_request_build_table(void **state)
{
	struct cni_net *net =
	    net_from("{\"cniVersion\":\"1.0.0\",\"name\":\"n1\",\"plugins\":["
		     "{\"type\":\"bridge\",\"bridge\":\"b0\"},"
		     "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}},"
		     "{\"type\":\"firewall\",\"capabilities\":{\"portMappings\":false}}]}");
	struct cni_portmap ports[] = {{8080, 80, "tcp", NULL}, {5353, 53, "udp", "127.0.0.1"}};
	struct cni_pod pod = {.id = "abc123",
			      .netns = "/run/berth/ns/abc123/net",
			      .name = "web",
			      .namespace = "default",
			      .uid = "u-1",
			      .ports = ports,
			      .n_ports = 2};
	const char *prev = "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/24\"}]}";
	static const struct {
		enum cni_cmd cmd;
		size_t idx;
		bool prev;
		size_t n_ports;
		const char *want_cmd;
		const char *want_input;
	} cases[] = {
	    {CNI_CMD_ADD, 0, false, 2, "CNI_COMMAND=ADD",
	     "{\"type\":\"bridge\",\"bridge\":\"b0\",\"cniVersion\":\"1.0.0\",\"name\":\"n1\"}"},
	    {CNI_CMD_ADD, 1, true, 2, "CNI_COMMAND=ADD",
	     "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true},"
	     "\"cniVersion\":\"1.0.0\",\"name\":\"n1\",\"prevResult\":{\"cniVersion\":"
	     "\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/24\"}]},\"runtimeConfig\":{"
	     "\"portMappings\":[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
	     "{\"hostPort\":5353,\"containerPort\":53,\"protocol\":\"udp\",\"hostIP\":"
	     "\"127.0.0.1\"}]}}"},
	    /* no ports: no runtimeConfig even for a capable plugin */
	    {CNI_CMD_DEL, 1, true, 0, "CNI_COMMAND=DEL",
	     "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true},"
	     "\"cniVersion\":\"1.0.0\",\"name\":\"n1\",\"prevResult\":{\"cniVersion\":"
	     "\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/24\"}]}}"},
	    /* a capability set to false injects nothing */
	    {CNI_CMD_ADD, 2, false, 2, "CNI_COMMAND=ADD",
	     "{\"type\":\"firewall\",\"capabilities\":{\"portMappings\":false},"
	     "\"cniVersion\":\"1.0.0\",\"name\":\"n1\"}"},
	};
	struct json_object *prev_obj = json_tokener_parse(prev);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cni_request rq;
		_cleanup_berr_ struct berr *e = NULL;
		pod.n_ports = cases[i].n_ports;
		assert_int_equal(cni_request_build(cases[i].cmd, net, cases[i].idx, &pod,
						   "/opt/cni/bin:/usr/lib/cni",
						   cases[i].prev ? prev_obj : NULL, &rq, &e),
				 0);
		assert_string_equal(rq.input, cases[i].want_input);
		const char *want_env[] = {
		    cases[i].want_cmd,
		    "CNI_CONTAINERID=abc123",
		    "CNI_NETNS=/run/berth/ns/abc123/net",
		    "CNI_IFNAME=eth0",
		    "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
		    "K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1",
		    "CNI_PATH=/opt/cni/bin:/usr/lib/cni",
		    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		    NULL,
		};
		for (size_t k = 0; want_env[k]; k++)
			assert_string_equal(rq.env[k], want_env[k]);
		assert_null(rq.env[7]);
		assert_string_equal(rq.type, cni_net_plugin_type(net, cases[i].idx));
		cni_request_done(&rq);
	}
	json_object_put(prev_obj);

	/* bad input */
	struct cni_request rq;
	_cleanup_berr_ struct berr *e = NULL;
	struct cni_pod bad = pod;
	bad.name = "a;K8S_POD_NAME=evil";
	assert_int_equal(cni_request_build(CNI_CMD_ADD, net, 0, &bad, NULL, NULL, &rq, &e),
			 -EINVAL);
	assert_non_null(strstr(berr_msg(e), "not valid in CNI_ARGS"));
	bad = pod;
	bad.id = "../x";
	assert_int_equal(cni_request_build(CNI_CMD_ADD, net, 0, &bad, NULL, NULL, &rq, &e),
			 -EINVAL);
	bad = pod;
	bad.netns = NULL;
	assert_int_equal(cni_request_build(CNI_CMD_ADD, net, 0, &bad, NULL, NULL, &rq, &e),
			 -EINVAL);
	/* DEL without a netns is fine: CNI_NETNS is empty */
	assert_int_equal(cni_request_build(CNI_CMD_DEL, net, 0, &bad, NULL, NULL, &rq, &e), 0);
	assert_string_equal(rq.env[2], "CNI_NETNS=");
	cni_request_done(&rq);
	assert_int_equal(cni_request_build(CNI_CMD_ADD, net, 3, &pod, NULL, NULL, &rq, &e),
			 -EINVAL);
	cni_net_free(net);
}

static void test_cni_result_parse(void **state)
{
	static const struct {
		const char *json;
		const char *want[4];
	} cases[] = {
	    /* 1.0.0 from bridge: the host-side bridge address is not the pod's */
	    {"{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"cni0\"},{\"name\":"
	     "\"veth1\"},{\"name\":\"eth0\",\"sandbox\":\"/run/ns/x\"}],\"ips\":["
	     "{\"interface\":0,\"address\":\"10.88.0.1/16\"},"
	     "{\"interface\":2,\"address\":\"fd00::2/64\"},"
	     "{\"interface\":2,\"address\":\"10.88.0.2/16\",\"gateway\":\"10.88.0.1\"}]}",
	     {"10.88.0.2", "fd00::2"}},
	    /* 0.4.0 style, no interfaces */
	    {"{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"6\",\"address\":\"fd00::3/64\"},"
	     "{\"version\":\"4\",\"address\":\"10.1.0.3/24\"}]}",
	     {"10.1.0.3", "fd00::3"}},
	    {"{\"cniVersion\":\"1.0.0\"}", {NULL}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cni_result r;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(cni_result_parse(cases[i].json, &r, &e), 0);
		size_t n = 0;
		while (cases[i].want[n])
			n++;
		assert_int_equal(r.n_ips, n);
		for (size_t k = 0; k < n; k++)
			assert_string_equal(r.ips[k], cases[i].want[k]);
		assert_null(r.ips[n]);
		assert_string_equal(r.json, cases[i].json);
		cni_result_done(&r);
	}
	struct cni_result r;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cni_result_parse("[1]", &r, &e), -EPROTO);
	assert_int_equal(cni_result_parse("{oops", &r, &e), -EPROTO);
}

static void test_cni_error_message(void **state)
{
	static const struct {
		const char *out, *errout;
		int status;
		const char *want;
	} cases[] = {
	    {"{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"failed to allocate\","
	     "\"details\":\"range full\"}",
	     "", 1 << 8, "plugin 'p' failed: failed to allocate: range full (code 11)"},
	    {"{\"code\":7,\"msg\":\"bad config\"}", "ignored", 1 << 8,
	     "plugin 'p' failed: bad config (code 7)"},
	    {"", "  panic: nil pointer\n", 2 << 8, "plugin 'p' failed: panic: nil pointer"},
	    {"", "", 9, "plugin 'p' failed: killed by signal 9 (Killed)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *m =
		    cni_error_message("p", cases[i].out, cases[i].errout, cases[i].status);
		assert_string_equal(m, cases[i].want);
	}
}

/* ---- real plugins ---- */

struct realnet {
	char *conf_dir, *cache_dir, *ipam_dir, *bin_path;
	struct cni_config c;
};

/* A conf dir of its own per test: bridge bt0 on 10.99.0.0/16 with IPAM state
 * in the test dir, then portmap, firewall and optionally a plugin of ours. */
/* A conf dir of its own per test: bridge bt0 on 10.99.0.0/16 with IPAM state
 * in the test dir, portmap and firewall, and extra_plugin (a plugin of ours in
 * the test's bin dir) inserted at position extra_at when not NULL. */
static void realnet_init_at(struct realnet *rn, const char *name, const char *extra_plugin,
			    size_t extra_at)
{
	rn->conf_dir = path_in("real-%s/conf", name);
	rn->cache_dir = path_in("real-%s/cache", name);
	rn->ipam_dir = path_in("real-%s/ipam", name);
	_cleanup_free_ char *bin = path_in("real-%s/bin", name);
	rn->bin_path = xasprintf("%s:%s", bin, SYS_BIN);
	_cleanup_free_ char *bridge = xasprintf(
	    "{\"type\":\"bridge\",\"bridge\":\"" BRIDGE "\",\"isGateway\":true,\"ipMasq\":true,"
	    "\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"10.99.0.0/16\"}]],"
	    "\"dataDir\":\"%s\"}}",
	    rn->ipam_dir);
	_cleanup_free_ char *extra =
	    extra_plugin ? xasprintf("{\"type\":\"%s\"}", extra_plugin) : NULL;
	const char *std[] = {bridge,
			     "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}",
			     "{\"type\":\"firewall\"}"};
	_cleanup_free_ char *list = xstrdup("");
	for (size_t i = 0, k = 0; i < 4; i++) {
		const char *item = extra && i == extra_at ? extra : k < 3 ? std[k++] : NULL;
		if (!item)
			continue;
		char *next = xasprintf("%s%s%s", list, *list ? "," : "", item);
		free(list);
		list = next;
	}
	_cleanup_free_ char *conf =
	    xasprintf("{\"cniVersion\":\"1.0.0\",\"name\":\"%s\",\"plugins\":[%s]}", name, list);
	_cleanup_free_ char *file = xasprintf("%s/10-test.conflist", rn->conf_dir);
	write_text(file, conf);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(fileio_mkdir_p(bin, 0755, &e), 0);
	rn->c = (struct cni_config){.conf_dir = rn->conf_dir,
				    .bin_path = rn->bin_path,
				    .cache_dir = rn->cache_dir,
				    .timeout_ms = 60000};
}

static void realnet_init(struct realnet *rn, const char *name, const char *extra_plugin)
{
	realnet_init_at(rn, name, extra_plugin, 3);
}

static void realnet_done(struct realnet *rn)
{
	free(rn->conf_dir);
	free(rn->cache_dir);
	free(rn->ipam_dir);
	free(rn->bin_path);
}

static char *run_out(char *const argv[])
{
	struct spawn_opts so = SPAWN_OPTS_INIT;
	so.argv = argv;
	struct spawn_result res;
	_cleanup_berr_ struct berr *e = NULL;
	if (spawn_run(&so, NULL, 0, 1 << 20, 30000, &res, &e) < 0)
		fail_msg("run %s: %s", argv[0], berr_msg(e));
	char *out = TAKE_PTR(res.out);
	spawn_result_done(&res);
	return out;
}

/* All iptables rules of this netns (nat and filter). */
static char *iptables_dump(void)
{
	char *nat[] = {"iptables", "-w", "-t", "nat", "-S", NULL};
	char *filter[] = {"iptables", "-w", "-S", NULL};
	_cleanup_free_ char *a = run_out(nat);
	_cleanup_free_ char *b = run_out(filter);
	return xasprintf("%s%s", a, b);
}

static char *veths_on_bridge(void)
{
	char *argv[] = {"ip", "-o", "link", "show", "master", BRIDGE, NULL};
	return run_out(argv);
}

static char *pin_net(const char *name)
{
	_cleanup_free_ char *dir = path_in("ns/%s", name);
	struct netns_pin_opts o = {.dir = dir, .net = true, .pinns = TEST_PINNS};
	struct netns_pins p = {0};
	_cleanup_berr_ struct berr *e = NULL;
	if (netns_pin_pod(&o, &p, &e) < 0)
		fail_msg("pin: %s", berr_msg(e));
	char *net = TAKE_PTR(p.net);
	netns_pins_done(&p);
	return net;
}

static void unpin_net(const char *name)
{
	_cleanup_free_ char *dir = path_in("ns/%s", name);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(netns_unpin(dir, &e), 0);
}

static void test_cni_add_del_real(void **state)
{
	struct realnet rn;
	realnet_init(&rn, "adddel", NULL);
	_cleanup_free_ char *net = pin_net("adddel");
	struct cni_portmap ports[] = {{18080, 80, "tcp", NULL}};
	struct cni_pod pod = {.id = "pod-adddel",
			      .netns = net,
			      .name = "web",
			      .namespace = "default",
			      .uid = "uid-1",
			      .ports = ports,
			      .n_ports = 1};
	struct cni_result res;
	_cleanup_berr_ struct berr *e = NULL;
	int r = cni_add(&rn.c, &pod, &res, &e);
	if (r < 0)
		fail_msg("cni_add: %s", berr_msg(e));
	assert_int_equal(res.n_ips, 1);
	assert_true(!strncmp(res.ips[0], SUBNET_PREFIX, strlen(SUBNET_PREFIX)));

	/* the address is on eth0 inside the pod, the veth on the bridge here */
	struct netns_addr *a = NULL;
	size_t n = 0;
	assert_int_equal(netns_addrs(net, "eth0", &a, &n, &e), 0);
	assert_true(n >= 1);
	assert_string_equal(a[0].addr, res.ips[0]);
	assert_int_equal(a[0].prefixlen, 16);
	free(a);
	assert_true(if_nametoindex(BRIDGE) > 0);
	_cleanup_free_ char *veths = veths_on_bridge();
	assert_non_null(strstr(veths, "veth"));
	_cleanup_free_ char *rules = iptables_dump();
	assert_non_null(strstr(rules, "pod-adddel"));
	assert_non_null(strstr(rules, "--dport 18080"));
	_cleanup_free_ char *lease = xasprintf("%s/adddel/%s", rn.ipam_dir, res.ips[0]);
	assert_int_equal(access(lease, F_OK), 0);
	_cleanup_free_ char *cache = xasprintf("%s/pod-adddel-eth0.json", rn.cache_dir);
	assert_int_equal(access(cache, F_OK), 0);

	assert_int_equal(cni_del(&rn.c, &pod, &e), 0);
	_cleanup_free_ char *veths2 = veths_on_bridge();
	assert_string_equal(veths2, "");
	_cleanup_free_ char *rules2 = iptables_dump();
	assert_null(strstr(rules2, "pod-adddel"));
	assert_null(strstr(rules2, "18080"));
	assert_int_equal(access(lease, F_OK), -1);
	assert_int_equal(access(cache, F_OK), -1);
	assert_int_equal(netns_addrs(net, "eth0", &a, &n, &e), -ENODEV);
	/* DEL twice succeeds */
	assert_int_equal(cni_del(&rn.c, &pod, &e), 0);
	cni_result_done(&res);
	unpin_net("adddel");
	realnet_done(&rn);
}

static void test_cni_del_survives_missing_netns_and_conf_change(void **state)
{
	struct realnet rn;
	realnet_init(&rn, "gone", NULL);
	_cleanup_free_ char *net = pin_net("gone");
	struct cni_pod pod = {.id = "pod-gone", .netns = net, .name = "p", .namespace = "ns"};
	struct cni_result res;
	_cleanup_berr_ struct berr *e = NULL;
	if (cni_add(&rn.c, &pod, &res, &e) < 0)
		fail_msg("cni_add: %s", berr_msg(e));
	_cleanup_free_ char *lease = xasprintf("%s/gone/%s", rn.ipam_dir, res.ips[0]);
	assert_int_equal(access(lease, F_OK), 0);
	char *filter[] = {"iptables", "-w", "-S", NULL};
	_cleanup_free_ char *ip = xasprintf("%s/32", res.ips[0]);
	_cleanup_free_ char *before = run_out(filter);
	assert_non_null(strstr(before, ip));

	/* the netns is gone (its veth end with it) and the conf dir now holds
	 * a config whose plugin does not exist: DEL uses the cached config */
	unpin_net("gone");
	_cleanup_free_ char *file = xasprintf("%s/10-test.conflist", rn.conf_dir);
	write_text(file, "{\"cniVersion\":\"1.0.0\",\"name\":\"other\",\"plugins\":[{\"type\":"
			 "\"nonexistent-plugin\"}]}");
	assert_int_equal(cni_del(&rn.c, &pod, &e), 0);
	assert_int_equal(access(lease, F_OK), -1);
	/* firewall's rules are gone; bridge 1.1.1 finds the addresses for its
	 * masquerade teardown in the netns only, so with the netns gone its nat
	 * chain stays (a plugin limitation; berth DELs before unpinning, and this
	 * chain dies with the test's netns) */
	_cleanup_free_ char *rules = run_out(filter);
	assert_null(strstr(rules, ip));
	_cleanup_free_ char *cache = xasprintf("%s/pod-gone-eth0.json", rn.cache_dir);
	assert_int_equal(access(cache, F_OK), -1);
	assert_int_equal(cni_del(&rn.c, &pod, &e), 0);
	cni_result_done(&res);
	realnet_done(&rn);
}

static void test_cni_failing_plugin_rolls_back(void **state)
{
	struct realnet rn;
	realnet_init(&rn, "fail", "failer");
	/* a plugin that fails ADD with a CNI error and accepts DEL */
	_cleanup_free_ char *failer = path_in("real-%s/bin/failer", "fail");
	write_text(failer, "#!/bin/sh\n"
			   "cat >/dev/null\n"
			   "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
			   "  echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"boom\","
			   "\"details\":\"on purpose\"}'\n"
			   "  exit 1\n"
			   "fi\n"
			   "exit 0\n");
	_cleanup_free_ char *net = pin_net("fail");
	struct cni_portmap ports[] = {{18081, 80, "tcp", NULL}};
	struct cni_pod pod = {.id = "pod-fail", .netns = net, .ports = ports, .n_ports = 1};
	struct cni_result res;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cni_add(&rn.c, &pod, &res, &e), -EAGAIN);
	assert_string_equal(berr_msg(e), "network 'fail' ADD for 'pod-fail': plugin 'failer' "
					 "failed: boom: on purpose (code 11)");
	/* everything the earlier plugins set up is gone */
	_cleanup_free_ char *veths = veths_on_bridge();
	assert_string_equal(veths, "");
	_cleanup_free_ char *rules = iptables_dump();
	assert_null(strstr(rules, "pod-fail"));
	assert_null(strstr(rules, "18081"));
	struct netns_addr *a = NULL;
	size_t n = 0;
	assert_int_equal(netns_addrs(net, "eth0", &a, &n, &e), -ENODEV);
	_cleanup_free_ char *ipam = xasprintf("%s/fail", rn.ipam_dir);
	char *ls[] = {"sh", "-c", "ls \"$0\" | grep -c '^10\\.' || true", ipam, NULL};
	_cleanup_free_ char *count = run_out(ls);
	assert_string_equal(count, "0\n");
	_cleanup_free_ char *cache = xasprintf("%s/pod-fail-eth0.json", rn.cache_dir);
	assert_int_equal(access(cache, F_OK), -1);
	unpin_net("fail");
	realnet_done(&rn);
}

/* The failing plugin at each position of the list: whatever the plugins
 * before it set up is undone, and the cache is gone. */
static void test_cni_rollback_at_each_step(void **state)
{
	for (size_t at = 0; at < 4; at++) {
		_cleanup_free_ char *name = xasprintf("rb%zu", at);
		struct realnet rn;
		realnet_init_at(&rn, name, "failer", at);
		_cleanup_free_ char *failer = path_in("real-%s/bin/failer", name);
		write_text(failer,
			   "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
			   "echo '{\"code\":7,\"msg\":\"step failed\"}'\nexit 1\n");
		_cleanup_free_ char *net = pin_net(name);
		_cleanup_free_ char *id = xasprintf("pod-%s", name);
		struct cni_portmap ports[] = {{18082, 80, "tcp", NULL}};
		struct cni_pod pod = {.id = id, .netns = net, .ports = ports, .n_ports = 1};
		struct cni_result res;
		_cleanup_berr_ struct berr *e = NULL;
		assert_int_equal(cni_add(&rn.c, &pod, &res, &e), -EBUSY);
		assert_non_null(
		    strstr(berr_msg(e), "plugin 'failer' failed: step failed (code 7)"));
		_cleanup_free_ char *veths = veths_on_bridge();
		assert_string_equal(veths, "");
		_cleanup_free_ char *rules = iptables_dump();
		assert_null(strstr(rules, id));
		assert_null(strstr(rules, "18082"));
		struct netns_addr *a = NULL;
		size_t n = 0;
		assert_int_equal(netns_addrs(net, "eth0", &a, &n, &e), -ENODEV);
		_cleanup_free_ char *ipam = xasprintf("%s/%s", rn.ipam_dir, name);
		char *ls[] = {"sh", "-c", "ls \"$0\" 2>/dev/null | grep -c '^10\\.' || true", ipam,
			      NULL};
		_cleanup_free_ char *count = run_out(ls);
		assert_string_equal(count, "0\n");
		_cleanup_free_ char *cache = xasprintf("%s/%s-eth0.json", rn.cache_dir, id);
		assert_int_equal(access(cache, F_OK), -1);
		unpin_net(name);
		realnet_done(&rn);
	}
}

#define N_PARALLEL 20

struct par {
	struct realnet *rn;
	int i;
	char *net;
	struct cni_result res;
	struct berr *err;
	int r;
};

static void *par_add(void *p)
{
	struct par *a = p;
	_cleanup_free_ char *name = xasprintf("par%d", a->i);
	_cleanup_free_ char *dir = path_in("ns/%s", name);
	struct netns_pin_opts o = {.dir = dir, .net = true, .pinns = TEST_PINNS};
	struct netns_pins pins = {0};
	a->r = netns_pin_pod(&o, &pins, &a->err);
	if (a->r < 0)
		return NULL;
	a->net = TAKE_PTR(pins.net);
	netns_pins_done(&pins);
	_cleanup_free_ char *id = xasprintf("pod-par-%d", a->i);
	struct cni_pod pod = {.id = id, .netns = a->net};
	a->r = cni_add(&a->rn->c, &pod, &a->res, &a->err);
	return NULL;
}

static void test_cni_parallel_adds_distinct_ips(void **state)
{
	struct realnet rn;
	realnet_init(&rn, "par", NULL);
	struct par p[N_PARALLEL];
	pthread_t t[N_PARALLEL];
	for (int i = 0; i < N_PARALLEL; i++) {
		p[i] = (struct par){.rn = &rn, .i = i};
		assert_int_equal(pthread_create(&t[i], NULL, par_add, &p[i]), 0);
	}
	for (int i = 0; i < N_PARALLEL; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N_PARALLEL; i++) {
		if (p[i].r < 0)
			fail_msg("pod %d: %s", i, berr_msg(p[i].err));
		assert_int_equal(p[i].res.n_ips, 1);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(p[i].res.ips[0], p[k].res.ips[0]);
	}
	_cleanup_free_ char *veths = veths_on_bridge();
	size_t lines = 0;
	for (const char *c = veths; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, N_PARALLEL);
	_cleanup_berr_ struct berr *e = NULL;
	for (int i = 0; i < N_PARALLEL; i++) {
		_cleanup_free_ char *id = xasprintf("pod-par-%d", i);
		struct cni_pod pod = {.id = id, .netns = p[i].net};
		assert_int_equal(cni_del(&rn.c, &pod, &e), 0);
		_cleanup_free_ char *name = xasprintf("par%d", i);
		unpin_net(name);
		cni_result_done(&p[i].res);
		free(p[i].net);
		berr_free(p[i].err);
	}
	_cleanup_free_ char *after = veths_on_bridge();
	assert_string_equal(after, "");
	realnet_done(&rn);
}

int main(void)
{
	if (test_enter_private_namespaces() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cni_load_versions_and_single_conf),
	    cmocka_unit_test(test_cni_load_picks_lexically_first),
	    cmocka_unit_test(test_cni_load_errors),
	    cmocka_unit_test(test_cni_ready_and_default_conf),
	    cmocka_unit_test(test_cni_request_build_table),
	    cmocka_unit_test(test_cni_result_parse),
	    cmocka_unit_test(test_cni_error_message),
	    cmocka_unit_test(test_cni_add_del_real),
	    cmocka_unit_test(test_cni_del_survives_missing_netns_and_conf_change),
	    cmocka_unit_test(test_cni_failing_plugin_rolls_back),
	    cmocka_unit_test(test_cni_rollback_at_each_step),
	    cmocka_unit_test(test_cni_parallel_adds_distinct_ips),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
