/* SPDX-License-Identifier: Apache-2.0 */
#include "common/sysctl.h"

#include <stdbool.h>
#include <string.h>

/* prefix matches key when each of its '.' is a '.' or a '/' in key */
static bool has_prefix(const char *key, const char *prefix)
{
	for (; *prefix; prefix++, key++) {
		if (*prefix == '.' ? (*key != '.' && *key != '/') : *key != *prefix)
			return false;
	}
	return true;
}

enum sysctl_ns sysctl_ns_of(const char *key)
{
	static const struct {
		const char *prefix;
		enum sysctl_ns ns;
	} table[] = {
	    {"net.", SYSCTL_NS_NET},	   {"kernel.shm", SYSCTL_NS_IPC},
	    {"kernel.msg", SYSCTL_NS_IPC}, {"kernel.sem", SYSCTL_NS_IPC},
	    {"fs.mqueue.", SYSCTL_NS_IPC},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (has_prefix(key, table[i].prefix))
			return table[i].ns;
	return SYSCTL_NS_NONE;
}
