/* Internals of worker_discover(): one function per part of the machine. */
#ifndef CAIRN_WORKER_DISCOVER_PRIVATE_H
#define CAIRN_WORKER_DISCOVER_PRIVATE_H

#include <hwloc.h>
#include <stdbool.h>

#include "worker/resources_private.h"

/* Fill r->gpus from the topology's PCI and OS devices. live: the topology is
 * this machine, so sysfs may be asked which kernel driver a GPU has.
 * Returns 0 or -ENOMEM. */
int discover_gpus(hwloc_topology_t topo, worker_resources_t *r, bool live, cairn_error_t *err);

#endif
