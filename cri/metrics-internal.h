/* SPDX-License-Identifier: Apache-2.0 */
/* metrics-internal.h - the CRI metric descriptors (cri/metrics.c): one fixed
 * table, cAdvisor's names, help texts, types and label keys. Every metric a
 * ListPodSandboxMetrics answer carries has its entry here, with label values
 * in the order of its keys: the CRI_METRIC_N_BASE base keys, then its extras.
 * Read-only data: thread-safe. */
#ifndef BERTH_CRI_METRICS_INTERNAL_H
#define BERTH_CRI_METRICS_INTERNAL_H

#include <stddef.h>

#include "proto/api.pb-c.h"

enum cri_metric {
	CRI_M_CPU_USAGE,
	CRI_M_CPU_USER,
	CRI_M_CPU_SYSTEM,
	CRI_M_CPU_PERIODS,
	CRI_M_CPU_THROTTLED_PERIODS,
	CRI_M_CPU_THROTTLED_SECONDS,
	CRI_M_MEM_USAGE,
	CRI_M_MEM_WORKING_SET,
	CRI_M_MEM_RSS,
	CRI_M_MEM_CACHE,
	CRI_M_MEM_SWAP,
	CRI_M_MEM_MAPPED_FILE,
	CRI_M_MEM_KERNEL,
	CRI_M_MEM_MAX_USAGE,
	CRI_M_MEM_FAILCNT,
	CRI_M_MEM_FAILURES,
	CRI_M_OOM_EVENTS,
	CRI_M_FS_USAGE,
	CRI_M_FS_LIMIT,
	CRI_M_FS_INODES_FREE,
	CRI_M_FS_INODES_TOTAL,
	CRI_M_FS_READS_BYTES,
	CRI_M_FS_WRITES_BYTES,
	CRI_M_NET_RX_BYTES,
	CRI_M_NET_RX_PACKETS,
	CRI_M_NET_RX_DROPPED,
	CRI_M_NET_RX_ERRORS,
	CRI_M_NET_TX_BYTES,
	CRI_M_NET_TX_PACKETS,
	CRI_M_NET_TX_DROPPED,
	CRI_M_NET_TX_ERRORS,
	CRI_M_PROCESSES,
	CRI_M_THREADS,
	CRI_M_THREADS_MAX,
	CRI_M_FDS,
	CRI_M_SOCKETS,
	CRI_M_START_TIME,
	CRI_M_LAST_SEEN,
	CRI_M_SPEC_CPU_PERIOD,
	CRI_M_SPEC_CPU_QUOTA,
	CRI_M_SPEC_CPU_SHARES,
	CRI_M_SPEC_MEM_LIMIT,
	CRI_M_SPEC_MEM_RESERVATION,
	CRI_M_SPEC_MEM_SWAP_LIMIT,
	CRI_M_HUGETLB_USAGE,
	CRI_M_HUGETLB_MAX_USAGE,
	CRI_M_ULIMITS_SOFT,
	CRI_M_PSI_CPU_WAITING,
	CRI_M_PSI_CPU_STALLED,
	CRI_M_PSI_MEM_WAITING,
	CRI_M_PSI_MEM_STALLED,
	CRI_M_PSI_IO_WAITING,
	CRI_M_PSI_IO_STALLED,
	CRI_M_MAX
};

#define CRI_METRIC_N_BASE    6 /* container, id, image, name, namespace, pod */
#define CRI_METRIC_MAX_EXTRA 2

struct cri_metric_desc {
	const char *name;
	const char *help;
	Runtime__V1__MetricType type;
	const char *extra[CRI_METRIC_MAX_EXTRA]; /* metric-specific label keys, NULL-padded */
};

extern const char *const cri_metric_base_keys[CRI_METRIC_N_BASE];
extern const struct cri_metric_desc cri_metric_descs[CRI_M_MAX];
/* All label keys of m: base plus extras. */
size_t cri_metric_n_keys(enum cri_metric m);

#endif
