/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_image_json - what a registry sends as JSON: image manifests and
 * indexes (img_manifest_parse, then img_index_select on an index) and image
 * configs (img_config_parse_full). The first byte picks the content type the
 * registry claimed: none, an OCI/Docker manifest or index, or a config. */
#include <stdlib.h>

#include "common/err.h"
#include "image/image-internal.h"
#include "image/image.h"
#include "tests/fuzz/fuzz.h"

static const char *const types[] = {
    NULL,
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "text/plain",
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	char *body = fuzz_str(data + 1, size - 1);
	struct berr *e = NULL;
	if (sel % (N_TYPES + 1) == N_TYPES) {
		struct img_config c = {0};
		char **diff_ids = NULL;
		size_t n = 0;
		if (img_config_parse_full(body, size - 1, &c, &diff_ids, &n, &e) == 0) {
			for (size_t i = 0; i < n; i++)
				if (!diff_ids[i])
					abort(); /* the count and the array disagree */
			for (size_t i = 0; diff_ids[i]; i++)
				free(diff_ids[i]);
			free(diff_ids);
			img_config_done(&c);
		}
	} else {
		struct img_manifest m = {0};
		if (img_manifest_parse(body, size - 1, types[sel % (N_TYPES + 1)], &m, &e) == 0) {
			if (m.kind == IMG_MANIFEST_INDEX) {
				const struct img_descriptor *d = NULL;
				struct berr *e2 = NULL;
				(void)img_index_select(&m, "linux", "amd64", NULL, &d, &e2);
				berr_free(e2);
				e2 = NULL;
				(void)img_index_select(&m, "linux", "arm", "v7", &d, &e2);
				berr_free(e2);
			}
			img_manifest_done(&m);
		}
	}
	berr_free(e);
	free(body);
	return 0;
}
