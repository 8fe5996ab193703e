/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp.c - which seccomp profile a container gets, reading it, and its
 * translation into the OCI linux.seccomp object runc loads (runc compiles the
 * filter with libseccomp; nothing here talks to the kernel's seccomp). */
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/strv.h"
#include "oci/oci-internal.h"

#define LOCALHOST_PREFIX "localhost/"

/* ---- choosing ---- */

static int choose_localhost(const char *ref, enum oci_seccomp_kind *ret_kind, const char **ret_path,
			    struct berr **err)
{
	/* containerd trims a stray prefix from localhost_ref as well. */
	if (strncmp(ref, LOCALHOST_PREFIX, strlen(LOCALHOST_PREFIX)) == 0)
		ref += strlen(LOCALHOST_PREFIX);
	if (ref[0] == '\0')
		return berr_set(err, EINVAL, "seccomp localhost profile names no file");
	if (ref[0] != '/')
		return berr_set(err, EINVAL,
				"seccomp localhost profile '%s' is not an absolute path", ref);
	*ret_kind = OCI_SECCOMP_LOCALHOST;
	*ret_path = ref;
	return 0;
}

static int choose_field(const Runtime__V1__SecurityProfile *sp, enum oci_seccomp_kind *ret_kind,
			const char **ret_path, struct berr **err)
{
	const char *ref = sp->localhost_ref ? sp->localhost_ref : "";
	if (sp->profile_type != RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost && ref[0])
		return berr_set(err, EINVAL,
				"seccomp localhost_ref '%s' is set but the profile type is not "
				"Localhost",
				ref);
	switch (sp->profile_type) {
	case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
		*ret_kind = OCI_SECCOMP_RUNTIME_DEFAULT;
		return 0;
	case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
		*ret_kind = OCI_SECCOMP_UNCONFINED;
		return 0;
	case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
		return choose_localhost(ref, ret_kind, ret_path, err);
	default:
		return berr_set(err, EINVAL, "unknown seccomp profile type %d",
				(int)sp->profile_type);
	}
}

static int choose_path(const char *path, enum oci_seccomp_kind *ret_kind, const char **ret_path,
		       struct berr **err)
{
	if (path[0] == '\0' || strcmp(path, "unconfined") == 0) {
		*ret_kind = OCI_SECCOMP_UNCONFINED;
		return 0;
	}
	if (strcmp(path, "runtime/default") == 0 || strcmp(path, "docker/default") == 0) {
		*ret_kind = OCI_SECCOMP_RUNTIME_DEFAULT;
		return 0;
	}
	if (strncmp(path, LOCALHOST_PREFIX, strlen(LOCALHOST_PREFIX)) != 0)
		return berr_set(err, EINVAL,
				"seccomp profile path '%s' is not 'runtime/default', "
				"'docker/default', 'unconfined' or 'localhost/<absolute path>'",
				path);
	return choose_localhost(path, ret_kind, ret_path, err);
}

/* The deprecated field is what kubelet and critest still send; reading it is
 * the point, so its deprecation warning is silenced for this one access. */
static const char *profile_path_of(const Runtime__V1__LinuxContainerSecurityContext *sc)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	return sc->seccomp_profile_path;
#pragma GCC diagnostic pop
}

int oci_seccomp_choose(const Runtime__V1__LinuxContainerSecurityContext *sc,
		       enum oci_seccomp_kind *ret_kind, const char **ret_path, struct berr **err)
{
	enum oci_seccomp_kind kind = OCI_SECCOMP_UNCONFINED;
	const char *path = NULL;
	int r = 0;
	if (sc && sc->seccomp)
		r = choose_field(sc->seccomp, &kind, &path, err);
	else if (sc && profile_path_of(sc))
		r = choose_path(profile_path_of(sc), &kind, &path, err);
	if (r < 0)
		return r;
	/* As containerd and CRI-O: a privileged container gets no filter. */
	if (sc && sc->privileged) {
		kind = OCI_SECCOMP_UNCONFINED;
		path = NULL;
	}
	*ret_kind = kind;
	if (ret_path)
		*ret_path = path;
	return 0;
}

/* ---- reading ---- */

void oci_seccomp_profile_done(struct oci_seccomp_profile *p)
{
	free(p->path);
	free(p->json);
	*p = (struct oci_seccomp_profile){0};
}

/* Reads a regular file of at most OCI_SECCOMP_PROFILE_MAX bytes. O_NONBLOCK
 * so that a FIFO given as a profile fails the type check instead of blocking
 * a worker in open(). */
static int read_profile(const char *path, char **ret, struct berr **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return berr_set(err, ENOENT, "seccomp profile '%s' not found", path);
	if (fd < 0)
		return berr_set_errno(err, errno, "open seccomp profile '%s'", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berr_set_errno(err, errno, "stat seccomp profile '%s'", path);
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "seccomp profile '%s' is not a regular file", path);
	if (st.st_size > (off_t)OCI_SECCOMP_PROFILE_MAX)
		return berr_set(err, E2BIG, "seccomp profile '%s' too large (%lld > %u bytes)",
				path, (long long)st.st_size, OCI_SECCOMP_PROFILE_MAX);
	size_t cap = (size_t)st.st_size + 1, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap + 1);
	/* Read to EOF: the file may have grown since the fstat. */
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set_errno(err, errno, "read seccomp profile '%s'", path);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > OCI_SECCOMP_PROFILE_MAX)
			return berr_set(err, E2BIG, "seccomp profile '%s' too large (> %u bytes)",
					path, OCI_SECCOMP_PROFILE_MAX);
		if (len == cap) {
			cap = cap * 2 > OCI_SECCOMP_PROFILE_MAX + 1 ? OCI_SECCOMP_PROFILE_MAX + 1
								    : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	buf[len] = '\0';
	if (strlen(buf) != len)
		return berr_set(err, EINVAL, "seccomp profile '%s' contains a NUL byte", path);
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Parses text as one JSON object (strict mode: no comments, nothing after it). */
static int parse_object(const char *text, struct json_object **ret, struct berr **err)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		xalloc_die();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	_cleanup_json_ struct json_object *o = json_tokener_parse_ex(tok, text, -1);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success)
		return berr_set(err, EINVAL, "invalid JSON at offset %zu: %s", off,
				json_tokener_error_desc(jerr));
	if (!json_object_is_type(o, json_type_object))
		return berr_set(err, EINVAL, "top level is not a JSON object");
	*ret = TAKE_PTR(o);
	return 0;
}

int oci_seccomp_profile_load(const Runtime__V1__LinuxContainerSecurityContext *sc,
			     const char *default_path, struct oci_seccomp_profile *ret,
			     struct berr **err)
{
	enum oci_seccomp_kind kind;
	const char *path = NULL;
	int r = oci_seccomp_choose(sc, &kind, &path, err);
	if (r < 0)
		return r;
	if (kind == OCI_SECCOMP_UNCONFINED) {
		*ret = (struct oci_seccomp_profile){.kind = kind};
		return 0;
	}
	if (kind == OCI_SECCOMP_RUNTIME_DEFAULT) {
		if (!default_path || !default_path[0])
			return berr_set(err, ENOENT, "no default seccomp profile is configured");
		path = default_path;
	}
	_cleanup_free_ char *json = NULL;
	r = read_profile(path, &json, err);
	if (r < 0) {
		if (kind == OCI_SECCOMP_RUNTIME_DEFAULT)
			berr_wrap(err, "default seccomp profile (config 'seccomp_profile')");
		return r;
	}
	_cleanup_json_ struct json_object *o = NULL;
	r = parse_object(json, &o, err);
	if (r < 0)
		return berr_wrap(err, "seccomp profile '%s'", path);
	*ret = (struct oci_seccomp_profile){
	    .kind = kind, .path = xstrdup(path), .json = TAKE_PTR(json)};
	return 0;
}

/* ---- translating ---- */

/* uname machine -> libseccomp's architecture and the name profiles use in
 * includes/excludes "arches" (libseccomp-golang's ScmpArch.String(), which
 * moby and containers/common compare against). */
struct arch_names {
	const char *machine;
	const char *scmp;
	const char *name;
};

static const struct arch_names arch_table[] = {
    {"x86_64", "SCMP_ARCH_X86_64", "amd64"},
    {"i386", "SCMP_ARCH_X86", "x86"},
    {"i486", "SCMP_ARCH_X86", "x86"},
    {"i586", "SCMP_ARCH_X86", "x86"},
    {"i686", "SCMP_ARCH_X86", "x86"},
    {"aarch64", "SCMP_ARCH_AARCH64", "arm64"},
    {"armv6l", "SCMP_ARCH_ARM", "arm"},
    {"armv7l", "SCMP_ARCH_ARM", "arm"},
    {"armv8l", "SCMP_ARCH_ARM", "arm"},
    {"ppc64le", "SCMP_ARCH_PPC64LE", "ppc64le"},
    {"ppc64", "SCMP_ARCH_PPC64", "ppc64"},
    {"s390x", "SCMP_ARCH_S390X", "s390x"},
    {"riscv64", "SCMP_ARCH_RISCV64", "riscv64"},
    {"mips64", "SCMP_ARCH_MIPS64", "mips64"},
    {"loongarch64", "SCMP_ARCH_LOONGARCH64", "loong64"},
};

static const struct arch_names *arch_of(const char *machine)
{
	for (size_t i = 0; i < sizeof(arch_table) / sizeof(arch_table[0]); i++)
		if (strcmp(arch_table[i].machine, machine) == 0)
			return &arch_table[i];
	return NULL;
}

static const char *const seccomp_actions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",	       "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",	       NULL};

static const char *const seccomp_ops[] = {"SCMP_CMP_NE",	"SCMP_CMP_LT", "SCMP_CMP_LE",
					  "SCMP_CMP_EQ",	"SCMP_CMP_GE", "SCMP_CMP_GT",
					  "SCMP_CMP_MASKED_EQ", NULL};

static bool in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* A string member, or NULL when absent; -EINVAL when not a string. */
static int get_str(struct json_object *o, const char *key, const char *where, const char **ret,
		   struct berr **err)
{
	struct json_object *v = NULL;
	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return berr_set(err, EINVAL, "%s'%s' is not a string", where, key);
	*ret = json_object_get_string(v);
	return 0;
}

/* An unsigned integer member; *ret_set false when absent. */
static int get_uint(struct json_object *o, const char *key, const char *where, uint64_t max,
		    uint64_t *ret, bool *ret_set, struct berr **err)
{
	struct json_object *v = NULL;
	*ret_set = false;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return berr_set(err, EINVAL, "%s'%s' is not an unsigned integer", where, key);
	uint64_t n = json_object_get_uint64(v);
	if (n > max)
		return berr_set(err, EINVAL, "%s'%s' out of range (%llu > %llu)", where, key,
				(unsigned long long)n, (unsigned long long)max);
	*ret = n;
	*ret_set = true;
	return 0;
}

/* An array of non-empty strings, or NULL when absent. */
static int get_strs(struct json_object *o, const char *key, const char *where,
		    struct json_object **ret, struct berr **err)
{
	struct json_object *v = NULL;
	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return berr_set(err, EINVAL, "%s'%s' is not an array of strings", where, key);
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *s = json_object_array_get_idx(v, i);
		if (!json_object_is_type(s, json_type_string) || !json_object_get_string_len(s))
			return berr_set(err, EINVAL, "%s'%s'[%zu] is not a non-empty string", where,
					key, i);
	}
	*ret = v;
	return 0;
}

static bool strs_has(struct json_object *a, const char *s)
{
	for (size_t i = 0; a && s && i < json_object_array_length(a); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)), s) == 0)
			return true;
	return false;
}

/* "4.8" (a third component is ignored) -> 4, 8. */
static int parse_kernel(const char *s, const char *where, unsigned *major, unsigned *minor,
			struct berr **err)
{
	int n = -1;
	if (sscanf(s, "%3u.%3u%n", major, minor, &n) != 2 || n < 0 ||
	    (s[n] != '\0' && s[n] != '.') || s[0] < '0' || s[0] > '9')
		return berr_set(err, EINVAL, "%s'minKernel' '%s' is not a kernel version", where,
				s);
	return 0;
}

static bool kernel_at_least(const struct oci_seccomp_host *h, unsigned major, unsigned minor)
{
	return h->kernel_major > major || (h->kernel_major == major && h->kernel_minor >= minor);
}

/* The conditions of one rule: includes (all must hold) and excludes (none may
 * hold), as moby's setupSeccomp and containers/common's. */
static int rule_applies(struct json_object *rule, const char *where,
			const struct oci_seccomp_host *host, char *const *caps, bool *ret,
			struct berr **err)
{
	const struct arch_names *arch = arch_of(host->machine);
	const char *arch_name = arch ? arch->name : NULL;
	bool ok = true;
	for (int inc = 1; inc >= 0; inc--) {
		const char *key = inc ? "includes" : "excludes";
		struct json_object *c = NULL;
		if (!json_object_object_get_ex(rule, key, &c) ||
		    json_object_is_type(c, json_type_null))
			continue;
		if (!json_object_is_type(c, json_type_object))
			return berr_set(err, EINVAL, "%s'%s' is not an object", where, key);
		_cleanup_free_ char *w = xasprintf("%s%s.", where, key);
		struct json_object *arches = NULL, *rcaps = NULL;
		const char *mk = NULL;
		int r = get_strs(c, "arches", w, &arches, err);
		if (r == 0)
			r = get_strs(c, "caps", w, &rcaps, err);
		if (r == 0)
			r = get_str(c, "minKernel", w, &mk, err);
		if (r < 0)
			return r;
		if (arches && json_object_array_length(arches) &&
		    strs_has(arches, arch_name) != inc)
			ok = false;
		for (size_t i = 0; rcaps && i < json_object_array_length(rcaps); i++) {
			const char *cap =
			    json_object_get_string(json_object_array_get_idx(rcaps, i));
			if (strv_contains(caps, cap) != inc)
				ok = false;
		}
		if (mk && mk[0]) {
			unsigned major = 0, minor = 0;
			r = parse_kernel(mk, w, &major, &minor, err);
			if (r < 0)
				return r;
			if (kernel_at_least(host, major, minor) != inc)
				ok = false;
		}
	}
	*ret = ok;
	return 0;
}

static int translate_args(struct json_object *args, const char *where, struct json_object *out,
			  struct berr **err)
{
	if (!json_object_is_type(args, json_type_array))
		return berr_set(err, EINVAL, "%s'args' is not an array", where);
	size_t n = json_object_array_length(args);
	if (n == 0)
		return 0;
	struct json_object *oa = json_object_new_array();
	json_object_object_add(out, "args", oa);
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(args, i);
		_cleanup_free_ char *w = xasprintf("%sargs[%zu].", where, i);
		if (!json_object_is_type(a, json_type_object))
			return berr_set(err, EINVAL, "%.*s is not an object", (int)strlen(w) - 1,
					w);
		uint64_t index = 0, value = 0, value2 = 0;
		bool has_index, has_value, has_value2;
		const char *op = NULL;
		int r = get_uint(a, "index", w, 5, &index, &has_index, err);
		if (r == 0)
			r = get_uint(a, "value", w, UINT64_MAX, &value, &has_value, err);
		if (r == 0)
			r = get_uint(a, "valueTwo", w, UINT64_MAX, &value2, &has_value2, err);
		if (r == 0)
			r = get_str(a, "op", w, &op, err);
		if (r < 0)
			return r;
		if (!op || !in_list(seccomp_ops, op))
			return berr_set(err, EINVAL, "%sop '%s' is not a seccomp comparison", w,
					op ? op : "");
		struct json_object *o = json_object_new_object();
		json_object_array_add(oa, o);
		json_object_object_add(o, "index", json_object_new_uint64(index));
		json_object_object_add(o, "value", json_object_new_uint64(value));
		json_object_object_add(o, "valueTwo", json_object_new_uint64(value2));
		oci_json_str(o, "op", op);
	}
	return 0;
}

/* label names the field in messages ("defaultAction", "syscalls[3].action"). */
static int check_action(const char *action, const char *label, struct berr **err)
{
	if (!action || !action[0])
		return berr_set(err, EINVAL, "'%s' is missing", label);
	if (strcmp(action, "SCMP_ACT_NOTIFY") == 0)
		return berr_set(err, EOPNOTSUPP, "'%s' SCMP_ACT_NOTIFY is not supported", label);
	if (!in_list(seccomp_actions, action))
		return berr_set(err, EINVAL, "'%s' '%s' is not a seccomp action", label, action);
	return 0;
}

/* One syscalls[] entry: appended to out when its conditions hold. */
static int translate_rule(struct json_object *rule, size_t idx, const struct oci_seccomp_host *host,
			  char *const *caps, struct json_object *out, struct berr **err)
{
	_cleanup_free_ char *w = xasprintf("syscalls[%zu].", idx);
	if (!json_object_is_type(rule, json_type_object))
		return berr_set(err, EINVAL, "syscalls[%zu] is not an object", idx);
	struct json_object *names = NULL, *args = NULL;
	const char *name = NULL, *action = NULL;
	uint64_t errno_ret = 0;
	bool has_errno_ret;
	int r = get_strs(rule, "names", w, &names, err);
	if (r == 0)
		r = get_str(rule, "name", w, &name, err);
	if (r == 0)
		r = get_str(rule, "action", w, &action, err);
	if (r == 0)
		r = get_uint(rule, "errnoRet", w, UINT32_MAX, &errno_ret, &has_errno_ret, err);
	if (r < 0)
		return r;
	if (name && names)
		return berr_set(err, EINVAL, "%shas both 'name' and 'names'", w);
	if ((!name || !name[0]) && (!names || json_object_array_length(names) == 0))
		return berr_set(err, EINVAL, "%snames no syscall", w);
	_cleanup_free_ char *label = xasprintf("%saction", w);
	r = check_action(action, label, err);
	if (r < 0)
		return r;
	bool applies = false;
	r = rule_applies(rule, w, host, caps, &applies, err);
	if (r < 0 || !applies)
		return r;
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *on = json_object_new_array();
	json_object_object_add(o, "names", on);
	if (name) {
		json_object_array_add(on, json_object_new_string(name));
	} else {
		for (size_t i = 0; i < json_object_array_length(names); i++)
			json_object_array_add(on,
					      json_object_get(json_object_array_get_idx(names, i)));
	}
	oci_json_str(o, "action", action);
	if (has_errno_ret)
		json_object_object_add(o, "errnoRet", json_object_new_uint64(errno_ret));
	if (json_object_object_get_ex(rule, "args", &args) &&
	    !json_object_is_type(args, json_type_null)) {
		r = translate_args(args, w, o, err);
		if (r < 0)
			return r;
	}
	json_object_array_add(out, TAKE_PTR(o));
	return 0;
}

static int translate_arches(struct json_object *profile, const struct oci_seccomp_host *host,
			    struct json_object *out, struct berr **err)
{
	struct json_object *arches = NULL, *map = NULL;
	int r = get_strs(profile, "architectures", "", &arches, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(profile, "archMap", &map) &&
	    json_object_is_type(map, json_type_null))
		map = NULL;
	if (map && !json_object_is_type(map, json_type_array))
		return berr_set(err, EINVAL, "'archMap' is not an array");
	size_t n_map = map ? json_object_array_length(map) : 0;
	size_t n_arches = arches ? json_object_array_length(arches) : 0;
	if (n_map && n_arches)
		return berr_set(err, EINVAL, "has both 'architectures' and 'archMap'");
	struct json_object *a = json_object_new_array();
	json_object_object_add(out, "architectures", a);
	for (size_t i = 0; i < n_arches; i++)
		json_object_array_add(a, json_object_get(json_object_array_get_idx(arches, i)));
	const struct arch_names *arch = arch_of(host->machine);
	for (size_t i = 0; i < n_map; i++) {
		struct json_object *e = json_object_array_get_idx(map, i);
		_cleanup_free_ char *w = xasprintf("archMap[%zu].", i);
		if (!json_object_is_type(e, json_type_object))
			return berr_set(err, EINVAL, "archMap[%zu] is not an object", i);
		const char *name = NULL;
		struct json_object *subs = NULL;
		r = get_str(e, "architecture", w, &name, err);
		if (r == 0)
			r = get_strs(e, "subArchitectures", w, &subs, err);
		if (r < 0)
			return r;
		if (!name || !arch || strcmp(name, arch->scmp) != 0 ||
		    json_object_array_length(a) > 0)
			continue;
		json_object_array_add(a, json_object_new_string(name));
		for (size_t j = 0; subs && j < json_object_array_length(subs); j++)
			json_object_array_add(a,
					      json_object_get(json_object_array_get_idx(subs, j)));
	}
	/* None: runc's libseccomp filters the native architecture only. */
	if (json_object_array_length(a) == 0)
		json_object_object_del(out, "architectures");
	return 0;
}

int oci_seccomp_object(struct json_object *profile, const struct oci_seccomp_host *host,
		       char *const *caps, struct json_object **ret, struct berr **err)
{
	if (!json_object_is_type(profile, json_type_object))
		return berr_set(err, EINVAL, "top level is not a JSON object");
	const char *action = NULL, *listener = NULL;
	uint64_t errno_ret = 0;
	bool has_errno_ret;
	struct json_object *flags = NULL, *syscalls = NULL;
	int r = get_str(profile, "defaultAction", "", &action, err);
	if (r == 0)
		r = get_uint(profile, "defaultErrnoRet", "", UINT32_MAX, &errno_ret, &has_errno_ret,
			     err);
	if (r == 0)
		r = get_strs(profile, "flags", "", &flags, err);
	if (r == 0)
		r = get_str(profile, "listenerPath", "", &listener, err);
	if (r < 0)
		return r;
	if (listener && listener[0])
		return berr_set(err, EOPNOTSUPP,
				"'listenerPath' (seccomp notify) is not supported");
	r = check_action(action, "defaultAction", err);
	if (r < 0)
		return r;
	_cleanup_json_ struct json_object *out = json_object_new_object();
	oci_json_str(out, "defaultAction", action);
	if (has_errno_ret)
		json_object_object_add(out, "defaultErrnoRet", json_object_new_uint64(errno_ret));
	r = translate_arches(profile, host, out, err);
	if (r < 0)
		return r;
	if (flags && json_object_array_length(flags))
		json_object_object_add(out, "flags", json_object_get(flags));
	struct json_object *os = json_object_new_array();
	json_object_object_add(out, "syscalls", os);
	if (json_object_object_get_ex(profile, "syscalls", &syscalls) &&
	    !json_object_is_type(syscalls, json_type_null)) {
		if (!json_object_is_type(syscalls, json_type_array))
			return berr_set(err, EINVAL, "'syscalls' is not an array");
		for (size_t i = 0; i < json_object_array_length(syscalls); i++) {
			r = translate_rule(json_object_array_get_idx(syscalls, i), i, host, caps,
					   os, err);
			if (r < 0)
				return r;
		}
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int oci_seccomp_translate(const char *profile_json, const struct oci_seccomp_host *host,
			  char *const *caps, char **ret_json, struct berr **err)
{
	_cleanup_json_ struct json_object *p = NULL;
	int r = parse_object(profile_json, &p, err);
	if (r < 0)
		return r;
	_cleanup_json_ struct json_object *o = NULL;
	r = oci_seccomp_object(p, host, caps, &o, err);
	if (r < 0)
		return r;
	*ret_json = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

int oci_seccomp_host_detect(struct oci_seccomp_host *ret, struct berr **err)
{
	struct utsname u;
	if (uname(&u) < 0)
		return berr_set_errno(err, errno, "uname");
	struct oci_seccomp_host h = {0};
	snprintf(h.machine, sizeof(h.machine), "%s", u.machine);
	if (sscanf(u.release, "%u.%u", &h.kernel_major, &h.kernel_minor) != 2)
		return berr_set(err, EPROTO, "kernel release '%s' has no major.minor", u.release);
	*ret = h;
	return 0;
}
