/* SPDX-License-Identifier: Apache-2.0 */
/* fault.h - fault points of test builds (docs/robustness.md). Compiled in
 * only with -DBERTH_FAULTS=ON (CMake), which release builds never set: there
 * BERTH_FAULT_POINT() is 0 and no point name is in the binary.
 * BERTH_FAULT in the environment of berthd (or of a helper it starts) names
 * the points that fire: "point[:action[:nth]][,point[:action[:nth]]...]".
 *   action kill (default): SIGKILL the process itself, as a crash would;
 *          eio, enospc: the point fails with that errno (a full or broken disk).
 *   nth:   the hit of the point that fires (default 1); it fires once.
 * A firing point logs "fault point <name>: <action>" at error level first.
 * Threads: thread-safe; the variable is read once, at the first hit.
 * Errors: -EIO or -ENOSPC with *err naming the point; 0 otherwise. */
#ifndef BERTH_COMMON_FAULT_H
#define BERTH_COMMON_FAULT_H

struct berr;

#ifdef BERTH_FAULTS
int fault_point(const char *name, struct berr **err);
#define BERTH_FAULT_POINT(name, err) fault_point(name, err)
#else
#define BERTH_FAULT_POINT(name, err) ((void)(err), 0)
#endif

#endif
