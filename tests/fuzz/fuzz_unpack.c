/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_unpack - the layer tar unpacker (img_unpack): names with "..",
 * absolute names, symlinks and hard links pointing anywhere, whiteouts and
 * opaque dirs, sizes that lie, gzip and zstd around it all. The input is the
 * layer blob, fed in reads of varying size.
 * Containment is the oracle. In a mount namespace of its own the fuzzer
 * makes every mount read only, then mounts a tmpfs at /mnt and unpacks into
 * /mnt/layer: a write outside the layer either fails with EROFS (anything
 * else is writable in there), which aborts, or lands beside the layer in
 * /mnt, which the check after each input finds. The directories libFuzzer
 * writes (BERTH_FUZZ_RW, colon-separated: the scratch corpus, the artifact
 * dir) are bound writable again. Needs root; as another user it unpacks into
 * a temp dir without the checks. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fileio.h"
#include "image/image-internal.h"
#include "tests/fuzz/fuzz.h"

static char root_dir[64];
static bool contained;

struct mem {
	const uint8_t *p;
	size_t len, off, step;
};

static ssize_t mem_read(void *arg, const void **buf, struct berr **err)
{
	struct mem *m = arg;
	if (m->off == m->len)
		return 0;
	size_t n = m->len - m->off < m->step ? m->len - m->off : m->step;
	*buf = m->p + m->off;
	m->off += n;
	return (ssize_t)n;
}

static bool enter_root(void)
{
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		return false;
	if (mount("fuzz", "/mnt", "tmpfs", 0, "size=256m,mode=0755") < 0)
		abort();
	const char *rw = getenv("BERTH_FUZZ_RW");
	char *copy = xstrdup(rw ? rw : ""), *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (mount(d, d, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, d, NULL, MS_BIND | MS_REMOUNT, NULL) < 0) {
			fprintf(stderr, "cannot make '%s' writable: %m\n", d);
			abort();
		}
	free(copy);
	return true;
}

static void setup(void)
{
	if (enter_root()) {
		contained = true;
		snprintf(root_dir, sizeof(root_dir), "/mnt");
		return;
	}
	snprintf(root_dir, sizeof(root_dir), "/tmp/berth-fuzz-unpack-XXXXXX");
	if (!mkdtemp(root_dir))
		abort();
}

/* Anything in /mnt besides the layer dir got out of it. */
static void check_contained(const struct berr *e)
{
	if (e && strstr(berr_msg(e), strerror(EROFS))) {
		fprintf(stderr, "a write left the layer dir: %s\n", berr_msg(e));
		abort();
	}
	DIR *d = opendir("/mnt");
	if (!d)
		abort();
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "layer")) {
			fprintf(stderr, "entry escaped the layer dir: /mnt/%s\n", de->d_name);
			abort();
		}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_quiet();
	if (!root_dir[0])
		setup();
	if (size < 1)
		return 0;
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/layer", root_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		abort();
	struct mem m = {.p = data + 1, .len = size - 1, .step = 1 + data[0] * 37u};
	struct img_reader rd = {.read = mem_read, .arg = &m};
	struct berr *e = NULL;
	(void)img_unpack(&rd, dir, NULL, &e);
	if (contained)
		check_contained(e);
	berr_free(e);
	e = NULL;
	if (fileio_remove_tree(dir, &e) < 0) {
		fprintf(stderr, "cannot remove the layer: %s\n", berr_msg(e));
		abort();
	}
	return 0;
}
