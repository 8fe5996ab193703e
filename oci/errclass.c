/* SPDX-License-Identifier: Apache-2.0 */
/* errclass.c - what a failure of the OCI runtime was, from its error text: runc
 * has one exit code for every error, so the text is all there is. The table is
 * ordered: the first pattern found decides. */
#include "oci/oci.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *pattern; /* matched case-insensitively anywhere in the text */
	int code;
	const char *cause;
} classes[] = {
    /* the process: LookPath and execve in runc init */
    {"executable file not found", ENOENT, "executable not found"},
    {"exec format error", EINVAL, "not an executable this node can run"},
    {"is a directory", EACCES, "executable is a directory"},
    {"oom-kill", ENOMEM, "out of memory (memory limit too low?)"},
    {"oom killed", ENOMEM, "out of memory (memory limit too low?)"},
    {"cannot allocate memory", ENOMEM, "out of memory"},
    {"unable to set memory limit", ENOMEM,
     "memory limit below what the container already uses (runc's init counts too)"},
    {"resource temporarily unavailable", EAGAIN, "resource exhausted (pids or threads)"},
    {"no space left on device", ENOSPC, "no space left on device"},
    {"disk quota exceeded", EDQUOT, "disk quota exceeded"},
    {"too many open files", EMFILE, "too many open files"},
    {"container with id exists", EEXIST, "container exists"},
    {"already exists", EEXIST, "already exists"},
    {"container does not exist", ENOENT, "container not found"},
    {"not exist", ENOENT, "not found"},
    {"no such file or directory", ENOENT, "file not found"},
    {"permission denied", EACCES, "permission denied"},
    {"operation not permitted", EPERM, "operation not permitted"},
    {"device or resource busy", EBUSY, "busy (a limit below current usage?)"},
    {"container not running", EBUSY, "container not running"},
    {"is not running", EBUSY, "container not running"},
    {"stopped container", EBUSY, "container not running"},
    {"invalid argument", EINVAL, "a value the kernel refused"},
    {"numerical result out of range", EINVAL, "a value out of the kernel's range"},
    {"invalid configuration", EINVAL, "a spec value the runtime refused"},
    {"not a directory", EINVAL, "a path that is not a directory"},
};

int oci_runtime_errno(const char *text, int fallback, const char **ret_cause)
{
	for (size_t i = 0; text && i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (strcasestr(text, classes[i].pattern)) {
			if (ret_cause)
				*ret_cause = classes[i].cause;
			return classes[i].code;
		}
	}
	if (ret_cause)
		*ret_cause = NULL;
	return fallback;
}

/* runc reports a failed exec of the process as `exec: "<path>": <why>` (its
 * quotes escaped in a text log line), or `exec format error` from execve. */
int oci_exec_failure_code(const char *text)
{
	if (!text)
		return 0;
	if (strcasestr(text, "executable file not found") ||
	    (strstr(text, "exec: ") && strcasestr(text, "no such file or directory")))
		return 127;
	if (strcasestr(text, "exec format error") ||
	    (strstr(text, "exec: ") &&
	     (strcasestr(text, "permission denied") || strcasestr(text, "is a directory"))))
		return 126;
	return 0;
}
