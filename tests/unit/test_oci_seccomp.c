/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of oci/seccomp.c: which profile a security context picks, reading
 * profile files, and the translation of docker/moby and OCI profiles into
 * linux.seccomp (table-driven), including the installed default profile. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
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

#define DEFAULT_PROFILE "/usr/share/containers/seccomp.json"

static char *tmpdir;

static int group_setup(void **state)
{
	char tpl[] = "/tmp/berth-test-seccomp-XXXXXX";
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

static const struct oci_seccomp_host host_x86 = {"x86_64", 5, 10};
static char *caps_default[] = {"CAP_CHOWN", "CAP_KILL", "CAP_AUDIT_WRITE", NULL};

/* ---- choose ---- */

static void test_seccomp_choose_table(void **state)
{
	enum { NONE = -1 };
	static const struct {
		const char *path; /* seccomp_profile_path; NULL: unset */
		int type;	  /* seccomp field's profile type; NONE: no field */
		const char *ref;
		bool privileged;
		int want; /* enum oci_seccomp_kind, or -errno */
		const char *want_path, *want_msg;
	} cases[] = {
	    {NULL, NONE, NULL, false, OCI_SECCOMP_UNCONFINED, NULL, NULL},
	    {"", NONE, NULL, false, OCI_SECCOMP_UNCONFINED, NULL, NULL},
	    {"unconfined", NONE, NULL, false, OCI_SECCOMP_UNCONFINED, NULL, NULL},
	    {"runtime/default", NONE, NULL, false, OCI_SECCOMP_RUNTIME_DEFAULT, NULL, NULL},
	    {"docker/default", NONE, NULL, false, OCI_SECCOMP_RUNTIME_DEFAULT, NULL, NULL},
	    {"localhost//p/x.json", NONE, NULL, false, OCI_SECCOMP_LOCALHOST, "/p/x.json", NULL},
	    {"localhost/p/x.json", NONE, NULL, false, -EINVAL, NULL,
	     "seccomp localhost profile 'p/x.json' is not an absolute path"},
	    {"localhost/", NONE, NULL, false, -EINVAL, NULL,
	     "seccomp localhost profile names no file"},
	    {"/p/x.json", NONE, NULL, false, -EINVAL, NULL,
	     "seccomp profile path '/p/x.json' is not 'runtime/default', 'docker/default', "
	     "'unconfined' or 'localhost/<absolute path>'"},
	    {"Unconfined", NONE, NULL, false, -EINVAL, NULL, "seccomp profile path 'Unconfined'"},
	    /* the field beats the deprecated path */
	    {"unconfined", RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault, NULL, false,
	     OCI_SECCOMP_RUNTIME_DEFAULT, NULL, NULL},
	    {"runtime/default", RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined, NULL,
	     false, OCI_SECCOMP_UNCONFINED, NULL, NULL},
	    {"bogus", RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, "/p/y.json", false,
	     OCI_SECCOMP_LOCALHOST, "/p/y.json", NULL},
	    {NULL, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, "localhost//p/y.json",
	     false, OCI_SECCOMP_LOCALHOST, "/p/y.json", NULL},
	    {NULL, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, "y.json", false, -EINVAL,
	     NULL, "seccomp localhost profile 'y.json' is not an absolute path"},
	    {NULL, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, "", false, -EINVAL, NULL,
	     "seccomp localhost profile names no file"},
	    {NULL, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault, "/p/y.json", false,
	     -EINVAL, NULL,
	     "seccomp localhost_ref '/p/y.json' is set but the profile type is not Localhost"},
	    {NULL, 7, NULL, false, -EINVAL, NULL, "unknown seccomp profile type 7"},
	    /* privileged: unconfined, but bad fields are still refused */
	    {"runtime/default", NONE, NULL, true, OCI_SECCOMP_UNCONFINED, NULL, NULL},
	    {NULL, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, "/p/y.json", true,
	     OCI_SECCOMP_UNCONFINED, NULL, NULL},
	    {"/p/x.json", NONE, NULL, true, -EINVAL, NULL, "seccomp profile path '/p/x.json'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Runtime__V1__LinuxContainerSecurityContext sc =
		    RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
		Runtime__V1__SecurityProfile sp = RUNTIME__V1__SECURITY_PROFILE__INIT;
		sc.seccomp_profile_path = (char *)cases[i].path;
		sc.privileged = cases[i].privileged;
		if (cases[i].type != NONE) {
			sp.profile_type = cases[i].type;
			sp.localhost_ref = (char *)(cases[i].ref ? cases[i].ref : "");
			sc.seccomp = &sp;
		}
		_cleanup_berr_ struct berr *e = NULL;
		enum oci_seccomp_kind kind = OCI_SECCOMP_MAX;
		const char *path = NULL;
		int r = oci_seccomp_choose(&sc, &kind, &path, &e);
		if (cases[i].want < 0) {
			if (r != cases[i].want)
				fail_msg("case %zu: got %d, want %d", i, r, cases[i].want);
			if (!strstr(berr_msg(e), cases[i].want_msg))
				fail_msg("case %zu: message '%s'", i, berr_msg(e));
			continue;
		}
		if (r < 0)
			fail_msg("case %zu: %s", i, berr_msg(e));
		assert_int_equal(kind, cases[i].want);
		if (cases[i].want_path)
			assert_string_equal(path, cases[i].want_path);
		else
			assert_null(path);
	}
	/* no security context at all */
	enum oci_seccomp_kind kind = OCI_SECCOMP_MAX;
	assert_int_equal(oci_seccomp_choose(NULL, &kind, NULL, NULL), 0);
	assert_int_equal(kind, OCI_SECCOMP_UNCONFINED);
}

/* ---- translate ---- */

static void translate_expect(size_t i, const char *profile, const struct oci_seccomp_host *h,
			     char *const *caps, const char *want)
{
	_cleanup_berr_ struct berr *e = NULL;
	_cleanup_free_ char *got = NULL;
	if (oci_seccomp_translate(profile, h, caps, &got, &e) < 0)
		fail_msg("case %zu: %s", i, berr_msg(e));
	_cleanup_json_ struct json_object *a = json_tokener_parse(got);
	_cleanup_json_ struct json_object *b = json_tokener_parse(want);
	assert_non_null(a);
	if (!b)
		fail_msg("case %zu: bad expected JSON", i);
	if (!json_object_equal(a, b))
		fail_msg("case %zu: got %s\nwant %s", i, got, want);
}

static void test_seccomp_translate_table(void **state)
{
	static char *caps_admin[] = {"CAP_CHOWN", "CAP_SYS_ADMIN", NULL};
	static const struct oci_seccomp_host arm = {"aarch64", 4, 19};
	static const struct oci_seccomp_host odd = {"pdp11", 6, 1};
	static const struct {
		const char *profile;
		const struct oci_seccomp_host *host;
		char *const *caps;
		const char *want;
	} cases[] = {
	    /* OCI format passes through: architectures, flags, errnoRet, args */
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
	     "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
	     "\"syscalls\":[{\"names\":[\"chmod\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,"
	     "\"args\":[{\"index\":1,\"value\":1,\"valueTwo\":3,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}",
	     &host_x86, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
	     "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
	     "\"syscalls\":[{\"names\":[\"chmod\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,"
	     "\"args\":[{\"index\":1,\"value\":1,\"valueTwo\":3,\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]"
	     "}"},
	    /* critest's profile: no arch, no errnoRet (runc then returns EPERM) */
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"sethostname\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\"}]}",
	     &host_x86, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"sethostname\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\"}]}"},
	    /* old single "name"; defaultErrnoRet; empty and null members */
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,\"architectures\":[],"
	     "\"syscalls\":[{\"name\":\"read\",\"action\":\"SCMP_ACT_ALLOW\",\"args\":null,"
	     "\"includes\":{},\"excludes\":{}}]}",
	     &host_x86, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
	     "\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"}]}"},
	    /* archMap: the host's entry only, with its sub-architectures */
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":["
	     "{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]},"
	     "{\"architecture\":\"SCMP_ARCH_AARCH64\",\"subArchitectures\":[\"SCMP_ARCH_ARM\"]}],"
	     "\"syscalls\":[]}",
	     &arm, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\","
	     "\"architectures\":[\"SCMP_ARCH_AARCH64\",\"SCMP_ARCH_ARM\"],\"syscalls\":[]}"},
	    /* an unknown machine gets no architectures (runc: native only) */
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":["
	     "{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],"
	     "\"syscalls\":[{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\","
	     "\"includes\":{\"arches\":[\"amd64\"]}},"
	     "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ALLOW\","
	     "\"excludes\":{\"arches\":[\"amd64\"]}}]}",
	     &odd, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\","
	     "\"syscalls\":[{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ALLOW\"}]}"},
	    /* arches: includes keep, excludes drop */
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"arm64\"]"
	     "}},"
	     "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"amd64\"]"
	     "}},"
	     "{\"names\":[\"c\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"arches\":[\"arm64\"]"
	     "}},"
	     "{\"names\":[\"d\"],\"action\":\"SCMP_ACT_ALLOW\","
	     "\"excludes\":{\"arches\":[\"amd64\",\"x32\"]}}]}",
	     &arm, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	     "{\"names\":[\"d\"],\"action\":\"SCMP_ACT_ALLOW\"}]}"},
	    /* caps: includes need all, excludes drop on any */
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\","
	     "\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
	     "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ERRNO\","
	     "\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
	     "{\"names\":[\"c\"],\"action\":\"SCMP_ACT_ALLOW\","
	     "\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\",\"CAP_SYS_TIME\"]}},"
	     "{\"names\":[\"d\"],\"action\":\"SCMP_ACT_ALLOW\","
	     "\"excludes\":{\"caps\":[\"CAP_SYS_TIME\",\"CAP_CHOWN\"]}}]}",
	     &host_x86, caps_admin,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\"}]}"},
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\","
	     "\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
	     "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ERRNO\","
	     "\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}}]}",
	     &host_x86, NULL,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ERRNO\"}]}"},
	    /* minKernel: includes need the kernel at least that; excludes the reverse */
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"5."
	     "10\"}},"
	     "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"5."
	     "11\"}},"
	     "{\"names\":[\"c\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"4.20."
	     "1\"}},"
	     "{\"names\":[\"d\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"6.0\"}"
	     "},"
	     "{\"names\":[\"e\"],\"action\":\"SCMP_ACT_ERRNO\",\"excludes\":{\"minKernel\":\"5.3\"}"
	     "},"
	     "{\"names\":[\"f\"],\"action\":\"SCMP_ACT_ERRNO\",\"excludes\":{\"minKernel\":\"6.1\"}"
	     "}]}",
	     &host_x86, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	     "{\"names\":[\"c\"],\"action\":\"SCMP_ACT_ALLOW\"},"
	     "{\"names\":[\"f\"],\"action\":\"SCMP_ACT_ERRNO\"}]}"},
	    /* every condition at once must hold */
	    {"{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"amd64\"]"
	     ","
	     "\"caps\":[\"CAP_KILL\"],\"minKernel\":\"4.0\"},\"excludes\":{\"caps\":[\"CAP_BPF\"]}}"
	     ","
	     "{\"names\":[\"b\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"amd64\"]"
	     ","
	     "\"caps\":[\"CAP_KILL\"],\"minKernel\":\"9.0\"}}]}",
	     &host_x86, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
	     "{\"names\":[\"a\"],\"action\":\"SCMP_ACT_ALLOW\"}]}"},
	    /* a big argument value survives as an unsigned 64-bit number */
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"ioctl\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":5,"
	     "\"value\":18446744073709551615,\"op\":\"SCMP_CMP_EQ\"}]}]}",
	     &host_x86, caps_default,
	     "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"ioctl\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":5,"
	     "\"value\":18446744073709551615,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]}]}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		translate_expect(i, cases[i].profile, cases[i].host, cases[i].caps, cases[i].want);
}

static void test_seccomp_translate_errors(void **state)
{
	static const struct {
		const char *profile;
		int code;
		const char *msg;
	} cases[] = {
	    {"", EINVAL, "invalid JSON at offset 0"},
	    {"{\"defaultAction\": ", EINVAL, "invalid JSON"},
	    {"{} {}", EINVAL, "invalid JSON at offset 3"},
	    {"{} // x", EINVAL, "invalid JSON"},
	    {"[]", EINVAL, "top level is not a JSON object"},
	    {"{}", EINVAL, "'defaultAction' is missing"},
	    {"{\"defaultAction\":1}", EINVAL, "'defaultAction' is not a string"},
	    {"{\"defaultAction\":\"ALLOW\"}", EINVAL,
	     "'defaultAction' 'ALLOW' is not a seccomp action"},
	    {"{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}", EOPNOTSUPP,
	     "'defaultAction' SCMP_ACT_NOTIFY is not supported"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/x.sock\"}", EOPNOTSUPP,
	     "'listenerPath' (seccomp notify) is not supported"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"defaultErrnoRet\":-1}", EINVAL,
	     "'defaultErrnoRet' is not an unsigned integer"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86\"],"
	     "\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\"}]}",
	     EINVAL, "has both 'architectures' and 'archMap'"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":\"x\"}", EINVAL,
	     "'architectures' is not an array of strings"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}}", EINVAL,
	     "'syscalls' is not an array"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[1]}", EINVAL,
	     "syscalls[0] is not an object"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"action\":\"SCMP_ACT_LOG\"}]}",
	     EINVAL, "syscalls[0].names no syscall"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"name\":\"b\",\"action\":\"SCMP_ACT_LOG\"}]}",
	     EINVAL, "syscalls[0].has both 'name' and 'names'"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"\"],"
	     "\"action\":\"SCMP_ACT_LOG\"}]}",
	     EINVAL, "syscalls[0].'names'[0] is not a non-empty string"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"]}]}", EINVAL,
	     "'syscalls[0].action' is missing"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_NOTIFY\"}]}",
	     EOPNOTSUPP, "'syscalls[0].action' SCMP_ACT_NOTIFY is not supported"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":0,"
	     "\"op\":\"SCMP_CMP_EQ\"}]}]}",
	     EINVAL, "syscalls[0].args[0].'index' out of range (6 > 5)"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":0,"
	     "\"op\":\"EQ\"}]}]}",
	     EINVAL, "syscalls[0].args[0].op 'EQ' is not a seccomp comparison"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":-1,"
	     "\"op\":\"SCMP_CMP_EQ\"}]}]}",
	     EINVAL, "syscalls[0].args[0].'value' is not an unsigned integer"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"args\":{}}]}",
	     EINVAL, "syscalls[0].'args' is not an array"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{\"minKernel\":\"new\"}}]}",
	     EINVAL, "syscalls[0].includes.'minKernel' 'new' is not a kernel version"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"excludes\":[]}]}",
	     EINVAL, "syscalls[0].'excludes' is not an object"},
	    {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"a\"],"
	     "\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{\"caps\":[1]}}]}",
	     EINVAL, "syscalls[0].includes.'caps'[0] is not a non-empty string"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_berr_ struct berr *e = NULL;
		_cleanup_free_ char *got = NULL;
		int r = oci_seccomp_translate(cases[i].profile, &host_x86, caps_default, &got, &e);
		if (r != -cases[i].code)
			fail_msg("case %zu: got %d (%s), want %d", i, r, e ? berr_msg(e) : "",
				 -cases[i].code);
		if (!strstr(berr_msg(e), cases[i].msg))
			fail_msg("case %zu: message '%s', want '%s'", i, berr_msg(e), cases[i].msg);
		assert_null(got);
	}
}

static bool rule_has(struct json_object *seccomp, const char *name, const char *action)
{
	struct json_object *sys = NULL;
	if (!json_object_object_get_ex(seccomp, "syscalls", &sys))
		return false;
	for (size_t i = 0; i < json_object_array_length(sys); i++) {
		struct json_object *r = json_object_array_get_idx(sys, i), *n = NULL, *a = NULL;
		json_object_object_get_ex(r, "names", &n);
		json_object_object_get_ex(r, "action", &a);
		if (strcmp(json_object_get_string(a), action) != 0)
			continue;
		for (size_t j = 0; j < json_object_array_length(n); j++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(n, j)), name) ==
			    0)
				return true;
	}
	return false;
}

/* The profile the RuntimeDefault config points at by default (a dependency in
 * scripts/deps.sh): it translates, and its conditions follow the caps. */
static void test_seccomp_translate_installed_default(void **state)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (fileio_read_all(DEFAULT_PROFILE, OCI_SECCOMP_PROFILE_MAX, &text, NULL, &e) < 0)
		fail_msg("%s (install golang-github-containers-common)", berr_msg(e));
	static char *caps_admin[] = {"CAP_CHOWN", "CAP_SYS_ADMIN", NULL};
	_cleanup_free_ char *plain = NULL, *admin = NULL;
	assert_int_equal(oci_seccomp_translate(text, &host_x86, caps_default, &plain, &e), 0);
	assert_int_equal(oci_seccomp_translate(text, &host_x86, caps_admin, &admin, &e), 0);
	_cleanup_json_ struct json_object *p = json_tokener_parse(plain);
	_cleanup_json_ struct json_object *a = json_tokener_parse(admin);
	struct json_object *v = NULL;
	assert_true(json_object_object_get_ex(p, "defaultAction", &v));
	assert_string_equal(json_object_get_string(v), "SCMP_ACT_ERRNO");
	assert_true(json_object_object_get_ex(p, "architectures", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
			    "SCMP_ARCH_X86_64");
	assert_true(rule_has(p, "read", "SCMP_ACT_ALLOW"));
	assert_true(rule_has(p, "arch_prctl", "SCMP_ACT_ALLOW"));	   /* amd64 only */
	assert_false(rule_has(p, "s390_pci_mmio_read", "SCMP_ACT_ALLOW")); /* s390 only */
	assert_false(rule_has(p, "sethostname", "SCMP_ACT_ALLOW"));	   /* needs CAP_SYS_ADMIN */
	assert_true(rule_has(a, "sethostname", "SCMP_ACT_ALLOW"));
	assert_true(rule_has(p, "bpf", "SCMP_ACT_ERRNO"));
	assert_false(rule_has(a, "bpf", "SCMP_ACT_ERRNO"));
	assert_true(rule_has(a, "bpf", "SCMP_ACT_ALLOW"));
}

/* ---- load ---- */

static char *write_tmp(const char *name, const char *data)
{
	char *p = xasprintf("%s/%s", tmpdir, name);
	_cleanup_berr_ struct berr *e = NULL;
	if (fileio_write_atomic(p, data, strlen(data), 0644, &e) < 0)
		fail_msg("%s", berr_msg(e));
	return p;
}

static int load_path(const char *profile_path, const char *default_path,
		     struct oci_seccomp_profile *ret, struct berr **err)
{
	Runtime__V1__LinuxContainerSecurityContext sc =
	    RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
	sc.seccomp_profile_path = (char *)profile_path;
	return oci_seccomp_profile_load(&sc, default_path, ret, err);
}

static void test_seccomp_profile_load(void **state)
{
	_cleanup_free_ char *good =
	    write_tmp("good.json", "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
	_cleanup_free_ char *bad = write_tmp("bad.json", "{\"defaultAction\":");
	_cleanup_free_ char *arr = write_tmp("arr.json", "[1]");
	_cleanup_free_ char *missing = xasprintf("%s/missing.json", tmpdir);
	_cleanup_free_ char *fifo = xasprintf("%s/fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	_cleanup_free_ char *big = xasprintf("%s/big.json", tmpdir);
	{
		_cleanup_close_ int fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, OCI_SECCOMP_PROFILE_MAX + 1), 0);
	}
	struct oci_seccomp_profile p = {0};
	_cleanup_berr_ struct berr *e = NULL;

	/* unconfined reads nothing, even with no default */
	assert_int_equal(load_path("unconfined", NULL, &p, &e), 0);
	assert_int_equal(p.kind, OCI_SECCOMP_UNCONFINED);
	assert_null(p.json);
	assert_null(p.path);
	/* RuntimeDefault reads the default file; Localhost its own */
	assert_int_equal(load_path("runtime/default", good, &p, &e), 0);
	assert_int_equal(p.kind, OCI_SECCOMP_RUNTIME_DEFAULT);
	assert_string_equal(p.path, good);
	assert_string_equal(p.json, "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
	oci_seccomp_profile_done(&p);
	_cleanup_free_ char *ref = xasprintf("localhost/%s", good);
	assert_int_equal(load_path(ref, missing, &p, &e), 0);
	assert_int_equal(p.kind, OCI_SECCOMP_LOCALHOST);
	assert_string_equal(p.path, good);
	oci_seccomp_profile_done(&p);

	static const struct {
		const char *which; /* "default" or a localhost file */
		int code;
		const char *msg;
	} cases[] = {
	    /* the message holds the path and then this */
	    {"default", ENOENT, "' not found"},
	    {"missing", ENOENT, "' not found"},
	    {"bad", EINVAL, "': invalid JSON at offset"},
	    {"arr", EINVAL, "': top level is not a JSON object"},
	    {"fifo", EINVAL, "' is not a regular file"},
	    {"dir", EINVAL, "' is not a regular file"},
	    {"big", E2BIG, "' too large (1048577 > 1048576 bytes)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *file = strcmp(cases[i].which, "default") == 0   ? missing
				   : strcmp(cases[i].which, "missing") == 0 ? missing
				   : strcmp(cases[i].which, "bad") == 0	    ? bad
				   : strcmp(cases[i].which, "arr") == 0	    ? arr
				   : strcmp(cases[i].which, "fifo") == 0    ? fifo
				   : strcmp(cases[i].which, "dir") == 0	    ? tmpdir
									    : big;
		_cleanup_free_ char *loc = xasprintf("localhost/%s", file);
		const char *path = strcmp(cases[i].which, "default") == 0 ? "docker/default" : loc;
		e = berr_free(e);
		p = (struct oci_seccomp_profile){0};
		int r = load_path(path, missing, &p, &e);
		if (r != -cases[i].code)
			fail_msg("case %zu: got %d (%s)", i, r, e ? berr_msg(e) : "");
		_cleanup_free_ char *want = xasprintf("seccomp profile '%s%s", file, cases[i].msg);
		if (!strstr(berr_msg(e), want))
			fail_msg("case %zu: message '%s', want '%s'", i, berr_msg(e), want);
		assert_null(p.json);
		if (strcmp(cases[i].which, "default") == 0)
			assert_non_null(strstr(berr_msg(e), "default seccomp profile (config "
							    "'seccomp_profile'): "));
	}
	/* RuntimeDefault with no default configured; a bad CRI field */
	e = berr_free(e);
	assert_int_equal(load_path("runtime/default", NULL, &p, &e), -ENOENT);
	assert_string_equal(berr_msg(e), "no default seccomp profile is configured");
	e = berr_free(e);
	assert_int_equal(load_path("x.json", good, &p, &e), -EINVAL);
	assert_non_null(strstr(berr_msg(e), "seccomp profile path 'x.json'"));
}

static void test_seccomp_host_detect(void **state)
{
	struct oci_seccomp_host h = {0};
	_cleanup_berr_ struct berr *e = NULL;
	assert_int_equal(oci_seccomp_host_detect(&h, &e), 0);
	assert_true(h.machine[0] != '\0');
	/* seccomp filters with runc need 3.17+; anything running the tests has it */
	assert_true(h.kernel_major >= 4 || (h.kernel_major == 3 && h.kernel_minor >= 17));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seccomp_choose_table),
	    cmocka_unit_test(test_seccomp_translate_table),
	    cmocka_unit_test(test_seccomp_translate_errors),
	    cmocka_unit_test(test_seccomp_translate_installed_default),
	    cmocka_unit_test(test_seccomp_profile_load),
	    cmocka_unit_test(test_seccomp_host_detect),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
