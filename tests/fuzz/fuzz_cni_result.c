/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_cni_result - what a CNI plugin prints: the result of an ADD
 * (cni_result_parse: IPs of the sandbox's interfaces) and, for a failed run,
 * the error JSON on stdout or text on stderr (cni_error_message and
 * cni_error_errno). The input is "<stdout>\0<stderr>". */
#include <stdlib.h>

#include "common/err.h"
#include "netns/netns.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	char *in = fuzz_str(data, size);
	const char *out = in;
	size_t olen = strlen(in);
	const char *errout = olen < size ? in + olen + 1 : "";
	struct cni_result res = {0};
	struct berr *e = NULL;
	if (cni_result_parse(out, &res, &e) == 0) {
		for (size_t i = 0; i < res.n_ips; i++)
			if (!res.ips[i] || strchr(res.ips[i], '/'))
				abort(); /* addresses come without their prefix length */
		if (res.ips[res.n_ips])
			abort();
		cni_result_done(&res);
	}
	berr_free(e);
	free(cni_error_message("bridge", out, errout, 1));
	(void)cni_error_errno(out, errout);
	free(in);
	return 0;
}
