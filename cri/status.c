/* SPDX-License-Identifier: Apache-2.0 */
/* status.c - errno -> gRPC status, the one table of style §3. */
#include "cri/cri-internal.h"

#include <errno.h>
#include <stdlib.h>

static const struct {
	int code;
	grpc_status_code status;
} errno_status[] = {
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
    {ENOMEM, GRPC_STATUS_RESOURCE_EXHAUSTED},
    {EAGAIN, GRPC_STATUS_RESOURCE_EXHAUSTED},
    {EMFILE, GRPC_STATUS_RESOURCE_EXHAUSTED},
    {ENFILE, GRPC_STATUS_RESOURCE_EXHAUSTED},
    {EDQUOT, GRPC_STATUS_RESOURCE_EXHAUSTED},
    {ERANGE, GRPC_STATUS_OUT_OF_RANGE},
    /* a peer berth depends on (a registry) unreachable or cut off: try again */
    {ECONNRESET, GRPC_STATUS_UNAVAILABLE},
    {ECONNREFUSED, GRPC_STATUS_UNAVAILABLE},
    {EHOSTUNREACH, GRPC_STATUS_UNAVAILABLE},
    {ENETUNREACH, GRPC_STATUS_UNAVAILABLE},
};

grpc_status_code cri_status_from_errno(int code)
{
	code = abs(code);
	for (size_t i = 0; i < sizeof(errno_status) / sizeof(errno_status[0]); i++)
		if (errno_status[i].code == code)
			return errno_status[i].status;
	return GRPC_STATUS_INTERNAL;
}

static const char *const status_names[] = {
    [GRPC_STATUS_OK] = "OK",
    [GRPC_STATUS_CANCELLED] = "CANCELLED",
    [GRPC_STATUS_UNKNOWN] = "UNKNOWN",
    [GRPC_STATUS_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [GRPC_STATUS_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [GRPC_STATUS_NOT_FOUND] = "NOT_FOUND",
    [GRPC_STATUS_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [GRPC_STATUS_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [GRPC_STATUS_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [GRPC_STATUS_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [GRPC_STATUS_ABORTED] = "ABORTED",
    [GRPC_STATUS_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [GRPC_STATUS_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [GRPC_STATUS_INTERNAL] = "INTERNAL",
    [GRPC_STATUS_UNAVAILABLE] = "UNAVAILABLE",
    [GRPC_STATUS_DATA_LOSS] = "DATA_LOSS",
    [GRPC_STATUS_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *cri_status_name(grpc_status_code code)
{
	if ((unsigned)code >= sizeof(status_names) / sizeof(status_names[0]) || !status_names[code])
		return "UNKNOWN_STATUS";
	return status_names[code];
}
