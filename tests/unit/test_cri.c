/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of cri/: the method table against the generated service
 * descriptors, the errno -> status table, config parsing, and the Version,
 * Status and RuntimeConfig handlers called directly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/strv.h"
#include "cri/cri-internal.h"

static char *tmpdir;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-cri-XXXXXX";
	if (!mkdtemp(tpl))
		return -1;
	tmpdir = xstrdup(tpl);
	return 0;
}

static int group_teardown(void **state)
{
	int r = fileio_remove_tree(tmpdir, NULL);
	free(tmpdir);
	return r;
}

/* --- method table ------------------------------------------------------- */

static const ProtobufCServiceDescriptor *const services[] = {
    &runtime__v1__runtime_service__descriptor,
    &runtime__v1__image_service__descriptor,
};

static void test_methods_match_service_descriptors(void **state)
{
	size_t total = 0;
	for (size_t s = 0; s < 2; s++) {
		const ProtobufCServiceDescriptor *sd = services[s];
		for (unsigned i = 0; i < sd->n_methods; i++) {
			const ProtobufCMethodDescriptor *md = &sd->methods[i];
			_cleanup_free_ char *path = xasprintf("/%s/%s", sd->name, md->name);
			int found = 0;
			for (size_t k = 0; k < cri_n_methods; k++) {
				if (strcmp(cri_methods[k].path, path) != 0)
					continue;
				found++;
				assert_string_equal(cri_methods[k].name, md->name);
				assert_ptr_equal(cri_methods[k].req, md->input);
				assert_ptr_equal(cri_methods[k].resp, md->output);
			}
			if (found != 1)
				fail_msg("method '%s' is in the table %d times", path, found);
			assert_ptr_equal(cri_method_find(path), cri_method_find(path));
			assert_non_null(cri_method_find(path));
			total++;
		}
	}
	/* nothing in the table that the services don't have */
	assert_int_equal(cri_n_methods, total);
}

static void test_methods_streaming_flags_match_proto(void **state)
{
	/* protobuf-c descriptors don't record streaming, so read the .proto. */
	_cleanup_free_ char *src = NULL;
	size_t len;
	assert_int_equal(fileio_read_all(BERTH_PROTO_FILE, 1 << 22, &src, &len, NULL), 0);
	size_t n_rpcs = 0;
	for (char *p = strstr(src, "rpc "); p; p = strstr(p + 1, "rpc ")) {
		char name[128], req[128], ret[32], resp[128];
		int n =
		    sscanf(p, "rpc %127[A-Za-z0-9](%127[A-Za-z0-9]) returns (%31s %127[A-Za-z0-9]",
			   name, req, ret, resp);
		assert_true(n >= 3);
		bool stream = strcmp(ret, "stream") == 0;
		bool seen = false;
		for (size_t k = 0; k < cri_n_methods; k++) {
			if (strcmp(cri_methods[k].name, name) != 0)
				continue;
			seen = true;
			if (stream != !!(cri_methods[k].flags & CRI_METHOD_STREAM))
				fail_msg("method '%s': streaming flag disagrees with api.proto",
					 name);
		}
		assert_true(seen);
		n_rpcs++;
	}
	assert_int_equal(n_rpcs, cri_n_methods);
}

static void test_methods_find_unknown(void **state)
{
	assert_null(cri_method_find("/runtime.v1.RuntimeService/Nope"));
	assert_null(cri_method_find("Version"));
	assert_null(cri_method_find(""));
	const struct cri_method *m = cri_method_find("/runtime.v1.ImageService/PullImage");
	assert_non_null(m);
	assert_string_equal(m->name, "PullImage");
}

static void test_methods_implemented_now(void **state)
{
	const char *impl[] = {"/runtime.v1.RuntimeService/Version",
			      "/runtime.v1.RuntimeService/Status",
			      "/runtime.v1.RuntimeService/RuntimeConfig"};
	for (size_t i = 0; i < 3; i++)
		assert_non_null(cri_method_find(impl[i])->handler);
}

/* --- errno -> status ---------------------------------------------------- */

static void test_status_from_errno_table(void **state)
{
	static const struct {
		int code;
		grpc_status_code want;
	} cases[] = {
	    {ENOENT, GRPC_STATUS_NOT_FOUND},
	    {EEXIST, GRPC_STATUS_ALREADY_EXISTS},
	    {EINVAL, GRPC_STATUS_INVALID_ARGUMENT},
	    {E2BIG, GRPC_STATUS_INVALID_ARGUMENT},
	    {EBUSY, GRPC_STATUS_FAILED_PRECONDITION},
	    {ENOSYS, GRPC_STATUS_UNIMPLEMENTED},
	    {EOPNOTSUPP, GRPC_STATUS_UNIMPLEMENTED},
	    {ETIMEDOUT, GRPC_STATUS_DEADLINE_EXCEEDED},
	    {ECANCELED, GRPC_STATUS_CANCELLED},
	    {EPERM, GRPC_STATUS_PERMISSION_DENIED},
	    {EACCES, GRPC_STATUS_PERMISSION_DENIED},
	    {ENOSPC, GRPC_STATUS_RESOURCE_EXHAUSTED},
	    {EIO, GRPC_STATUS_INTERNAL},
	    {EPROTO, GRPC_STATUS_INTERNAL},
	    {ENOMEM, GRPC_STATUS_RESOURCE_EXHAUSTED},
	    {EAGAIN, GRPC_STATUS_RESOURCE_EXHAUSTED},
	    {EMFILE, GRPC_STATUS_RESOURCE_EXHAUSTED},
	    {ENFILE, GRPC_STATUS_RESOURCE_EXHAUSTED},
	    {EDQUOT, GRPC_STATUS_RESOURCE_EXHAUSTED},
	    {ERANGE, GRPC_STATUS_OUT_OF_RANGE},
	    {ECONNRESET, GRPC_STATUS_UNAVAILABLE},
	    {ECONNREFUSED, GRPC_STATUS_UNAVAILABLE},
	    {EHOSTUNREACH, GRPC_STATUS_UNAVAILABLE},
	    {ENETUNREACH, GRPC_STATUS_UNAVAILABLE},
	    {0, GRPC_STATUS_INTERNAL},
	    {-ENOENT, GRPC_STATUS_NOT_FOUND}, /* a returned -errno works too */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cri_status_from_errno(cases[i].code) != cases[i].want)
			fail_msg("errno %d: got status %d, want %d", cases[i].code,
				 cri_status_from_errno(cases[i].code), cases[i].want);
	}
}

static void test_status_names(void **state)
{
	assert_string_equal(cri_status_name(GRPC_STATUS_OK), "OK");
	assert_string_equal(cri_status_name(GRPC_STATUS_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(cri_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(cri_status_name((grpc_status_code)99), "UNKNOWN_STATUS");
}

/* --- config ------------------------------------------------------------- */

static void test_config_defaults(void **state)
{
	struct berth_config c;
	cri_config_init(&c);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_finish(&c, &e), 0);
	assert_string_equal(c.socket, "/run/berth/berth.sock");
	assert_string_equal(c.state_dir, "/var/lib/berth");
	assert_string_equal(c.run_dir, "/run/berth");
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	assert_int_equal(c.cgroup_driver, BERTH_CGROUP_CGROUPFS);
	assert_string_equal(c.default_runtime, "runc");
	const struct berth_runtime *r = cri_config_runtime(&c, "runc");
	assert_non_null(r);
	assert_true(r->path[0] == '/');
	assert_string_equal(r->root, "/run/berth/runtimes/runc");
	assert_null(r->options[0]);
	assert_string_equal(c.cni_conf_dir, "/etc/cni/net.d");
	assert_string_equal(c.cni_bin_dirs[0], "/opt/cni/bin");
	assert_string_equal(c.cni_bin_dirs[1], "/usr/lib/cni");
	assert_null(c.cni_bin_dirs[2]);
	assert_null(c.cni_conf_template);
	assert_int_equal(c.n_registries, 0);
	assert_string_equal(c.seccomp_profile, "/usr/share/containers/seccomp.json");
	assert_true(c.workers >= 1 && c.workers <= BERTH_WORKERS_MAX);
	cri_config_done(&c);
}

static void test_config_overrides(void **state)
{
	const char *json =
	    "/* berth */\n"
	    "{\n"
	    "  // every key\n"
	    "  \"socket\": \"/tmp/b.sock\", \"state_dir\": \"/tmp/st\",\n"
	    "  \"run_dir\": \"/tmp/run\", \"log_level\": \"debug\", \"workers\": 3,\n"
	    "  \"cgroup_driver\": \"systemd\", \"default_runtime\": \"crun\",\n"
	    "  \"runtimes\": {\"crun\": {\"path\": \"/usr/bin/crun\",\n"
	    "     \"root\": \"/run/crun\", \"options\": [\"--debug\"]}},\n"
	    "  \"cni\": {\"conf_dir\": \"/tmp/net\", \"bin_dirs\": [\"/tmp/bin\"],\n"
	    "          \"conf_template\": \"/etc/berth/cni.tpl\"},\n"
	    "  \"registries\": {\"localhost:5000\": {\"mirrors\":\n"
	    "     [\"http://127.0.0.1:5001\"], \"insecure\": true}},\n"
	    "  \"stream\": {\"address\": \"127.0.0.1\", \"port\": 10010, \"token_ttl_ms\": 5000},\n"
	    "  \"seccomp_profile\": \"/etc/berth/seccomp.json\"\n"
	    "}\n";
	struct berth_config c;
	cri_config_init(&c);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_parse(&c, json, "test", &e), 0);
	assert_int_equal(cri_config_finish(&c, &e), 0);
	assert_string_equal(c.socket, "/tmp/b.sock");
	assert_string_equal(c.state_dir, "/tmp/st");
	assert_string_equal(c.run_dir, "/tmp/run");
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.cgroup_driver, BERTH_CGROUP_SYSTEMD);
	assert_string_equal(c.default_runtime, "crun");
	assert_int_equal(c.n_runtimes, 2); /* runc stays */
	const struct berth_runtime *r = cri_config_runtime(&c, "crun");
	assert_string_equal(r->path, "/usr/bin/crun");
	assert_string_equal(r->root, "/run/crun");
	assert_string_equal(r->options[0], "--debug");
	assert_string_equal(cri_config_runtime(&c, "runc")->root, "/tmp/run/runtimes/runc");
	assert_string_equal(c.cni_conf_dir, "/tmp/net");
	assert_string_equal(c.cni_bin_dirs[0], "/tmp/bin");
	assert_null(c.cni_bin_dirs[1]);
	assert_string_equal(c.cni_conf_template, "/etc/berth/cni.tpl");
	assert_int_equal(c.n_registries, 1);
	assert_string_equal(c.registries[0].host, "localhost:5000");
	assert_string_equal(c.registries[0].mirrors[0], "http://127.0.0.1:5001");
	assert_true(c.registries[0].insecure);
	assert_int_equal(c.stream_port, 10010);
	assert_int_equal(c.stream_token_ttl_ms, 5000);
	assert_string_equal(c.seccomp_profile, "/etc/berth/seccomp.json");
	cri_config_done(&c);
}

static void test_config_bad_values(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
	    {"{\"sockett\": \"/x\"}", "unknown key 'sockett'"},
	    {"{\"cni\": {\"confdir\": \"/x\"}}", "unknown key 'cni.confdir'"},
	    {"{\"runtimes\": {\"r\": {\"path\": \"/x\", \"opts\": []}}}",
	     "unknown key 'runtimes.r.opts'"},
	    {"{\"registries\": {\"h\": {\"mirror\": []}}}", "unknown key 'registries.h.mirror'"},
	    {"{\"workers\": 0}", "'workers' out of range (0 not in 1..64)"},
	    {"{\"workers\": 65}", "'workers' out of range (65 not in 1..64)"},
	    {"{\"workers\": \"4\"}", "'workers' must be an integer"},
	    {"{\"socket\": \"run/b.sock\"}",
	     "'socket' must be an absolute path (got 'run/b.sock')"},
	    {"{\"state_dir\": \"\"}", "'state_dir' must not be empty"},
	    {"{\"log_level\": \"loud\"}", "bad log_level 'loud'"},
	    {"{\"cgroup_driver\": \"cgroupv3\"}", "bad cgroup_driver 'cgroupv3'"},
	    {"{\"runtimes\": {\"r\": {\"root\": \"/x\"}}}", "'runtimes.r.path' is required"},
	    {"{\"runtimes\": {\"r\": []}}", "'runtimes.r' must be an object"},
	    {"{\"cni\": {\"bin_dirs\": [\"rel\"]}}", "'cni.bin_dirs[0]' must be an absolute path"},
	    {"{\"cni\": {\"conf_template\": \"rel\"}}",
	     "'cni.conf_template' must be an absolute path"},
	    {"{\"cni\": {\"bin_dirs\": \"/x\"}}", "'cni.bin_dirs' must be an array of strings"},
	    {"{\"registries\": {\"h\": {\"insecure\": 1}}}",
	     "'registries.h.insecure' must be a boolean"},
	    {"{\"registries\": {\"h\": {\"mirrors\": [\"ftp://m\"]}}}",
	     "entry 'ftp://m' is not an http(s) URL"},
	    {"{\"stream\": {\"port\": 70000}}",
	     "'stream.port' out of range (70000 not in 0..65535)"},
	    {"{\"seccomp_profile\": \"seccomp.json\"}",
	     "'seccomp_profile' must be an absolute path (got 'seccomp.json')"},
	    {"{\"seccomp_profile\": \"\"}", "'seccomp_profile' must not be empty"},
	    {"{\"log_format\": \"yaml\"}", "bad log_format 'yaml' (text, json)"},
	    {"{\"log_format\": 1}", "'log_format' must be a string"},
	    {"{\"metrics\": {\"port\": 9099}}", "unknown key 'metrics.port'"},
	    {"{\"metrics\": {\"address\": \"\"}}", "'metrics.address' must not be empty"},
	    {"{\"image_pull_progress_timeout\": \"5 minutes\"}",
	     "bad image_pull_progress_timeout '5 minutes'"},
	    {"{\"image_pull_progress_timeout\": \"25h\"}", "at most 24h"},
	    {"{\"image_pull_progress_timeout\": \"-1s\"}", "bad image_pull_progress_timeout"},
	    {"{\"image_pull_progress_timeout\": -1}", "out of range (0-86400 s)"},
	    {"{\"socket_mode\": 660}", "'socket_mode' must be a string of octal digits"},
	    {"{\"socket_mode\": \"0668\"}", "bad socket_mode '0668' (3 or 4 octal digits"},
	    {"{\"socket_mode\": \"1660\"}", "bad socket_mode '1660' (permission bits only"},
	    {"{\"socket_mode\": \"0460\"}", "bad socket_mode '0460' (the owner must keep"},
	    {"{\"socket_group\": \"\"}", "'socket_group' must not be empty"},
	    {"{\"libexec_dir\": 3}", "'libexec_dir' must be a string"},
	    {"{\"socket\": ", "invalid JSON"},
	    {"{} {}", "trailing data"},
	    {"[]", "top level must be an object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct berth_config c;
		cri_config_init(&c);
		_cleanup_berr_ struct berr *e = NULL;
		int r = cri_config_parse(&c, cases[i].json, "t.json", &e);
		if (r != -EINVAL || !e || e->code != EINVAL || !strstr(e->msg, cases[i].msg))
			fail_msg("case %zu '%s': r=%d msg '%s', want '%s'", i, cases[i].json, r,
				 berr_msg(e), cases[i].msg);
		assert_non_null(strstr(e->msg, "config 't.json'"));
		cri_config_done(&c);
	}
}

/* The log lines' targets: strings at a field path, nothing for the rest. */
static void test_msg_string_at(void **state)
{
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	md.name = "c1";
	Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	cfg.metadata = &md;
	Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	req.pod_sandbox_id = "pod1";
	req.config = &cfg;
	const ProtobufCMessage *m = &req.base;
	assert_string_equal(cri_msg_string_at(m, "pod_sandbox_id"), "pod1");
	assert_string_equal(cri_msg_string_at(m, "config.metadata.name"), "c1");
	assert_null(cri_msg_string_at(m, "container_id"));		   /* no such field */
	assert_null(cri_msg_string_at(m, "config"));			   /* a message */
	assert_null(cri_msg_string_at(m, "config.metadata.attempt"));	   /* not a string */
	assert_null(cri_msg_string_at(m, "config.command"));		   /* repeated */
	assert_null(cri_msg_string_at(m, "sandbox_config.metadata.name")); /* unset */
	assert_null(cri_msg_string_at(m, "pod_sandbox_id.x"));
}

static void test_config_observability(void **state)
{
	struct berth_config c;
	cri_config_init(&c);
	assert_int_equal(c.log_format, LOG_FORMAT_TEXT);
	assert_null(c.metrics_address); /* off by default */
	assert_int_equal(c.image_pull_progress_timeout_ms, 5 * 60 * 1000);
	static const struct {
		const char *v;
		int64_t ms;
	} d[] = {{"\"90s\"", 90000},  {"\"1m30s\"", 90000}, {"\"500ms\"", 500},
		 {"\"2h\"", 7200000}, {"\"0\"", 0},	    {"30", 30000}};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		_cleanup_free_ char *j = xasprintf("{\"image_pull_progress_timeout\": %s}", d[i].v);
		assert_int_equal(cri_config_parse(&c, j, "t", NULL), 0);
		assert_int_equal(c.image_pull_progress_timeout_ms, d[i].ms);
	}
	assert_int_equal(cri_config_parse(&c,
					  "{\"log_format\": \"json\", \"metrics\": {\"address\": "
					  "\"127.0.0.1:9099\"}}",
					  "t", NULL),
			 0);
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	assert_string_equal(c.metrics_address, "127.0.0.1:9099");
	/* the JSON form reads back the same */
	_cleanup_free_ char *j = cri_config_to_json(&c);
	struct berth_config b;
	cri_config_init(&b);
	assert_int_equal(cri_config_parse(&b, j, "roundtrip", NULL), 0);
	assert_int_equal(b.log_format, LOG_FORMAT_JSON);
	assert_string_equal(b.metrics_address, "127.0.0.1:9099");
	assert_int_equal(b.image_pull_progress_timeout_ms, 30000);
	cri_config_done(&b);
	cri_config_done(&c);
}

static void test_config_default_runtime_unknown(void **state)
{
	struct berth_config c;
	cri_config_init(&c);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_parse(&c, "{\"default_runtime\": \"kata\"}", "t", &e), 0);
	assert_int_equal(cri_config_finish(&c, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "default_runtime 'kata' is not in 'runtimes'"));
	cri_config_done(&c);
}

static void test_config_stream_tls_pair(void **state)
{
	struct berth_config c;
	cri_config_init(&c);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_parse(&c, "{\"stream\": {\"tls_key\": \"/k.pem\"}}", "t", &e),
			 0);
	assert_int_equal(cri_config_finish(&c, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "(stream.tls_key given alone)"));
	e = berr_free(e);
	assert_int_equal(cri_config_parse(&c, "{\"stream\": {\"tls_cert\": \"/c.pem\"}}", "t", &e),
			 0);
	assert_int_equal(cri_config_finish(&c, &e), 0);
	assert_string_equal(c.stream_tls_cert, "/c.pem");
	e = berr_free(e);
	assert_int_equal(cri_config_parse(&c, "{\"stream\": {\"tls_cert\": \"c.pem\"}}", "t", &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "'stream.tls_cert' must be an absolute path"));
	cri_config_done(&c);
}

static void test_config_load_file(void **state)
{
	_cleanup_free_ char *p = xasprintf("%s/berth.json", tmpdir);
	_cleanup_free_ char *missing = xasprintf("%s/missing.json", tmpdir);
	const char *json = "{\"workers\": 2} // trailing comment\n";
	assert_int_equal(fileio_write_atomic(p, json, strlen(json), 0600, NULL), 0);
	struct berth_config c;
	cri_config_init(&c);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_load(&c, p, false, &e), 0);
	assert_int_equal(c.workers, 2);
	assert_string_equal(c.path, p);
	/* a missing default file is fine, a missing explicit one is not */
	assert_int_equal(cri_config_load(&c, missing, true, &e), 0);
	assert_null(e);
	assert_int_equal(cri_config_load(&c, missing, false, &e), -ENOENT);
	assert_non_null(strstr(e->msg, missing));
	cri_config_done(&c);
}

static void test_config_json_roundtrip(void **state)
{
	struct berth_config a, b;
	cri_config_init(&a);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_parse(&a,
					  "{\"registries\": {\"r.io\": {\"mirrors\": "
					  "[\"https://m.io\"]}}, \"cgroup_driver\": \"systemd\", "
					  "\"seccomp_profile\": \"/s.json\"}",
					  "t", &e),
			 0);
	assert_int_equal(cri_config_finish(&a, &e), 0);
	_cleanup_free_ char *ja = cri_config_to_json(&a);
	cri_config_init(&b);
	assert_int_equal(cri_config_parse(&b, ja, "roundtrip", &e), 0);
	assert_int_equal(cri_config_finish(&b, &e), 0);
	_cleanup_free_ char *jb = cri_config_to_json(&b);
	assert_string_equal(ja, jb);
	assert_non_null(strstr(ja, "\"cgroup_driver\":\"systemd\""));
	assert_non_null(strstr(ja, "\"seccomp_profile\":\"/s.json\""));
	cri_config_done(&a);
	cri_config_done(&b);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	assert_int_equal(fileio_write_atomic(p, text, strlen(text), 0600, NULL), 0);
}

/* Drop-ins apply in byte order of their names over the file: objects merge by key, the
 * later value wins, arrays are replaced; other names are not read. */
static void test_config_dropins_order_and_merge(void **state)
{
	_cleanup_free_ char *root = xasprintf("%s/dropins", tmpdir);
	_cleanup_free_ char *main_path = xasprintf("%s/berth.json", root);
	_cleanup_free_ char *dir = cri_config_dropin_dir(main_path);
	_cleanup_free_ char *want_dir = xasprintf("%s/berth.d", root);
	assert_string_equal(dir, want_dir);
	assert_int_equal(fileio_mkdir_p(dir, 0700, NULL), 0);
	write_file(root, "berth.json",
		   "{\"workers\": 2, \"log_level\": \"warn\", \"registries\": {\"r.io\": "
		   "{\"mirrors\": [\"http://a\", \"http://b\"]}}}");
	write_file(dir, "20-b.json",
		   "{\"log_level\": \"error\", \"registries\": {\"r.io\": {\"insecure\": "
		   "true}, \"q.io\": {\"mirrors\": [\"http://q\"]}}}");
	write_file(dir, "10-a.json",
		   "{\"log_level\": \"debug\", \"workers\": 3, \"registries\": {\"r.io\": "
		   "{\"mirrors\": [\"http://c\"]}}}");
	write_file(dir, "Z-upper.json", "{\"workers\": 5}"); /* byte order: '1' < '2' < 'Z' */
	write_file(dir, ".hidden.json", "{\"workers\": 60}");
	write_file(dir, "30-c.json.dpkg-old", "{\"workers\": 61}");
	write_file(dir, "notes.txt", "not json");
	struct berth_config c;
	cri_config_init(&c);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_load(&c, main_path, false, &e), 0);
	assert_int_equal(cri_config_load_dropins(&c, dir, &e), 0);
	assert_null(e);
	assert_int_equal(cri_config_finish(&c, &e), 0);
	assert_int_equal(c.workers, 5);			/* Z-upper.json last */
	assert_int_equal(c.log_level, LOG_LEVEL_ERROR); /* 20-b after 10-a */
	assert_int_equal(c.n_registries, 2);
	const struct berth_registry *r = &c.registries[0];
	assert_string_equal(r->host, "r.io");
	assert_string_equal(r->mirrors[0], "http://c"); /* the array replaced whole */
	assert_null(r->mirrors[1]);
	assert_true(r->insecure); /* and the object merged by key */
	assert_string_equal(c.registries[1].host, "q.io");
	assert_int_equal(strv_len(c.dropins), 3);
	assert_true(strstr(c.dropins[0], "/10-a.json") && strstr(c.dropins[1], "/20-b.json") &&
		    strstr(c.dropins[2], "/Z-upper.json"));
	assert_string_equal(c.path, main_path);
	cri_config_done(&c);

	/* a bad drop-in names its file and the key; a missing dir is no drop-in */
	write_file(dir, "15-bad.json", "{\"cni\": {\"bin_dirs\": [\"relative\"]}}");
	cri_config_init(&c);
	assert_int_equal(cri_config_load_dropins(&c, dir, &e), -EINVAL);
	_cleanup_free_ char *want = xasprintf("config '%s/15-bad.json': 'cni.bin_dirs[0]' must be "
					      "an absolute path",
					      dir);
	assert_non_null(strstr(e->msg, want));
	assert_int_equal(strv_len(c.dropins), 1); /* 10-a.json applied before it */
	cri_config_done(&c);
	e = berr_free(e);
	cri_config_init(&c);
	_cleanup_free_ char *none = xasprintf("%s/none.d", root);
	assert_int_equal(cri_config_load_dropins(&c, none, &e), 0);
	assert_int_equal(strv_len(c.dropins), 0);
	cri_config_done(&c);
}

static void test_config_socket_group_and_mode(void **state)
{
	struct berth_config c;
	cri_config_init(&c);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_finish(&c, &e), 0);
	assert_string_equal(c.socket_group, "root");
	assert_int_equal(c.socket_gid, 0);
	assert_int_equal(c.socket_mode, 0660);
	assert_int_equal(cri_config_parse(&c,
					  "{\"socket_group\": \"4321\", \"socket_mode\": "
					  "\"640\"}",
					  "t", &e),
			 0);
	assert_int_equal(cri_config_finish(&c, &e), 0);
	assert_int_equal(c.socket_gid, 4321);
	assert_int_equal(c.socket_mode, 0640);
	_cleanup_free_ char *j = cri_config_to_json(&c);
	assert_non_null(strstr(j, "\"socket_group\":\"4321\",\"socket_mode\":\"0640\""));
	assert_int_equal(
	    cri_config_parse(&c, "{\"socket_group\": \"no-such-group-berth\"}", "t", &e), 0);
	assert_int_equal(cri_config_finish(&c, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "socket_group 'no-such-group-berth': no such group"));
	cri_config_done(&c);
}

/* SIGHUP's comparison: log_level applies live, a key without an apply function is
 * counted as waiting for a restart, and the config in effect shows exactly that. */
static void test_config_reload_table(void **state)
{
	struct berth b = {0};
	cri_config_init(&b.cfg);
	assert_int_equal(cri_config_finish(&b.cfg, NULL), 0);
	cri_reload_init(&b);
	log_set_level(LOG_LEVEL_INFO);
	struct berth_config next;
	cri_config_init(&next);
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_config_parse(&next,
					  "{\"log_level\": \"error\", \"workers\": 3, "
					  "\"registries\": {\"r.io\": {\"mirrors\": "
					  "[\"http://m\"]}}, \"stream\": {\"port\": 7}}",
					  "t", &e),
			 0);
	assert_int_equal(cri_config_finish(&next, &e), 0);
	struct cri_reload_result res;
	assert_int_equal(cri_config_reload(&b, &next, &res), 0);
	assert_int_equal(log_get_level(), LOG_LEVEL_ERROR);
	assert_int_equal(res.applied, 2);      /* log_level, registries */
	assert_int_equal(res.need_restart, 2); /* workers, stream.port */
	assert_int_equal(res.failed, 0);
	_cleanup_free_ char *live = cri_config_live_json(&b);
	assert_non_null(strstr(live, "\"log_level\":\"error\""));
	assert_non_null(strstr(live, "\"r.io\":{\"mirrors\":[\"http://m\"]"));
	assert_non_null(strstr(live, "\"workers\":8")); /* still the running value */
	assert_non_null(strstr(live, "\"port\":0"));
	/* the same file again: nothing applied, the restart keys still reported */
	assert_int_equal(cri_config_reload(&b, &next, &res), 0);
	assert_int_equal(res.applied, 0);
	assert_int_equal(res.need_restart, 2);
	log_set_level(LOG_LEVEL_INFO);
	cri_config_done(&next);
	cri_reload_done(&b);
	cri_config_done(&b.cfg);
}

/* --- handlers ----------------------------------------------------------- */

static void berth_init_test(struct berth *b, const char *cni_dir)
{
	*b = (struct berth){0};
	cri_config_init(&b->cfg);
	free(b->cfg.cni_conf_dir);
	b->cfg.cni_conf_dir = xstrdup(cni_dir);
	assert_int_equal(cri_config_finish(&b->cfg, NULL), 0);
}

static void test_handler_version(void **state)
{
	struct berth b;
	berth_init_test(&b, tmpdir);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_version(&b, NULL, &req.base, &resp, &e), 0);
	Runtime__V1__VersionResponse *v = (void *)resp;
	assert_string_equal(v->runtime_name, "berth");
	assert_string_equal(v->runtime_version, BERTH_VERSION);
	assert_string_equal(v->runtime_api_version, "v1");
	assert_string_equal(v->version, "0.1.0");
	cri_msg_free(resp);
	cri_config_done(&b.cfg);
}

static const Runtime__V1__RuntimeCondition *find_cond(const Runtime__V1__StatusResponse *r,
						      const char *type)
{
	for (size_t i = 0; i < r->status->n_conditions; i++)
		if (strcmp(r->status->conditions[i]->type, type) == 0)
			return r->status->conditions[i];
	return NULL;
}

static void test_handler_status_network_ready(void **state)
{
	_cleanup_free_ char *dir = xasprintf("%s/net.d", tmpdir);
	assert_int_equal(fileio_mkdir_p(dir, 0755, NULL), 0);
	struct berth b;
	berth_init_test(&b, dir);
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;

	assert_int_equal(cri_status(&b, NULL, &req.base, &resp, &e), 0);
	Runtime__V1__StatusResponse *r = (void *)resp;
	assert_true(find_cond(r, "RuntimeReady")->status);
	const Runtime__V1__RuntimeCondition *net = find_cond(r, "NetworkReady");
	assert_false(net->status);
	assert_string_equal(net->reason, "NetworkPluginNotReady");
	assert_non_null(strstr(net->message, dir));
	assert_int_equal(r->n_info, 0);
	resp = cri_msg_free(resp);

	/* a file that is not a CNI config doesn't count */
	_cleanup_free_ char *junk = xasprintf("%s/10-junk.conf", dir);
	assert_int_equal(fileio_write_atomic(junk, "[1]", 3, 0644, NULL), 0);
	assert_int_equal(cri_status(&b, NULL, &req.base, &resp, &e), 0);
	assert_false(find_cond((void *)resp, "NetworkReady")->status);
	resp = cri_msg_free(resp);

	/* netns/ loads the lexically first config file, so the valid one sorts first */
	_cleanup_free_ char *conf = xasprintf("%s/05-test.conflist", dir);
	const char *cl = "{\"cniVersion\": \"1.0.0\", \"name\": \"t\", \"plugins\": "
			 "[{\"type\": \"loopback\"}]}";
	assert_int_equal(fileio_write_atomic(conf, cl, strlen(cl), 0644, NULL), 0);
	req.verbose = true;
	assert_int_equal(cri_status(&b, NULL, &req.base, &resp, &e), 0);
	r = (void *)resp;
	assert_true(find_cond(r, "NetworkReady")->status);
	assert_int_equal(r->n_info, 1);
	assert_string_equal(r->info[0]->key, "config");
	struct json_object *o = json_tokener_parse(r->info[0]->value);
	assert_non_null(o);
	struct json_object *cni, *confdir;
	assert_true(json_object_object_get_ex(o, "cni", &cni));
	assert_true(json_object_object_get_ex(cni, "conf_dir", &confdir));
	assert_string_equal(json_object_get_string(confdir), dir);
	json_object_put(o);
	/* the default handler (empty name) and every configured one */
	assert_int_equal(r->n_runtime_handlers, b.cfg.n_runtimes + 1);
	assert_string_equal(r->runtime_handlers[0]->name, "");
	assert_string_equal(r->runtime_handlers[1]->name, "runc");
	/* nothing probed (no runtime): no kernel feature is claimed; the policy is berth's */
	for (size_t i = 0; i < r->n_runtime_handlers; i++) {
		assert_false(r->runtime_handlers[i]->features->recursive_read_only_mounts);
		assert_false(r->runtime_handlers[i]->features->user_namespaces);
	}
	assert_true(r->features->supplemental_groups_policy);
	assert_false(r->features->user_namespaces_host_network);
	cri_msg_free(resp);
	cri_config_done(&b.cfg);
}

static void test_handler_status_runtime_not_ready(void **state)
{
	struct berth b;
	berth_init_test(&b, tmpdir);
	struct berth_runtime *rt = (struct berth_runtime *)cri_config_runtime(&b.cfg, "runc");
	free(rt->path);
	rt->path = xasprintf("%s/no-such-runc", tmpdir);
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_status(&b, NULL, &req.base, &resp, &e), 0);
	const Runtime__V1__RuntimeCondition *c = find_cond((void *)resp, "RuntimeReady");
	assert_false(c->status);
	assert_string_equal(c->reason, "RuntimeNotReady");
	assert_non_null(strstr(c->message, "no-such-runc' is not executable"));
	cri_msg_free(resp);
	cri_config_done(&b.cfg);
}

static void test_handler_runtime_config(void **state)
{
	struct berth b;
	berth_init_test(&b, tmpdir);
	Runtime__V1__RuntimeConfigRequest req = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(cri_runtime_config(&b, NULL, &req.base, &resp, &e), 0);
	assert_int_equal(((Runtime__V1__RuntimeConfigResponse *)resp)->linux->cgroup_driver,
			 RUNTIME__V1__CGROUP_DRIVER__CGROUPFS);
	resp = cri_msg_free(resp);
	b.cfg.cgroup_driver = BERTH_CGROUP_SYSTEMD;
	assert_int_equal(cri_runtime_config(&b, NULL, &req.base, &resp, &e), 0);
	assert_int_equal(((Runtime__V1__RuntimeConfigResponse *)resp)->linux->cgroup_driver,
			 RUNTIME__V1__CGROUP_DRIVER__SYSTEMD);
	cri_msg_free(resp);
	cri_config_done(&b.cfg);
}

static void test_msg_free_owned_tree(void **state)
{
	/* A response per the ownership rule, with nested messages, repeated
	 * strings and a map: cri_msg_free must release all of it (LSan checks). */
	Runtime__V1__ListImagesResponse *r =
	    (void *)cri_msg_new(&runtime__v1__list_images_response__descriptor);
	r->images = xcalloc(2, sizeof(*r->images));
	for (int i = 0; i < 2; i++) {
		Runtime__V1__Image *img = (void *)cri_msg_new(&runtime__v1__image__descriptor);
		img->id = xasprintf("sha256:%d", i);
		img->repo_tags = xcalloc(1, sizeof(char *));
		img->repo_tags[img->n_repo_tags++] = xstrdup("busybox:latest");
		img->uid = (void *)cri_msg_new(&runtime__v1__int64_value__descriptor);
		r->images[r->n_images++] = img;
	}
	assert_null(cri_msg_free(&r->base));
	assert_null(cri_msg_free(NULL));
}

static void test_msg_unpack(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	/* valid */
	Runtime__V1__VersionRequest vr = RUNTIME__V1__VERSION_REQUEST__INIT;
	vr.version = "0.1.0";
	uint8_t buf[64];
	size_t n = protobuf_c_message_pack(&vr.base, buf);
	Runtime__V1__VersionRequest *got =
	    (void *)cri_msg_unpack(&runtime__v1__version_request__descriptor, buf, n, &e);
	assert_non_null(got);
	assert_string_equal(got->version, "0.1.0");
	cri_msg_free(&got->base);
	/* truncated and garbage */
	assert_null(cri_msg_unpack(&runtime__v1__version_request__descriptor, buf, n - 1, &e));
	assert_int_equal(e->code, EINVAL);
	assert_string_equal(e->msg, "invalid VersionRequest payload");
	const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
	assert_null(cri_msg_unpack(&runtime__v1__version_request__descriptor, junk, 5, &e));
	assert_int_equal(e->code, EINVAL);
}

/* CreateContainerRequest{config: ContainerConfig{mounts: [{} x n]}}: two bytes
 * on the wire per mount, a whole Mount struct in memory. */
static uint8_t *many_mounts(size_t n, size_t *ret_len)
{
	size_t body = 2 * n;
	uint8_t *p = xmalloc(body + 16), *o = p;
	*o++ = 0x12; /* field 2 (config), length-delimited */
	for (size_t v = body;; v >>= 7) {
		*o++ = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		if (v <= 0x7f)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		*o++ = 0x3a; /* field 7 (mounts), length-delimited */
		*o++ = 0x00; /* empty Mount */
	}
	*ret_len = (size_t)(o - p);
	return p;
}

static void test_msg_unpack_budget(void **state)
{
	const size_t big = 2 * 1024 * 1024, small = 1000;
	size_t len;
	_cleanup_free_ uint8_t *p = many_mounts(big, &len);
	assert_true(big * sizeof(Runtime__V1__Mount) > CRI_DECODE_BUDGET(len));
	_cleanup_berr_ struct berr *e = NULL;
	assert_null(cri_msg_unpack(&runtime__v1__create_container_request__descriptor, p, len, &e));
	assert_int_equal(e->code, ENOSPC);
	assert_non_null(strstr(e->msg, "CreateContainerRequest of"));
	assert_non_null(strstr(e->msg, "bytes decoded"));
	/* the same shape, small, decodes */
	_cleanup_free_ uint8_t *q = many_mounts(small, &len);
	Runtime__V1__CreateContainerRequest *r =
	    (void *)cri_msg_unpack(&runtime__v1__create_container_request__descriptor, q, len, &e);
	assert_non_null(r);
	assert_int_equal(r->config->n_mounts, small);
	cri_msg_free(&r->base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_methods_match_service_descriptors),
	    cmocka_unit_test(test_methods_streaming_flags_match_proto),
	    cmocka_unit_test(test_methods_find_unknown),
	    cmocka_unit_test(test_methods_implemented_now),
	    cmocka_unit_test(test_status_from_errno_table),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_overrides),
	    cmocka_unit_test(test_config_bad_values),
	    cmocka_unit_test(test_config_observability),
	    cmocka_unit_test(test_msg_string_at),
	    cmocka_unit_test(test_config_default_runtime_unknown),
	    cmocka_unit_test(test_config_stream_tls_pair),
	    cmocka_unit_test(test_config_load_file),
	    cmocka_unit_test(test_config_json_roundtrip),
	    cmocka_unit_test(test_config_dropins_order_and_merge),
	    cmocka_unit_test(test_config_socket_group_and_mode),
	    cmocka_unit_test(test_config_reload_table),
	    cmocka_unit_test(test_handler_version),
	    cmocka_unit_test(test_handler_status_network_ready),
	    cmocka_unit_test(test_handler_status_runtime_not_ready),
	    cmocka_unit_test(test_handler_runtime_config),
	    cmocka_unit_test(test_msg_free_owned_tree),
	    cmocka_unit_test(test_msg_unpack),
	    cmocka_unit_test(test_msg_unpack_budget),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
