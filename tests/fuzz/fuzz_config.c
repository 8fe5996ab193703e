/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_config - berthd's configuration file: cri_config_parse() over the
 * defaults, then cri_config_finish() and the JSON dump Status shows. */
#include <stdlib.h>

#include "common/err.h"
#include "cri/cri.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	char *json = fuzz_str(data, size);
	struct berth_config c;
	cri_config_init(&c);
	struct berr *e = NULL;
	if (cri_config_parse(&c, json, "fuzz", &e) == 0 && cri_config_finish(&c, &e) == 0)
		free(cri_config_to_json(&c));
	berr_free(e);
	cri_config_done(&c);
	free(json);
	return 0;
}
