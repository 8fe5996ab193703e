/* SPDX-License-Identifier: Apache-2.0 */
/* image_pull - pulls one image into a fresh image root with image/ and prints the wall
 * time, for bench/image_pull.py. Usage: image_pull ROOT REF [PARALLEL] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "image/image.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s ROOT REF [PARALLEL]\n", argv[0]);
		return 2;
	}
	struct img_opts o = {.root = argv[1], .parallel = argc > 3 ? (unsigned)atoi(argv[3]) : 0};
	struct img_ctx *ctx = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	if (img_ctx_new(&o, &ctx, &e) < 0) {
		fprintf(stderr, "image_pull: %s\n", e->msg);
		return 1;
	}
	double t0 = now_s();
	struct img_pulled *p = NULL;
	int r = img_pull(ctx, argv[2], NULL, &p, &e);
	double dt = now_s() - t0;
	if (r < 0) {
		fprintf(stderr, "image_pull: %s\n", e->msg);
		img_ctx_free(ctx);
		return 1;
	}
	printf("{\"seconds\": %.4f, \"layers\": %zu, \"size\": %llu}\n", dt, p->n_layers,
	       (unsigned long long)p->size);
	img_pulled_free(p);
	img_ctx_free(ctx);
	return 0;
}
