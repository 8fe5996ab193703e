/* SPDX-License-Identifier: Apache-2.0 */
/* msg.c - protobuf-c messages: new, free, and decoding under a memory budget. */
#include "cri/cri-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "cri/validate-internal.h"

ProtobufCMessage *cri_msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = xmalloc(d->sizeof_message);
	d->message_init(m);
	return m;
}

ProtobufCMessage *cri_msg_free(ProtobufCMessage *m)
{
	/* protobuf-c frees a tree field by field with the allocator given (NULL:
	 * malloc/free) and skips strings still at their default, which is exactly
	 * the ownership rule of cri-internal.h. */
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return NULL;
}

struct budget {
	size_t left;
	bool exceeded;
};

/* malloc/free like protobuf-c's default allocator, so cri_msg_free() (which
 * uses that one) frees what this allocated; only the total is capped. A
 * refused allocation makes protobuf_c_message_unpack() fail and clean up. */
static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	if (size > b->left) {
		b->exceeded = true;
		return NULL;
	}
	void *p = malloc(size);
	if (!p)
		xalloc_die();
	b->left -= size;
	return p;
}

static void budget_free(void *data, void *p)
{
	free(p);
}

ProtobufCMessage *cri_msg_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data,
				 size_t len, struct berr **err)
{
	struct budget b = {.left = CRI_DECODE_BUDGET(len)};
	ProtobufCAllocator a = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
	ProtobufCMessage *m = protobuf_c_message_unpack(d, &a, len, data);
	/* Decoding keeps a string's bytes after a NUL, but every C reader stops
	 * there: refuse it rather than act on half a name or path. */
	if (m && cri_validate_wire(d, data, len, err) < 0)
		return cri_msg_free(m);
	if (m)
		return m;
	if (b.exceeded)
		berr_set(err, ENOSPC, "%s of %zu bytes needs more than %zu bytes decoded",
			 d->short_name, len, CRI_DECODE_BUDGET(len));
	else
		berr_set(err, EINVAL, "invalid %s payload", d->short_name);
	return NULL;
}

/* containerd's batches (criutil.SendInBatches): at most this many items and
 * bytes a message, under the 16 MiB limit; nothing is sent for no items. */
#define STREAM_BATCH_ITEMS 5000
#define STREAM_BATCH_BYTES (15 << 20)

int cri_send_in_batches(struct cri_call *call, ProtobufCMessage *msg, void ***field,
			size_t *n_field, void **items, size_t n, struct berr **err)
{
	for (size_t i = 0; i < n;) {
		size_t k = 0, bytes = 0;
		while (i + k < n && k < STREAM_BATCH_ITEMS) {
			/* + tag and length prefix of the item */
			size_t sz = protobuf_c_message_get_packed_size(items[i + k]) + 16;
			if (k > 0 && bytes + sz > STREAM_BATCH_BYTES)
				break;
			bytes += sz;
			k++;
		}
		*field = &items[i];
		*n_field = k;
		int r = cri_call_send(call, msg, err);
		*field = NULL;
		*n_field = 0;
		if (r < 0)
			return r;
		i += k;
	}
	return 0;
}

const char *cri_msg_string_at(const ProtobufCMessage *m, const char *path)
{
	char name[64];
	while (m && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(name))
			return NULL;
		memcpy(name, path, n);
		name[n] = '\0';
		path += n + (path[n] == '.');
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
		if (!f || f->label == PROTOBUF_C_LABEL_REPEATED)
			return NULL;
		const char *at = (const char *)m + f->offset;
		if (!*path)
			return f->type == PROTOBUF_C_TYPE_STRING ? *(char *const *)at : NULL;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			return NULL;
		m = *(ProtobufCMessage *const *)at;
	}
	return NULL;
}
