/* SPDX-License-Identifier: Apache-2.0 */
/* checkpoint.c - CheckpointContainer, CheckpointPod and RestorePod.
 *
 * Checkpoint and restore of a runc container go through CRIU, and the CRIU of
 * Debian 12 (3.17) fails `criu check` on the kernels berth runs on, so berth does
 * not offer them. They answer UNIMPLEMENTED (kubelet and crictl treat it as "not
 * supported") with a message saying why, which `crictl checkpoint` prints. */
#include "cri/cri-internal.h"

#include <errno.h>

#include "common/err.h"

#define WHY                                                                                        \
	"checkpoint/restore needs CRIU, and the CRIU of Debian 12 (3.17) fails 'criu check' on "   \
	"this kernel, so berth does not offer it"

int cri_checkpoint_container(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
			     ProtobufCMessage **ret_resp, struct berr **err)
{
	return berr_set(err, EOPNOTSUPP, "CheckpointContainer is not supported: " WHY);
}

int cri_checkpoint_pod(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		       ProtobufCMessage **ret_resp, struct berr **err)
{
	return berr_set(err, EOPNOTSUPP, "CheckpointPod is not supported: " WHY);
}

int cri_restore_pod(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		    ProtobufCMessage **ret_resp, struct berr **err)
{
	return berr_set(err, EOPNOTSUPP, "RestorePod is not supported: " WHY);
}
