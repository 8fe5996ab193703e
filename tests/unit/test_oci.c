/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of oci/: spec building against golden files, the command/env/
 * workdir rules, user resolution, runtime argv and output parsing, resources,
 * the oom_score_adj clamp, mount/device checks and cgroup helpers.
 * BERTH_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing; review
 * every rewritten file by hand (git diff) before committing it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "oci/oci-internal.h"
#include "oci/oci.h"

/* The tests set the deprecated seccomp_profile_path, which kubelet still sends. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static char *tmpdir;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-oci-XXXXXX";
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

/* ---- fixture: a pod with pinned namespaces and a busybox-like image ---- */

struct fx {
	Runtime__V1__ContainerConfig c;
	Runtime__V1__ContainerMetadata meta;
	Runtime__V1__ImageSpec image;
	Runtime__V1__LinuxContainerConfig lc;
	Runtime__V1__LinuxContainerResources res;
	Runtime__V1__LinuxContainerSecurityContext sc;
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__Capability caps;
	Runtime__V1__PodSandboxConfig p;
	Runtime__V1__LinuxPodSandboxConfig pl;
	Runtime__V1__LinuxSandboxSecurityContext psc;
	Runtime__V1__KeyValue env[4], *envp[4];
	Runtime__V1__Mount mnt[8], *mntp[8];
	Runtime__V1__ContainerConfig__AnnotationsEntry ann, *annp[1];
	Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry sys[3], *sysp[3];
	Runtime__V1__HugepageLimit huge, *hugep[1];
	Runtime__V1__LinuxContainerResources__UnifiedEntry uni, *unip[1];
	struct oci_sandbox_info sb;
	struct oci_image_config img;
	struct oci_runtime_opts opts;
	struct oci_user user;
	uint32_t gids[2];
	struct oci_device dev;
	struct oci_spec_input in;
};

static char *img_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};
static char *img_cmd[] = {"sh", NULL};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	runtime__v1__container_config__init(&f->c);
	runtime__v1__container_metadata__init(&f->meta);
	runtime__v1__image_spec__init(&f->image);
	runtime__v1__linux_container_config__init(&f->lc);
	runtime__v1__linux_container_resources__init(&f->res);
	runtime__v1__linux_container_security_context__init(&f->sc);
	runtime__v1__namespace_option__init(&f->ns);
	runtime__v1__capability__init(&f->caps);
	runtime__v1__pod_sandbox_config__init(&f->p);
	runtime__v1__linux_pod_sandbox_config__init(&f->pl);
	runtime__v1__linux_sandbox_security_context__init(&f->psc);
	f->meta.name = "app";
	f->image.image = "docker.io/library/busybox:latest";
	f->c.metadata = &f->meta;
	f->c.image = &f->image;
	f->c.linux = &f->lc;
	f->lc.resources = &f->res;
	f->lc.security_context = &f->sc;
	f->sc.namespace_options = &f->ns;
	/* kubelet: a PID namespace per container unless shareProcessNamespace */
	f->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	f->p.linux = &f->pl;
	f->pl.security_context = &f->psc;
	f->p.hostname = "pod1";
	f->sb = (struct oci_sandbox_info){
	    .id = "pod1id",
	    .hostname = "pod1",
	    .netns_path = "/run/berth/ns/pod1id/net",
	    .ipcns_path = "/run/berth/ns/pod1id/ipc",
	    .utsns_path = "/run/berth/ns/pod1id/uts",
	    .pidns_path = "/proc/4242/ns/pid",
	    .hostname_file = "/run/berth/pods/pod1id/hostname",
	    .hosts_file = "/run/berth/pods/pod1id/hosts",
	    .resolv_file = "/run/berth/pods/pod1id/resolv.conf",
	    .shm_dir = "/run/berth/pods/pod1id/shm",
	    .cgroup_parent = "/kubepods/pod1",
	};
	f->img = (struct oci_image_config){.env = img_env, .cmd = img_cmd};
	f->opts = (struct oci_runtime_opts){
	    .cgroup_driver = OCI_CGROUP_DRIVER_CGROUPFS,
	    .cgroup_mode = OCI_CGROUP_MODE_HYBRID,
	    .rootfs = "/var/lib/berth/ctr/c1/rootfs",
	    .swap_supported = true,
	};
	f->in = (struct oci_spec_input){
	    .id = "c1",
	    .config = &f->c,
	    .sandbox_config = &f->p,
	    .sandbox = &f->sb,
	    .image = &f->img,
	    .opts = &f->opts,
	    .user = &f->user,
	};
}

static void fx_env(struct fx *f, int i, const char *k, const char *v)
{
	runtime__v1__key_value__init(&f->env[i]);
	f->env[i].key = (char *)k;
	f->env[i].value.data = (uint8_t *)v;
	f->env[i].value.len = strlen(v);
	f->envp[i] = &f->env[i];
	f->c.envs = f->envp;
	f->c.n_envs = (size_t)i + 1;
}

static Runtime__V1__Mount *fx_mount(struct fx *f, int i, const char *host, const char *ctr, bool ro,
				    Runtime__V1__MountPropagation prop)
{
	runtime__v1__mount__init(&f->mnt[i]);
	f->mnt[i].host_path = (char *)host;
	f->mnt[i].container_path = (char *)ctr;
	f->mnt[i].readonly = ro;
	f->mnt[i].propagation = prop;
	f->mntp[i] = &f->mnt[i];
	f->c.mounts = f->mntp;
	f->c.n_mounts = (size_t)i + 1;
	return &f->mnt[i];
}

static struct json_object *build_ok(struct fx *f)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *json = NULL;
	int r = oci_spec_build(&f->in, &json, &e);
	if (r < 0)
		fail_msg("oci_spec_build: %s", berr_msg(e));
	struct json_object *o = json_tokener_parse(json);
	assert_non_null(o);
	return o;
}

static void golden_check(const char *name, struct fx *f)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *json = NULL;
	if (oci_spec_build(&f->in, &json, &e) < 0)
		fail_msg("oci_spec_build: %s", berr_msg(e));
	_cleanup_free_ char *path = xasprintf("%s/%s.json", OCI_GOLDEN_DIR, name);
	if (getenv("BERTH_UPDATE_GOLDEN")) {
		_cleanup_free_ char *data = xasprintf("%s\n", json);
		assert_int_equal(fileio_write_atomic(path, data, strlen(data), 0644, &e), 0);
		return;
	}
	_cleanup_free_ char *want = NULL;
	if (fileio_read_all(path, 1 << 20, &want, NULL, &e) < 0)
		fail_msg("golden %s: %s (BERTH_UPDATE_GOLDEN=1 creates it)", name, berr_msg(e));
	_cleanup_json_ struct json_object *a = json_tokener_parse(json);
	_cleanup_json_ struct json_object *b = json_tokener_parse(want);
	assert_non_null(a);
	assert_non_null(b);
	if (!json_object_equal(a, b))
		fail_msg("spec differs from golden %s; got:\n%s", path, json);
}

static const char *jget(struct json_object *o, const char *path)
{
	/* "process.args.0" style lookup, returns the JSON text of the value. */
	_cleanup_free_ char *p = xstrdup(path);
	char *save = NULL;
	for (char *t = strtok_r(p, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(t));
		else if (!json_object_object_get_ex(o, t, &o))
			o = NULL;
	}
	return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE)
		 : NULL;
}

/* ---- golden specs ---- */

static void test_spec_golden_minimal(void **state)
{
	struct fx f;
	fx_init(&f);
	golden_check("minimal", &f);
}

static void test_spec_golden_full_resources(void **state)
{
	struct fx f;
	fx_init(&f);
	f.res.cpu_shares = 512;
	f.res.cpu_quota = 50000;
	f.res.cpu_period = 100000;
	f.res.cpuset_cpus = "0-1";
	f.res.cpuset_mems = "0";
	f.res.memory_limit_in_bytes = 64 << 20;
	f.res.memory_swap_limit_in_bytes = 128 << 20;
	f.res.oom_score_adj = 500;
	runtime__v1__hugepage_limit__init(&f.huge);
	f.huge.page_size = "2MB";
	f.huge.limit = 4 << 21;
	f.hugep[0] = &f.huge;
	f.res.hugepage_limits = f.hugep;
	f.res.n_hugepage_limits = 1;
	runtime__v1__linux_container_resources__unified_entry__init(&f.uni);
	f.uni.key = "memory.high";
	f.uni.value = "50000000";
	f.unip[0] = &f.uni;
	f.res.unified = f.unip;
	f.res.n_unified = 1;
	f.opts.hugetlb_supported = true;
	f.opts.pids_limit = 1024;
	golden_check("full_resources", &f);
}

static void test_spec_golden_privileged(void **state)
{
	struct fx f;
	fx_init(&f);
	f.sc.privileged = true;
	f.psc.privileged = true;
	static char *all[] = {"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", NULL};
	f.opts.all_caps = all;
	f.dev = (struct oci_device){.host_path = "/dev/fuse",
				    .container_path = "/dev/fuse",
				    .permissions = "rwm",
				    .type = 'c',
				    .major = 10,
				    .minor = 229,
				    .file_mode = 0666};
	f.in.devices = &f.dev;
	f.in.n_devices = 1;
	golden_check("privileged", &f);
}

static void test_spec_golden_host_namespaces(void **state)
{
	struct fx f;
	fx_init(&f);
	f.ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	f.ns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
	f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__NODE;
	f.sb.shm_dir = NULL; /* host IPC: the host's /dev/shm */
	f.sb.hostname = "node1";
	static Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry s[2], *sp[2];
	for (int i = 0; i < 2; i++) {
		runtime__v1__linux_pod_sandbox_config__sysctls_entry__init(&s[i]);
		sp[i] = &s[i];
	}
	s[0].key = "net.ipv4.ip_forward"; /* host network: left out */
	s[0].value = "1";
	s[1].key = "kernel.shmmax"; /* host IPC: left out */
	s[1].value = "1000";
	f.pl.sysctls = sp;
	f.pl.n_sysctls = 2;
	golden_check("host_namespaces", &f);
}

static void test_spec_golden_pod_pidns(void **state)
{
	struct fx f;
	fx_init(&f);
	f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__POD;
	static Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry s[2], *sp[2];
	for (int i = 0; i < 2; i++) {
		runtime__v1__linux_pod_sandbox_config__sysctls_entry__init(&s[i]);
		sp[i] = &s[i];
	}
	s[0].key = "net.ipv4.ping_group_range";
	s[0].value = "0 2147483647";
	s[1].key = "kernel.msgmax";
	s[1].value = "65536";
	f.pl.sysctls = sp;
	f.pl.n_sysctls = 2;
	golden_check("pod_pidns", &f);
}

/* A pod with its own user namespace: joined by path, with its mappings (runc needs
 * them for the host ids of root); the bind sources are the caller's idmapped ones. */
static void test_spec_golden_pod_userns(void **state)
{
	struct fx f;
	fx_init(&f);
	f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__POD;
	f.sb.userns_path = "/run/berth/ns/pod1/user";
	f.sb.uid_host = 131072;
	f.sb.uid_len = 65536;
	f.sb.gid_host = 196608;
	f.sb.gid_len = 1000;
	golden_check("pod_userns", &f);
}

static void test_spec_golden_mounts(void **state)
{
	struct fx f;
	fx_init(&f);
	f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	fx_mount(&f, 0, "/srv/data/a/b", "/data/a/b", false,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
	fx_mount(&f, 1, "/srv/data", "/data", true,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER);
	fx_mount(&f, 2, "/var/lib/kubelet/pods", "/pods", false,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL);
	Runtime__V1__Mount *rro = fx_mount(&f, 3, "/srv/config", "/config", true,
					   RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
	rro->recursive_read_only = true;
	/* overrides the pod's hosts file and the default /dev/mqueue */
	fx_mount(&f, 4, "/srv/hosts", "/etc/hosts", true,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
	fx_mount(&f, 5, "/srv/mq", "/dev/mqueue", false,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
	f.opts.rro_supported = true;
	golden_check("mounts", &f);
}

static void test_spec_golden_readonly_rootfs(void **state)
{
	struct fx f;
	fx_init(&f);
	f.sc.readonly_rootfs = true;
	f.sc.no_new_privs = true;
	f.c.tty = true;
	f.opts.cgroup_driver = OCI_CGROUP_DRIVER_SYSTEMD;
	f.opts.cgroup_mode = OCI_CGROUP_MODE_V2;
	f.sb.cgroup_parent = "kubepods-besteffort-pod1.slice";
	static char *add[] = {"NET_ADMIN", "cap_sys_time"}, *drop[] = {"MKNOD", "CAP_NET_RAW"};
	f.caps.add_capabilities = add;
	f.caps.n_add_capabilities = 2;
	f.caps.drop_capabilities = drop;
	f.caps.n_drop_capabilities = 2;
	f.sc.capabilities = &f.caps;
	static char *masked[] = {"/proc/kcore"}, *ro[] = {"/proc/sys"};
	f.sc.masked_paths = masked;
	f.sc.n_masked_paths = 1;
	f.sc.readonly_paths = ro;
	f.sc.n_readonly_paths = 1;
	f.user = (struct oci_user){
	    .uid = 1000, .gid = 1000, .additional_gids = f.gids, .n_additional_gids = 2};
	f.gids[0] = 10;
	f.gids[1] = 2000;
	runtime__v1__container_config__annotations_entry__init(&f.ann);
	f.ann.key = "example.com/a";
	f.ann.value = "b";
	f.annp[0] = &f.ann;
	f.c.annotations = f.annp;
	f.c.n_annotations = 1;
	golden_check("readonly_rootfs", &f);
}

/* ---- spec rules (tables) ---- */

/* A docker/moby-format profile with every kind of condition; the golden file
 * shows what survives for x86_64, kernel 5.10 and the default capabilities. */
static const char seccomp_docker_profile[] =
    "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 38,"
    " \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\","
    "   \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]},"
    "  {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]}],"
    " \"syscalls\": ["
    "  {\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\", \"comment\": \"\"},"
    "  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\","
    "   \"args\": [{\"index\": 0, \"value\": 4294967295, \"op\": \"SCMP_CMP_EQ\"}]},"
    "  {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ALLOW\","
    "   \"includes\": {\"arches\": [\"amd64\", \"x32\"]}},"
    "  {\"names\": [\"breakpoint\"], \"action\": \"SCMP_ACT_ALLOW\","
    "   \"includes\": {\"arches\": [\"arm\", \"arm64\"]}},"
    "  {\"names\": [\"chown\"], \"action\": \"SCMP_ACT_ALLOW\","
    "   \"includes\": {\"caps\": [\"CAP_CHOWN\"]}},"
    "  {\"names\": [\"bpf\"], \"action\": \"SCMP_ACT_ALLOW\","
    "   \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
    "  {\"names\": [\"bpf\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1,"
    "   \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
    "  {\"names\": [\"clone3\"], \"action\": \"SCMP_ACT_ALLOW\","
    "   \"includes\": {\"minKernel\": \"5.3\"}},"
    "  {\"names\": [\"future_call\"], \"action\": \"SCMP_ACT_ALLOW\","
    "   \"includes\": {\"minKernel\": \"7.0\"}}]}";

static void test_spec_golden_seccomp_runtime_default(void **state)
{
	struct fx f;
	fx_init(&f);
	f.sc.seccomp_profile_path = "runtime/default";
	f.opts.seccomp_host = (struct oci_seccomp_host){"x86_64", 5, 10};
	struct oci_seccomp_profile sp = {OCI_SECCOMP_RUNTIME_DEFAULT,
					 "/usr/share/containers/seccomp.json",
					 (char *)seccomp_docker_profile};
	f.in.seccomp = &sp;
	golden_check("seccomp_runtime_default", &f);
}

static void test_spec_golden_seccomp_localhost(void **state)
{
	struct fx f;
	fx_init(&f);
	/* The new field beats the deprecated one. */
	f.sc.seccomp_profile_path = "unconfined";
	Runtime__V1__SecurityProfile prof = RUNTIME__V1__SECURITY_PROFILE__INIT;
	prof.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
	prof.localhost_ref = "/etc/profiles/block-chmod.json";
	f.sc.seccomp = &prof;
	f.opts.seccomp_host = (struct oci_seccomp_host){"x86_64", 6, 1};
	/* OCI linux.seccomp format, as critest writes it. */
	struct oci_seccomp_profile sp = {
	    OCI_SECCOMP_LOCALHOST, "/etc/profiles/block-chmod.json",
	    "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
	    " \"syscalls\": [{\"names\": [\"chmod\", \"fchmodat\"], \"action\": "
	    "\"SCMP_ACT_ERRNO\"}]}"};
	f.in.seccomp = &sp;
	golden_check("seccomp_localhost", &f);
}

static void test_spec_command_args_table(void **state)
{
	static char *ep[] = {"/entry", "-x", NULL}, *cmd[] = {"cmd1", "cmd2", NULL};
	static char *ccmd[] = {"/bin/app"}, *cargs[] = {"a1", "a2"};
	struct {
		bool img_ep, img_cmd, c_cmd, c_args;
		const char *want; /* JSON of process.args, NULL: EINVAL */
	} t[] = {
	    {true, true, false, false, "[\"/entry\",\"-x\",\"cmd1\",\"cmd2\"]"},
	    {true, true, false, true, "[\"/entry\",\"-x\",\"a1\",\"a2\"]"},
	    {true, true, true, false, "[\"/bin/app\"]"},
	    {true, true, true, true, "[\"/bin/app\",\"a1\",\"a2\"]"},
	    {false, true, false, false, "[\"cmd1\",\"cmd2\"]"},
	    {false, true, false, true, "[\"a1\",\"a2\"]"},
	    {true, false, false, false, "[\"/entry\",\"-x\"]"},
	    {false, false, true, false, "[\"/bin/app\"]"},
	    {false, false, false, true, "[\"a1\",\"a2\"]"},
	    {false, false, false, false, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fx f;
		fx_init(&f);
		f.img.entrypoint = t[i].img_ep ? ep : NULL;
		f.img.cmd = t[i].img_cmd ? cmd : NULL;
		if (t[i].c_cmd) {
			f.c.command = ccmd;
			f.c.n_command = 1;
		}
		if (t[i].c_args) {
			f.c.args = cargs;
			f.c.n_args = 2;
		}
		if (!t[i].want) {
			_cleanup_berr_ struct berr *e = NULL;
			_cleanup_free_ char *json = NULL;
			assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
			assert_string_equal(e->msg, "no command specified");
			continue;
		}
		_cleanup_json_ struct json_object *o = build_ok(&f);
		const char *got = jget(o, "process.args");
		if (strcmp(got, t[i].want) != 0)
			fail_msg("case %zu: args %s, want %s", i, got, t[i].want);
	}
}

static void test_spec_env_merge(void **state)
{
	struct fx f;
	fx_init(&f);
	fx_env(&f, 0, "LANG", "de_DE");
	fx_env(&f, 1, "NEW", "x=y");
	fx_env(&f, 2, "HOSTNAME", "override");
	_cleanup_json_ struct json_object *o = build_ok(&f);
	/* HOSTNAME first, image order kept, overrides in place, new keys last */
	assert_string_equal(
	    jget(o, "process.env"),
	    "[\"HOSTNAME=override\",\"PATH=/usr/bin:/bin\",\"LANG=de_DE\",\"NEW=x=y\"]");

	/* no PATH in the image: the default one */
	struct fx g;
	fx_init(&g);
	static char *env2[] = {"A=1", NULL};
	g.img.env = env2;
	g.sb.hostname = NULL;
	_cleanup_json_ struct json_object *o2 = build_ok(&g);
	assert_string_equal(
	    jget(o2, "process.env"),
	    "[\"A=1\",\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"]");

	/* a bad name */
	struct fx h;
	fx_init(&h);
	fx_env(&h, 0, "A=B", "1");
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *json = NULL;
	assert_int_equal(oci_spec_build(&h.in, &json, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "'A=B'"));
}

static void test_spec_workdir(void **state)
{
	struct {
		const char *cfg, *img, *want;
	} t[] = {
	    {NULL, NULL, "\"/\""},
	    {"", "/img", "\"/img\""},
	    {"/cfg", "/img", "\"/cfg\""},
	    {"rel", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fx f;
		fx_init(&f);
		f.c.working_dir = (char *)(t[i].cfg ? t[i].cfg : "");
		f.img.working_dir = t[i].img;
		if (!t[i].want) {
			_cleanup_berr_ struct berr *e = NULL;
			_cleanup_free_ char *json = NULL;
			assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
			assert_non_null(strstr(e->msg, "'rel' is not absolute"));
			continue;
		}
		_cleanup_json_ struct json_object *o = build_ok(&f);
		assert_string_equal(jget(o, "process.cwd"), t[i].want);
	}
}

static void test_spec_oom_clamp(void **state)
{
	struct {
		int64_t req;
		int floor, want;
	} t[] = {{0, 0, 0},	    {-999, 0, 0},    {-999, -500, -500}, {500, 0, 500},
		 {1000, 900, 1000}, {2000, 0, 1000}, {100, 900, 900},	 {-2000, -1000, -1000}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(oci_oom_score_adj_clamp(t[i].req, t[i].floor), t[i].want);
	struct fx f;
	fx_init(&f);
	f.res.oom_score_adj = -998;
	f.opts.oom_score_adj_min = 300;
	_cleanup_json_ struct json_object *o = build_ok(&f);
	assert_string_equal(jget(o, "process.oomScoreAdj"), "300");
}

static void test_spec_caps_all(void **state)
{
	struct fx f;
	fx_init(&f);
	static char *drop_all[] = {"ALL"}, *add[] = {"KILL"};
	f.caps.drop_capabilities = drop_all;
	f.caps.n_drop_capabilities = 1;
	f.caps.add_capabilities = add;
	f.caps.n_add_capabilities = 1;
	f.sc.capabilities = &f.caps;
	_cleanup_json_ struct json_object *o = build_ok(&f);
	assert_string_equal(jget(o, "process.capabilities.bounding"), "[\"CAP_KILL\"]");

	static char *add_all[] = {"all"}, *drop[] = {"SYS_ADMIN"};
	static char *host[] = {"CAP_SYS_ADMIN", "CAP_NET_ADMIN", NULL};
	struct fx g;
	fx_init(&g);
	g.caps.add_capabilities = add_all;
	g.caps.n_add_capabilities = 1;
	g.caps.drop_capabilities = drop;
	g.caps.n_drop_capabilities = 1;
	g.sc.capabilities = &g.caps;
	g.opts.all_caps = host;
	_cleanup_json_ struct json_object *o2 = build_ok(&g);
	assert_string_equal(jget(o2, "process.capabilities.effective"), "[\"CAP_NET_ADMIN\"]");

	struct fx h;
	fx_init(&h);
	static char *bad[] = {"NOT_A_CAP"};
	h.caps.add_capabilities = bad;
	h.caps.n_add_capabilities = 1;
	h.sc.capabilities = &h.caps;
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *json = NULL;
	assert_int_equal(oci_spec_build(&h.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "unknown capability 'NOT_A_CAP' to add");
}

static void test_spec_errors(void **state)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *json = NULL;
	/* privileged container in an unprivileged pod */
	struct fx f;
	fx_init(&f);
	f.sc.privileged = true;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "privileged container in a non-privileged sandbox");
	/* POD network without a pinned path */
	fx_init(&f);
	f.sb.netns_path = NULL;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "sandbox has no network namespace path");
	/* TARGET pid without the target's path */
	fx_init(&f);
	f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "target container"));
	f.sb.target_pidns_path = "/proc/77/ns/pid";
	_cleanup_json_ struct json_object *o = build_ok(&f);
	assert_string_equal(jget(o, "linux.namespaces.0"),
			    "{\"type\":\"pid\",\"path\":\"/proc/77/ns/pid\"}");
	/* relative mount source, rro without support, rro read-write */
	fx_init(&f);
	fx_mount(&f, 0, "rel", "/x", false, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "mount source 'rel' is not absolute");
	fx_init(&f);
	fx_mount(&f, 0, "/a", "/x", true, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
	    ->recursive_read_only = true;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EOPNOTSUPP);
	f.opts.rro_supported = true;
	f.mnt[0].readonly = false;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "recursive read-only mount '/x' must be read-only");
	/* seccomp: a Localhost profile without a file; one not loaded by the caller;
	 * a profile path without the localhost/ prefix; a bad loaded profile */
	fx_init(&f);
	Runtime__V1__SecurityProfile sp = RUNTIME__V1__SECURITY_PROFILE__INIT;
	sp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
	f.sc.seccomp = &sp;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "seccomp localhost profile names no file");
	e = berr_free(e);
	sp.localhost_ref = "/p.json";
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "the container's seccomp profile was not loaded");
	e = berr_free(e);
	struct oci_seccomp_profile bad = {OCI_SECCOMP_LOCALHOST, "/p.json",
					  "{\"defaultAction\": \"SCMP_ACT_NOPE\"}"};
	f.in.seccomp = &bad;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "seccomp profile '/p.json': 'defaultAction' 'SCMP_ACT_NOPE' "
				    "is not a seccomp action");
	e = berr_free(e);
	fx_init(&f);
	f.sc.seccomp_profile_path = "/p.json";
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "'localhost/<absolute path>'"));
	/* privileged: unconfined, whatever the profile (none is needed) */
	fx_init(&f);
	f.sc.seccomp_profile_path = "runtime/default";
	f.sc.privileged = true;
	f.psc.privileged = true;
	_cleanup_json_ struct json_object *po = build_ok(&f);
	assert_null(jget(po, "linux.seccomp"));
	/* systemd driver needs a slice */
	fx_init(&f);
	f.opts.cgroup_driver = OCI_CGROUP_DRIVER_SYSTEMD;
	assert_int_equal(oci_spec_build(&f.in, &json, &e), -EINVAL);
	assert_string_equal(e->msg, "cgroup parent '/kubepods/pod1' is not a systemd slice");
}

static void test_spec_new_namespaces_hostname(void **state)
{
	/* Namespace mode CONTAINER everywhere (no pod): new namespaces, and the
	 * spec sets the hostname of the new UTS namespace. */
	struct fx f;
	fx_init(&f);
	f.ns.network = f.ns.ipc = f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	f.sb = (struct oci_sandbox_info){.hostname = "solo"};
	_cleanup_json_ struct json_object *o = build_ok(&f);
	assert_string_equal(jget(o, "hostname"), "\"solo\"");
	assert_string_equal(jget(o, "linux.namespaces"),
			    "[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
			    "{\"type\":\"uts\"},{\"type\":\"mount\"}]");
	assert_string_equal(jget(o, "linux.cgroupsPath"), "\"/berth/c1\"");
	/* joined UTS: no spec hostname (the pod set it) */
	struct fx g;
	fx_init(&g);
	_cleanup_json_ struct json_object *o2 = build_ok(&g);
	assert_null(jget(o2, "hostname"));
}

static void test_exec_process_build(void **state)
{
	struct fx f;
	fx_init(&f);
	f.c.tty = true;
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *spec = NULL, *proc = NULL;
	assert_int_equal(oci_spec_build(&f.in, &spec, &e), 0);
	char *argv[] = {"cat", "/etc/hostname", NULL};
	assert_int_equal(oci_exec_process_build(spec, argv, &proc, &e), 0);
	_cleanup_json_ struct json_object *o = json_tokener_parse(proc);
	assert_string_equal(jget(o, "args"), "[\"cat\",\"/etc/hostname\"]");
	assert_string_equal(jget(o, "terminal"), "false");
	assert_string_equal(jget(o, "cwd"), "\"/\"");
	assert_non_null(jget(o, "capabilities.bounding"));
	char *none[] = {NULL};
	assert_int_equal(oci_exec_process_build(spec, none, &proc, &e), -EINVAL);
	assert_int_equal(oci_exec_process_build("{}", argv, &proc, &e), -EPROTO);
}

/* ---- resources ---- */

/* Update semantics (containerd's WithResources): set fields win, zero keeps,
 * hugepage limits and unified entries merge by key. */
static void test_resources_merge(void **state)
{
	Runtime__V1__LinuxContainerResources cur = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	Runtime__V1__LinuxContainerResources upd = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	Runtime__V1__HugepageLimit h2 = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
	Runtime__V1__HugepageLimit h1 = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
	Runtime__V1__HugepageLimit h2b = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
	h2.page_size = "2MB";
	h2.limit = 10;
	h1.page_size = "1GB";
	h1.limit = 0;
	h2b.page_size = "2MB";
	h2b.limit = 20;
	Runtime__V1__HugepageLimit *cur_h[] = {&h2, &h1}, *upd_h[] = {&h2b};
	cur.hugepage_limits = cur_h;
	cur.n_hugepage_limits = 2;
	upd.hugepage_limits = upd_h;
	upd.n_hugepage_limits = 1;
	cur.cpu_shares = 512;
	cur.memory_limit_in_bytes = 1000;
	cur.memory_swap_limit_in_bytes = 3000;
	cur.cpuset_cpus = "0-1";
	cur.oom_score_adj = 500;
	upd.cpu_quota = 50000;
	upd.cpuset_mems = "0";
	Runtime__V1__LinuxContainerResources *m = oci_resources_merge(&cur, &upd, -999);
	assert_int_equal(m->cpu_shares, 512);
	assert_int_equal(m->cpu_quota, 50000);
	assert_int_equal(m->memory_limit_in_bytes, 1000);
	assert_int_equal(m->memory_swap_limit_in_bytes, 3000); /* no new limit: swap kept */
	assert_string_equal(m->cpuset_cpus, "0-1");
	assert_string_equal(m->cpuset_mems, "0");
	assert_int_equal(m->oom_score_adj, 500);
	assert_int_equal(m->n_hugepage_limits, 2);
	assert_string_equal(m->hugepage_limits[0]->page_size, "2MB");
	assert_int_equal(m->hugepage_limits[0]->limit, 20);
	assert_string_equal(m->hugepage_limits[1]->page_size, "1GB");
	protobuf_c_message_free_unpacked(&m->base, NULL);
	/* a new memory limit without swap: swap follows the limit (0 = same) */
	upd.memory_limit_in_bytes = 2000;
	upd.oom_score_adj = -1000; /* clamped at the floor */
	m = oci_resources_merge(&cur, &upd, -999);
	assert_int_equal(m->memory_limit_in_bytes, 2000);
	assert_int_equal(m->memory_swap_limit_in_bytes, 0);
	assert_int_equal(m->oom_score_adj, -999);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	/* nothing before: the request itself, unset oom_score_adj clamped as the spec does */
	m = oci_resources_merge(NULL, &upd, 10);
	assert_int_equal(m->cpu_shares, 0);
	assert_int_equal(m->memory_limit_in_bytes, 2000);
	assert_int_equal(m->oom_score_adj, 10);
	assert_string_equal(m->cpuset_cpus, "");
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void test_resources_build(void **state)
{
	Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	struct oci_runtime_opts o = {.swap_supported = true};
	_cleanup_berr_ struct berr *e = NULL;
	struct {
		int64_t limit, swap;
		bool swap_ok;
		const char *want;
	} t[] = {
	    {0, 0, true, "{}"},
	    {1000, 0, true, "{\"memory\":{\"limit\":1000,\"swap\":1000}}"},
	    {1000, 3000, true, "{\"memory\":{\"limit\":1000,\"swap\":3000}}"},
	    {1000, -1, true, "{\"memory\":{\"limit\":1000,\"swap\":-1}}"},
	    {1000, 3000, false, "{\"memory\":{\"limit\":1000}}"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		r.memory_limit_in_bytes = t[i].limit;
		r.memory_swap_limit_in_bytes = t[i].swap;
		o.swap_supported = t[i].swap_ok;
		_cleanup_free_ char *json = NULL;
		assert_int_equal(oci_resources_build(&r, &o, &json, &e), 0);
		if (strcmp(json, t[i].want) != 0)
			fail_msg("case %zu: %s, want %s", i, json, t[i].want);
	}
	/* cpu, hugepages dropped without hugetlb, oom_score_adj not updatable */
	r = (Runtime__V1__LinuxContainerResources)RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	r.cpu_shares = 2;
	r.cpu_quota = -1;
	r.cpuset_cpus = "1";
	r.oom_score_adj = 100;
	Runtime__V1__HugepageLimit h = RUNTIME__V1__HUGEPAGE_LIMIT__INIT, *hp = &h;
	h.page_size = "1GB";
	r.hugepage_limits = &hp;
	r.n_hugepage_limits = 1;
	_cleanup_free_ char *json = NULL;
	assert_int_equal(oci_resources_build(&r, &o, &json, &e), 0);
	assert_string_equal(json, "{\"cpu\":{\"shares\":2,\"quota\":-1,\"cpus\":\"1\"}}");
	free(json);
	o.hugetlb_supported = true;
	assert_int_equal(oci_resources_build(&r, &o, &json, &e), 0);
	assert_string_equal(json, "{\"cpu\":{\"shares\":2,\"quota\":-1,\"cpus\":\"1\"},"
				  "\"hugepageLimits\":[{\"pageSize\":\"1GB\",\"limit\":0}]}");
	free(json);
	json = NULL;
	r.cpu_shares = -5;
	assert_int_equal(oci_resources_build(&r, &o, &json, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "negative"));
}

/* ---- user resolution ---- */

static char *fake_rootfs(const char *name, const char *passwd, const char *group)
{
	char *root = xasprintf("%s/%s", tmpdir, name);
	_cleanup_free_ char *etc = xasprintf("%s/etc", root);
	assert_int_equal(fileio_mkdir_p(etc, 0755, NULL), 0);
	if (passwd) {
		_cleanup_free_ char *p = xasprintf("%s/passwd", etc);
		assert_int_equal(fileio_write_atomic(p, passwd, strlen(passwd), 0644, NULL), 0);
	}
	if (group) {
		_cleanup_free_ char *p = xasprintf("%s/group", etc);
		assert_int_equal(fileio_write_atomic(p, group, strlen(group), 0644, NULL), 0);
	}
	return root;
}

static void test_user_resolve_table(void **state)
{
	_cleanup_free_ char *root =
	    fake_rootfs("users",
			"root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\n"
			"app:x:1000:1001::/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
			"root:x:0:\nwheel:x:10:root,app\nstaff:x:50:app\napp:x:1001:\n"
			"other:x:60:appx,bob\n");
	Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT,
				gid = RUNTIME__V1__INT64_VALUE__INIT;
	struct {
		int64_t uid, gid; /* -1: unset */
		const char *username, *image_user;
		int64_t supp; /* -1: none */
		bool strict;
		int code; /* 0 or -errno */
		uint32_t want_uid, want_gid;
		const char *want_gids; /* "10,50" */
		const char *msg;
	} t[] = {
	    {-1, -1, NULL, NULL, -1, false, 0, 0, 0, "0,10", NULL},
	    {-1, -1, NULL, "", -1, false, 0, 0, 0, "0,10", NULL},
	    {-1, -1, NULL, "app", -1, false, 0, 1000, 1001, "1001,10,50", NULL},
	    {-1, -1, NULL, "1000", -1, false, 0, 1000, 1001, "1001,10,50", NULL},
	    {-1, -1, NULL, "1000:60", -1, false, 0, 1000, 60, "60,10,50", NULL},
	    {-1, -1, NULL, "app:staff", 7, false, 0, 1000, 50, "50,10,7", NULL},
	    {-1, -1, NULL, "4242", -1, false, 0, 4242, 0, "0", NULL},
	    {-1, -1, NULL, "4242:wheel", -1, false, 0, 4242, 10, "10", NULL},
	    {1000, -1, NULL, "nobody", -1, false, 0, 1000, 1001, "1001,10,50", NULL},
	    {1000, 5, NULL, NULL, 10, true, 0, 1000, 5, "5,10", NULL},
	    {0, -1, "app", NULL, -1, false, 0, 1000, 1001, "1001,10,50", NULL},
	    {-1, -1, "nobody", "app", -1, false, 0, 65534, 65534, "65534", NULL},
	    {-1, -1, NULL, "ghost", -1, false, -ENOENT, 0, 0, NULL,
	     "user 'ghost' not found in the image's /etc/passwd"},
	    {-1, -1, NULL, "app:ghosts", -1, false, -ENOENT, 0, 0, NULL,
	     "group 'ghosts' not found in the image's /etc/group"},
	    {-1, 5, NULL, "app", -1, false, -EINVAL, 0, 0, NULL,
	     "run_as_group is specified without a user"},
	    {-1, -1, NULL, "app:", -1, false, -EINVAL, 0, 0, NULL, "invalid user 'app:'"},
	    {-2, -1, NULL, NULL, -1, false, -EINVAL, 0, 0, NULL, "run_as_user -2 out of range"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		Runtime__V1__LinuxContainerSecurityContext sc =
		    RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
		int64_t supp = t[i].supp;
		if (t[i].uid != -1) {
			uid.value = t[i].uid;
			sc.run_as_user = &uid;
		}
		if (t[i].gid != -1) {
			gid.value = t[i].gid;
			sc.run_as_group = &gid;
		}
		sc.run_as_username = (char *)(t[i].username ? t[i].username : "");
		if (supp >= 0) {
			sc.supplemental_groups = &supp;
			sc.n_supplemental_groups = 1;
		}
		if (t[i].strict)
			sc.supplemental_groups_policy =
			    RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
		struct oci_user_request req = {
		    .rootfs = root, .sc = &sc, .image_user = t[i].image_user};
		struct oci_user u;
		_cleanup_berr_ struct berr *e = NULL;
		int r = oci_user_resolve(&req, &u, &e);
		if (r != t[i].code)
			fail_msg("case %zu: r=%d (%s), want %d", i, r, berr_msg(e), t[i].code);
		if (r < 0) {
			assert_string_equal(e->msg, t[i].msg);
			continue;
		}
		char gids[128] = "";
		for (size_t k = 0; k < u.n_additional_gids; k++)
			snprintf(gids + strlen(gids), sizeof(gids) - strlen(gids), "%s%u",
				 k ? "," : "", u.additional_gids[k]);
		if (u.uid != t[i].want_uid || u.gid != t[i].want_gid ||
		    strcmp(gids, t[i].want_gids) != 0)
			fail_msg("case %zu: %u:%u [%s], want %u:%u [%s]", i, u.uid, u.gid, gids,
				 t[i].want_uid, t[i].want_gid, t[i].want_gids);
		oci_user_done(&u);
	}
	/* the pod's Strict applies to a container that leaves the default (Merge) */
	Runtime__V1__LinuxContainerSecurityContext sc =
	    RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
	int64_t supp = 7;
	sc.supplemental_groups = &supp;
	sc.n_supplemental_groups = 1;
	struct oci_user u;
	struct oci_user_request req = {.rootfs = root, .sc = &sc, .image_user = "app"};
	assert_int_equal(oci_user_resolve(&req, &u, NULL), 0);
	assert_int_equal(u.n_additional_gids, 4); /* 1001, 10, 50, 7 */
	oci_user_done(&u);
	req.pod_strict = true;
	assert_int_equal(oci_user_resolve(&req, &u, NULL), 0);
	assert_int_equal(u.n_additional_gids, 2);
	assert_int_equal(u.additional_gids[0], 1001);
	assert_int_equal(u.additional_gids[1], 7);
	oci_user_done(&u);
}

static void test_user_resolve_stays_in_rootfs(void **state)
{
	/* /etc/passwd is a symlink to an absolute path: it must resolve inside the
	 * rootfs, never to the host's file. */
	_cleanup_free_ char *root = fake_rootfs("escape", NULL, NULL);
	_cleanup_free_ char *inner = xasprintf("%s/inner", root);
	assert_int_equal(fileio_mkdir_p(inner, 0755, NULL), 0);
	_cleanup_free_ char *ip = xasprintf("%s/passwd", inner);
	const char *pw = "svc:x:77:88::/:/bin/sh\n";
	assert_int_equal(fileio_write_atomic(ip, pw, strlen(pw), 0644, NULL), 0);
	_cleanup_free_ char *link = xasprintf("%s/etc/passwd", root);
	assert_int_equal(symlink("/inner/passwd", link), 0);
	_cleanup_free_ char *ig = xasprintf("%s/group", inner);
	const char *gr = "grp:x:99:svc\n";
	assert_int_equal(fileio_write_atomic(ig, gr, strlen(gr), 0644, NULL), 0);
	/* ".." above the rootfs stays at the rootfs, as it would in the container */
	_cleanup_free_ char *glink = xasprintf("%s/etc/group", root);
	assert_int_equal(symlink("../../../../../../../inner/group", glink), 0);
	struct oci_user_request req = {.rootfs = root, .image_user = "svc"};
	struct oci_user u;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_user_resolve(&req, &u, &e), 0);
	assert_int_equal(u.uid, 77);
	assert_int_equal(u.gid, 88);
	assert_int_equal(u.n_additional_gids, 2);
	assert_int_equal(u.additional_gids[0], 88);
	assert_int_equal(u.additional_gids[1], 99);
	oci_user_done(&u);
	/* "root" exists in the host's /etc/passwd but not in this image */
	req.image_user = "root";
	assert_int_equal(oci_user_resolve(&req, &u, &e), -ENOENT);
	assert_string_equal(e->msg, "user 'root' not found in the image's /etc/passwd");
	/* a symlink loop is an error, not a hang or a host file */
	assert_int_equal(unlink(glink), 0);
	assert_int_equal(symlink("/etc/group", glink), 0);
	req.image_user = "svc";
	assert_int_equal(oci_user_resolve(&req, &u, &e), -ELOOP);
	assert_non_null(strstr(e->msg, "'/etc/group'"));
}

static void test_runtime_argv_table(void **state)
{
	char *extra[] = {"--debug", NULL};
	struct oci_runtime_handler plain = {.path = "/usr/bin/runc"};
	struct oci_runtime_handler full = {.path = "/usr/sbin/crun",
					   .root = "/run/berth/runc",
					   .systemd_cgroup = true,
					   .extra_args = extra};
	struct {
		const struct oci_runtime_handler *h;
		struct oci_runtime_args a;
		const char *want; /* space-joined; NULL: EINVAL */
	} t[] = {
	    {&full,
	     {.cmd = OCI_RUNTIME_CMD_CREATE,
	      .id = "c1",
	      .bundle = "/b",
	      .pid_file = "/b/pid",
	      .console_socket = "/b/tty.sock",
	      .log_path = "/b/log.json"},
	     "/usr/sbin/crun --root /run/berth/runc --log /b/log.json --log-format json "
	     "--systemd-cgroup --debug create --bundle /b --pid-file /b/pid --console-socket "
	     "/b/tty.sock c1"},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_START, .id = "c1"}, "/usr/bin/runc start c1"},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_STATE, .id = "c1"}, "/usr/bin/runc state c1"},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_KILL, .id = "c1"}, "/usr/bin/runc kill c1 15"},
	    {&plain,
	     {.cmd = OCI_RUNTIME_CMD_KILL, .id = "c1", .signal = 9, .all = true},
	     "/usr/bin/runc kill --all c1 9"},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_DELETE, .id = "c1"}, "/usr/bin/runc delete c1"},
	    {&plain,
	     {.cmd = OCI_RUNTIME_CMD_DELETE, .id = "c1", .force = true},
	     "/usr/bin/runc delete --force c1"},
	    {&plain,
	     {.cmd = OCI_RUNTIME_CMD_EXEC,
	      .id = "c1",
	      .process_path = "/p.json",
	      .pid_file = "/pid",
	      .detach = true},
	     "/usr/bin/runc exec --process /p.json --pid-file /pid --detach c1"},
	    {&plain,
	     {.cmd = OCI_RUNTIME_CMD_UPDATE, .id = "c1", .resources_path = "-"},
	     "/usr/bin/runc update --resources - c1"},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_PAUSE, .id = "c1"}, "/usr/bin/runc pause c1"},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_RESUME, .id = "c1"}, "/usr/bin/runc resume c1"},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_START, .id = "-rf"}, NULL},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_START, .id = ""}, NULL},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_CREATE, .id = "c1"}, NULL},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_EXEC, .id = "c1"}, NULL},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_UPDATE, .id = "c1"}, NULL},
	    {&plain, {.cmd = OCI_RUNTIME_CMD_MAX, .id = "c1"}, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		_cleanup_berr_ struct berr *e = NULL;
		_cleanup_strv_ char **v = oci_runtime_argv(t[i].h, &t[i].a, &e);
		if (!t[i].want) {
			assert_null(v);
			assert_int_equal(e->code, EINVAL);
			continue;
		}
		assert_non_null(v);
		char buf[512] = "";
		for (char **p = v; *p; p++)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
				 p == v ? "" : " ", *p);
		if (strcmp(buf, t[i].want) != 0)
			fail_msg("case %zu: '%s', want '%s'", i, buf, t[i].want);
	}
	_cleanup_strv_ char **g = oci_runtime_global_argv(&full, "/b/log.json");
	assert_string_equal(g[0], "/usr/sbin/crun");
	assert_string_equal(g[6], "json");
	assert_string_equal(g[7], "--systemd-cgroup");
	assert_string_equal(g[8], "--debug");
	assert_null(g[9]);
	/* no path: "runc" from PATH */
	struct oci_runtime_handler none = {0};
	struct oci_runtime_args a = {.cmd = OCI_RUNTIME_CMD_START, .id = "x"};
	_cleanup_strv_ char **v = oci_runtime_argv(&none, &a, NULL);
	assert_string_equal(v[0], "runc");
}

static void test_state_parse_table(void **state)
{
	struct {
		const char *json;
		int code;
		enum oci_status st;
		pid_t pid;
	} t[] = {
	    {"{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"pid\":4711,\"status\":\"running\","
	     "\"bundle\":\"/b\",\"rootfs\":\"/"
	     "r\",\"created\":\"2026-11-23T10:00:00Z\",\"owner\":\"\"}",
	     0, OCI_STATUS_RUNNING, 4711},
	    {"{\"pid\":12,\"status\":\"created\"}", 0, OCI_STATUS_CREATED, 12},
	    {"{\"pid\":12,\"status\":\"paused\"}", 0, OCI_STATUS_PAUSED, 12},
	    {"{\"pid\":0,\"status\":\"stopped\"}", 0, OCI_STATUS_STOPPED, 0},
	    {"{\"pid\":99,\"status\":\"stopped\"}", 0, OCI_STATUS_STOPPED, 0},
	    {"{\"status\":\"creating\"}", 0, OCI_STATUS_CREATING, 0},
	    {"{\"pid\":1,\"status\":\"zombie\"}", -EPROTO, 0, 0},
	    {"{\"pid\":\"1\",\"status\":\"running\"}", -EPROTO, 0, 0},
	    {"{\"pid\":-1,\"status\":\"running\"}", -EPROTO, 0, 0},
	    {"not json", -EPROTO, 0, 0},
	    {"", -EPROTO, 0, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct oci_state s = {0};
		_cleanup_berr_ struct berr *e = NULL;
		int r = oci_state_parse(t[i].json, &s, &e);
		if (r != t[i].code)
			fail_msg("case %zu: r=%d (%s)", i, r, berr_msg(e));
		if (r == 0) {
			assert_int_equal(s.status, t[i].st);
			assert_int_equal(s.pid, t[i].pid);
		}
	}
	assert_string_equal(oci_status_name(OCI_STATUS_PAUSED), "paused");
	assert_string_equal(oci_status_name(OCI_STATUS_MAX), "unknown");
}

static void test_runtime_error_text(void **state)
{
	struct {
		const char *in, *want;
	} t[] = {
	    {"", NULL},
	    {"\n\n", NULL},
	    {"container \"x\" does not exist\n", "container \"x\" does not exist"},
	    {"first\nsecond\n", "second"},
	    {"{\"level\":\"info\",\"msg\":\"hi\",\"time\":\"t\"}\n"
	     "{\"level\":\"error\",\"msg\":\"runc create failed: unable to "
	     "start\",\"time\":\"t\"}\n"
	     "{\"level\":\"warning\",\"msg\":\"later\",\"time\":\"t\"}\n",
	     "runc create failed: unable to start"},
	    {"{\"level\":\"info\",\"msg\":\"only info\"}\nplain tail\n", "plain tail"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		_cleanup_free_ char *got = oci_runtime_error_text(t[i].in);
		if (!t[i].want)
			assert_null(got);
		else
			assert_string_equal(got, t[i].want);
	}
}

/* ---- filesystem checks ---- */

static void test_mounts_validate(void **state)
{
	struct fx f;
	fx_init(&f);
	_cleanup_berr_ struct berr *e = NULL;
	fx_mount(&f, 0, tmpdir, "/data", false,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
	assert_int_equal(oci_mounts_validate(&f.c, NULL, &e), 0);
	_cleanup_free_ char *missing = xasprintf("%s/no-such-dir", tmpdir);
	fx_mount(&f, 1, missing, "/missing", false,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
	assert_int_equal(oci_mounts_validate(&f.c, NULL, &e), -ENOENT);
	_cleanup_free_ char *want =
	    xasprintf("mount source '%s' for '/missing' does not exist", missing);
	assert_string_equal(e->msg, want);

	/* propagation needs the source's mount to be shared (or slave) */
	_cleanup_free_ char *mi_path = xasprintf("%s/mountinfo", tmpdir);
	_cleanup_free_ char *mi = xasprintf("1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
					    "2 1 0:5 / %s rw,relatime - tmpfs tmpfs rw\n",
					    tmpdir);
	assert_int_equal(fileio_write_atomic(mi_path, mi, strlen(mi), 0644, NULL), 0);
	fx_init(&f);
	fx_mount(&f, 0, "/", "/host", false,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL);
	assert_int_equal(oci_mounts_validate(&f.c, mi_path, &e), 0);
	fx_mount(&f, 1, tmpdir, "/t", false,
		 RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER);
	assert_int_equal(oci_mounts_validate(&f.c, mi_path, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "not on a shared or slave mount"));
}

static void test_devices_resolve(void **state)
{
	Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT, *dp = &d;
	c.devices = &dp;
	c.n_devices = 1;
	d.host_path = "/dev/null";
	d.container_path = "/dev/mynull";
	d.permissions = "rw";
	struct oci_device *v = NULL;
	size_t n = 0;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_devices_resolve(&c, false, &v, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].container_path, "/dev/mynull");
	assert_int_equal(v[0].type, 'c');
	assert_int_equal(v[0].major, 1);
	assert_int_equal(v[0].minor, 3);
	assert_string_equal(v[0].permissions, "rw");
	oci_devices_free(v, n);

	d.host_path = tmpdir;
	assert_int_equal(oci_devices_resolve(&c, false, &v, &n, &e), -EINVAL);
	d.host_path = "/dev/berth-no-such-device";
	assert_int_equal(oci_devices_resolve(&c, false, &v, &n, &e), -ENOENT);
	assert_string_equal(e->msg, "device '/dev/berth-no-such-device' does not exist");
	d.host_path = "/dev/null";
	d.permissions = "rwx";
	assert_int_equal(oci_devices_resolve(&c, false, &v, &n, &e), -EINVAL);

	/* privileged: the host's devices, the CRI one kept once */
	d.permissions = "";
	d.container_path = "/dev/null";
	assert_int_equal(oci_devices_resolve(&c, true, &v, &n, &e), 0);
	size_t nulls = 0;
	bool zero = false;
	for (size_t i = 0; i < n; i++) {
		nulls += strcmp(v[i].container_path, "/dev/null") == 0;
		zero = zero || strcmp(v[i].container_path, "/dev/zero") == 0;
		assert_true(strncmp(v[i].container_path, "/dev/pts/", 9) != 0);
	}
	assert_int_equal(nulls, 1);
	assert_true(zero);
	oci_devices_free(v, n);
}

/* ---- cgroups ---- */

static void test_cgroups_path_table(void **state)
{
	struct {
		enum oci_cgroup_driver d;
		const char *parent, *id, *want;
	} t[] = {
	    {OCI_CGROUP_DRIVER_CGROUPFS, "/kubepods/burstable/pod1", "c1",
	     "/kubepods/burstable/pod1/c1"},
	    {OCI_CGROUP_DRIVER_CGROUPFS, "/kubepods/", "c1", "/kubepods/c1"},
	    {OCI_CGROUP_DRIVER_CGROUPFS, NULL, "c1", "/berth/c1"},
	    {OCI_CGROUP_DRIVER_CGROUPFS, "/", "c1", "/c1"},
	    {OCI_CGROUP_DRIVER_CGROUPFS, "kubepods", "c1", NULL},
	    {OCI_CGROUP_DRIVER_CGROUPFS, "/a/../b", "c1", NULL},
	    {OCI_CGROUP_DRIVER_CGROUPFS, "/a", "../c1", NULL},
	    {OCI_CGROUP_DRIVER_SYSTEMD, "kubepods-pod1.slice", "c1",
	     "kubepods-pod1.slice:berth:c1"},
	    {OCI_CGROUP_DRIVER_SYSTEMD, "/kubepods.slice/kubepods-pod1.slice", "c1",
	     "kubepods-pod1.slice:berth:c1"},
	    {OCI_CGROUP_DRIVER_SYSTEMD, NULL, "c1", "system.slice:berth:c1"},
	    {OCI_CGROUP_DRIVER_SYSTEMD, "kubepods", "c1", NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		_cleanup_free_ char *got = NULL;
		_cleanup_berr_ struct berr *e = NULL;
		int r = oci_cgroups_path(t[i].d, t[i].parent, t[i].id, &got, &e);
		if (!t[i].want) {
			assert_int_equal(r, -EINVAL);
			continue;
		}
		assert_int_equal(r, 0);
		assert_string_equal(got, t[i].want);
	}
}

static void test_cgroup_oom_kills(void **state)
{
	/* A fake cgroup tree: v2 memory.events, v1 memory.oom_control, and a
	 * systemd scope under nested slices. */
	_cleanup_free_ char *root = xasprintf("%s/cgroot", tmpdir);
	struct {
		const char *dir, *file, *text;
	} files[] = {
	    {"kubepods/pod1/c1", "memory.events",
	     "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 0\n"},
	    {"memory/kubepods/pod1/c1", "memory.oom_control",
	     "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"},
	    {"memory/old/c1", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"},
	    {"kubepods.slice/kubepods-pod1.slice/berth-c1.scope", "memory.events",
	     "oom 1\noom_kill 2\n"},
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", root, files[i].dir);
		_cleanup_free_ char *p = xasprintf("%s/%s", d, files[i].file);
		assert_int_equal(fileio_mkdir_p(d, 0755, NULL), 0);
		assert_int_equal(
		    fileio_write_atomic(p, files[i].text, strlen(files[i].text), 0644, NULL), 0);
	}
	uint64_t n = 99;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_cgroup_oom_kills(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_CGROUPFS,
					      "/kubepods/pod1/c1", &n, &e),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(oci_cgroup_oom_kills(root, OCI_CGROUP_MODE_HYBRID,
					      OCI_CGROUP_DRIVER_CGROUPFS, "/kubepods/pod1/c1", &n,
					      &e),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(oci_cgroup_oom_kills(root, OCI_CGROUP_MODE_V1, OCI_CGROUP_DRIVER_CGROUPFS,
					      "/old/c1", &n, &e),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(oci_cgroup_oom_kills(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_SYSTEMD,
					      "kubepods-pod1.slice:berth:c1", &n, &e),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(oci_cgroup_oom_kills(root, OCI_CGROUP_MODE_V2, OCI_CGROUP_DRIVER_CGROUPFS,
					      "/gone", &n, &e),
			 -ENOENT);

	enum oci_cgroup_mode m;
	assert_int_equal(oci_cgroup_mode_detect(root, &m, &e), 0);
	assert_int_equal(m, OCI_CGROUP_MODE_V1); /* a plain dir, no cgroup2 below */
	assert_int_equal(oci_cgroup_mode_detect(NULL, &m, &e), 0);
	assert_true(m < OCI_CGROUP_MODE_MAX);
}

static void test_self_facts(void **state)
{
	int adj = -5000;
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_oom_score_adj_self(&adj, &e), 0);
	assert_true(adj >= -1000 && adj <= 1000);
	_cleanup_strv_ char **caps = NULL;
	assert_int_equal(oci_caps_bounding_self(&caps, &e), 0);
	/* root's bounding set always holds CAP_CHOWN */
	assert_string_equal(caps[0], "CAP_CHOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_golden_minimal),
	    cmocka_unit_test(test_spec_golden_full_resources),
	    cmocka_unit_test(test_spec_golden_privileged),
	    cmocka_unit_test(test_spec_golden_host_namespaces),
	    cmocka_unit_test(test_spec_golden_pod_pidns),
	    cmocka_unit_test(test_spec_golden_pod_userns),
	    cmocka_unit_test(test_spec_golden_mounts),
	    cmocka_unit_test(test_spec_golden_readonly_rootfs),
	    cmocka_unit_test(test_spec_golden_seccomp_runtime_default),
	    cmocka_unit_test(test_spec_golden_seccomp_localhost),
	    cmocka_unit_test(test_spec_command_args_table),
	    cmocka_unit_test(test_spec_env_merge),
	    cmocka_unit_test(test_spec_workdir),
	    cmocka_unit_test(test_spec_oom_clamp),
	    cmocka_unit_test(test_spec_caps_all),
	    cmocka_unit_test(test_spec_errors),
	    cmocka_unit_test(test_spec_new_namespaces_hostname),
	    cmocka_unit_test(test_exec_process_build),
	    cmocka_unit_test(test_resources_build),
	    cmocka_unit_test(test_resources_merge),
	    cmocka_unit_test(test_user_resolve_table),
	    cmocka_unit_test(test_user_resolve_stays_in_rootfs),
	    cmocka_unit_test(test_runtime_argv_table),
	    cmocka_unit_test(test_state_parse_table),
	    cmocka_unit_test(test_runtime_error_text),
	    cmocka_unit_test(test_mounts_validate),
	    cmocka_unit_test(test_devices_resolve),
	    cmocka_unit_test(test_cgroups_path_table),
	    cmocka_unit_test(test_cgroup_oom_kills),
	    cmocka_unit_test(test_self_facts),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
