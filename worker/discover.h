/* Hardware discovery with hwloc: the live machine or a saved XML topology. */
#ifndef CAIRN_WORKER_DISCOVER_H
#define CAIRN_WORKER_DISCOVER_H

#include "common/error.h"
#include "worker/resources.h"

/* Discover this node's resources and store a new worker_resources_t in
 * *resp (the caller frees it with worker_resources_destroy()).
 *
 * xml_path: NULL for the live machine, else a topology saved with
 * `lstopo --of xml` (hwloc 2.x format), read with hwloc's I/O filter at
 * "important" so PCI bridges, GPUs and their OS devices are kept.
 * name: the node name; NULL means the topology's HostName info, else
 * gethostname().
 *
 * GPUs are the PCI devices that a GPU backend (CUDA, NVML, RSMI, Level Zero,
 * OpenCL GPU) reports, plus display-class (0x03xx) devices from NVIDIA, AMD
 * and Intel and processing accelerators (0x1200) from NVIDIA and AMD, with or
 * without a driver. Board-management VGA chips (ASPEED, Matrox, ...) are not
 * GPUs even when they have a DRM device. A backend OS device that hwloc hung
 * on a bridge instead of its GPU goes to the only GPU under that bridge.
 * A GPU's locality group is the PCIe switch above it (the upstream port
 * above its downstream port), else its root port, else the GPU alone;
 * groups are numbered in order of first appearance in bus id order.
 *
 * Returns 0; -ENOENT, -EACCES, -EISDIR... when the file can't be opened;
 * -EINVAL when hwloc can't load it or the node name is invalid; -ENOMEM.
 * *resp is only set on success. */
int worker_discover(const char *xml_path, const char *name, worker_resources_t **resp,
                    cairn_error_t *err);

#endif
