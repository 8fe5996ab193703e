/* SPDX-License-Identifier: Apache-2.0 */
/* failure.c - a failure of the OCI runtime that reached berthd as a plain I/O
 * error (the shim reports `runtime create` failing so) given the code its text
 * stands for, and a message that starts with the cause. */
#include "cri/pod.h"

#include <errno.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"

int cri_runtime_failure(int r, struct berr **err)
{
	if (r != -EIO || !err || !*err)
		return r;
	const char *cause = NULL;
	int code = oci_runtime_errno((*err)->msg, EIO, &cause);
	if (code == EIO || !cause)
		return r;
	_cleanup_free_ char *msg = xstrdup((*err)->msg);
	return berr_set(err, code, "%s: %s", cause, msg);
}
