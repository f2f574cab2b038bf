/* Printing discovered resources: JSON (resources_json.c) and a readable
 * summary (resources_text.c), as `cairn-worker --print-resources` does. */
#ifndef CAIRN_WORKER_RESOURCES_PRINT_H
#define CAIRN_WORKER_RESOURCES_PRINT_H

#include <stdio.h>

#include "worker/resources.h"

/* Print r as one JSON object:
 *   {"node", "labels": {k: v}, "fingerprint": "16 hex digits", "packages",
 *    "cores", "pus", "memory_bytes",
 *    "numa": [{"id", "memory_bytes", "pus": [...], "cores": [...]}],
 *    "cores_list": [{"index", "numa", "pus": [...]}],
 *    "gpus": [{"index", "vendor", "model", "memory_bytes", "uuid",
 *              "pci_bus_id", "pci_id", "numa", "has_driver",
 *              "locality_group", "driver", "driver_version",
 *              "cuda_version"}]}
 * on one line. Unknown values are null. Returns 0, -ENOMEM, or -EIO when
 * writing f failed. */
int worker_resources_print_json(const worker_resources_t *r, FILE *f);

/* Print a readable summary: a node line, one line per NUMA domain, one
 * line per GPU, the labels and the fingerprint. Returns 0 or -EIO. */
int worker_resources_print_text(const worker_resources_t *r, FILE *f);

#endif
