/* Hardware discovery against the hwloc XML topologies in tests/topologies
 * (made by tests/topologies/generate.py, which describes each machine) and
 * against the live machine. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leak_check.h"
#include "worker/discover.h"
#include "worker/resources_print.h"
#include "worker/resources_private.h"

static char *fixture_path(const char *name)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/%s.xml", CAIRN_TOPO_DIR, name) > 0);
    return path;
}

static worker_resources_t *load_named(const char *fixture, const char *name)
{
    worker_resources_t *r = NULL;
    cairn_error_t err = {{0}};
    char *path = fixture_path(fixture);
    int rc = worker_discover(path, name, &r, &err);
    cr_assert_eq(rc, 0, "%s: %s", fixture, err.text);
    cr_assert_not_null(r);
    free(path);
    return r;
}

static worker_resources_t *load(const char *fixture)
{
    return load_named(fixture, NULL);
}

/* The dump lines that start with prefix followed by a digit or a space. */
static char *dump_section(const worker_resources_t *r, const char *prefix)
{
    char *dump = worker_resources_dump(r);
    char *out = calloc(1, strlen(dump) + 1);
    size_t plen = strlen(prefix);
    cr_assert_not_null(out);
    for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
        char next = line[plen];
        if (strncmp(line, prefix, plen) == 0 && (next == ' ' || (next >= '0' && next <= '9'))) {
            strcat(out, line);
            strcat(out, "\n");
        }
    }
    free(dump);
    return out;
}

static void expect_section(const worker_resources_t *r, const char *prefix, const char *want,
                           const char *fixture)
{
    char *got = dump_section(r, prefix);
    cr_expect_str_eq(got, want, "%s %s lines:\n%s\nwanted:\n%s", fixture, prefix, got, want);
    free(got);
}

struct fixture_expect {
    const char *fixture;
    const char *node; /* from the XML's HostName */
    const char *totals;
    const char *numa;
    const char *gpus;
};

static const struct fixture_expect fixtures[] = {
    {"hgx-h100-8gpu", "hgx-h100-01", "node packages=2 cores=32 pus=64 memory=2163959554048\n",
     "numa0 memory=1081627795456 pus=0-15,32-47 cores=0-15\n"
     "numa1 memory=1082331758592 pus=16-31,48-63 cores=16-31\n",
     "gpu0 nvidia 10de:2330 0000:18:00.0 numa=0 group=0 driver=yes memory=85520809984 "
     "uuid=GPU-8a0f1942-32ad-c09c-c55a-fe8eb8f8c0ab model=\"NVIDIA H100 80GB HBM3\"\n"
     "gpu1 nvidia 10de:2330 0000:19:00.0 numa=0 group=0 driver=yes memory=85520809984 "
     "uuid=GPU-8fa27b30-a666-ee0c-6592-e09903d03c0d model=\"NVIDIA H100 80GB HBM3\"\n"
     "gpu2 nvidia 10de:2330 0000:38:00.0 numa=0 group=1 driver=yes memory=85520809984 "
     "uuid=GPU-da2b7b3c-5c13-4341-712e-1b14b32c6620 model=\"NVIDIA H100 80GB HBM3\"\n"
     "gpu3 nvidia 10de:2330 0000:39:00.0 numa=0 group=1 driver=yes memory=85520809984 "
     "uuid=GPU-79e2ea23-c446-7a50-d2df-d9b2cba36bf3 model=\"NVIDIA H100 80GB HBM3\"\n"
     "gpu4 nvidia 10de:2330 0000:98:00.0 numa=1 group=2 driver=yes memory=85520809984 "
     "uuid=GPU-7ac9ce57-6120-b276-82e3-4832eb7316f3 model=\"NVIDIA H100 80GB HBM3\"\n"
     "gpu5 nvidia 10de:2330 0000:99:00.0 numa=1 group=2 driver=yes memory=85520809984 "
     "uuid=GPU-75625afd-6274-8f02-b298-ea8799718db1 model=\"NVIDIA H100 80GB HBM3\"\n"
     "gpu6 nvidia 10de:2330 0000:b8:00.0 numa=1 group=3 driver=yes memory=85520809984 "
     "uuid=GPU-0f25d62d-58f2-d423-7771-2e644da4ab65 model=\"NVIDIA H100 80GB HBM3\"\n"
     "gpu7 nvidia 10de:2330 0000:b9:00.0 numa=1 group=3 driver=yes memory=85520809984 "
     "uuid=GPU-1cd49168-7635-cf47-5e84-993a4cbf4398 model=\"NVIDIA H100 80GB HBM3\"\n"},
    {"epyc-2s-nps4", "epyc-nps4-01", "node packages=2 cores=32 pus=64 memory=515127640064\n",
     "numa0 memory=68451041280 pus=0-3,32-35 cores=0-3\n"
     "numa1 memory=68719476736 pus=4-7,36-39 cores=4-7\n"
     "numa2 memory=68719476736 pus=8-11,40-43 cores=8-11\n"
     "numa3 memory=68719476736 pus=12-15,44-47 cores=12-15\n"
     "numa4 memory=68719476736 pus=16-19,48-51 cores=16-19\n"
     "numa5 memory=34359738368 pus=20-23,52-55 cores=20-23\n"
     "numa6 memory=68719476736 pus=24-27,56-59 cores=24-27\n"
     "numa7 memory=68719476736 pus=28-31,60-63 cores=28-31\n",
     ""},
    /* The OAM listed first in the XML has the higher bus ids: indexes and
     * groups follow bus id order, not the tree. */
    {"mi250x-4gcd", "mi250x-01", "node packages=1 cores=16 pus=32 memory=541165879296\n",
     "numa0 memory=135291469824 pus=0-3,16-19 cores=0-3\n"
     "numa1 memory=135291469824 pus=4-7,20-23 cores=4-7\n"
     "numa2 memory=135291469824 pus=8-11,24-27 cores=8-11\n"
     "numa3 memory=135291469824 pus=12-15,28-31 cores=12-15\n",
     "gpu0 amd 1002:740c 0000:83:00.0 numa=2 group=0 driver=yes memory=68702699520 "
     "uuid=efbfaaccb5a1d743 model=\"AMD Instinct MI250X\"\n"
     "gpu1 amd 1002:740c 0000:84:00.0 numa=2 group=0 driver=yes memory=68702699520 "
     "uuid=26b97195a62b3e24 model=\"AMD Instinct MI250X\"\n"
     "gpu2 amd 1002:740c 0000:c3:00.0 numa=0 group=1 driver=yes memory=68702699520 "
     "uuid=61e609c4e54760ad model=\"AMD Instinct MI250X\"\n"
     "gpu3 amd 1002:740c 0000:c4:00.0 numa=0 group=1 driver=yes memory=68702699520 "
     "uuid=5cdbae2127b3183c model=\"AMD Instinct MI250X\"\n"},
    /* One NUMA node made by the OS-less fallback, Matrox BMC VGA, QAT. */
    {"cpu-only-1s", "cpu-01", "node packages=1 cores=8 pus=16 memory=33396969472\n",
     "numa0 memory=33396969472 pus=0-15 cores=0-7\n", ""},
    /* The driverless GPU has the lower bus id, so it is GPU 0 although the
     * other is nvml0 / cuda0; its model is the pci.ids name. */
    {"workstation-2gpu-nodriver", "ws-01", "node packages=1 cores=16 pus=32 memory=135010574336\n",
     "numa0 memory=135010574336 pus=0-31 cores=0-15\n",
     "gpu0 nvidia 10de:24b0 0000:01:00.0 numa=0 group=0 driver=no memory=- uuid=- "
     "model=\"GA104GL [RTX A4000]\"\n"
     "gpu1 nvidia 10de:2684 0000:41:00.0 numa=0 group=1 driver=yes memory=25757220864 "
     "uuid=GPU-44de696b-5987-a6aa-55ed-aaa1ea2eeaac model=\"NVIDIA GeForce RTX 4090\"\n"},
    /* I/O attached to the root of a 2-NUMA machine: NUMA unknown. GPUs on
     * the root bus each get their own group. No Gaudi, FPGA, VE, audio; the
     * OpenCL device on the host bridge could be either T4's: ignored. */
    {"corner-cases", "corner-01", "node packages=2 cores=8 pus=8 memory=34359738368\n",
     "numa0 memory=17179869184 pus=0-3 cores=0-3\n"
     "numa1 memory=17179869184 pus=4-7 cores=4-7\n",
     "gpu0 nvidia 10de:1eb8 0000:00:04.0 numa=- group=0 driver=yes memory=- "
     "uuid=GPU-69e17f17-ab70-4148-ad02-4e8c9943bec9 model=\"Tesla T4\"\n"
     "gpu1 nvidia 10de:1eb8 0000:00:05.0 numa=- group=1 driver=no memory=- uuid=- model=-\n"
     "gpu2 intel 8086:0bda 0000:01:00.0 numa=- group=2 driver=yes memory=51539607552 "
     "uuid=29feb4feaca814023df96efd91fd1d6f model=\"Intel(R) Data Center GPU Max 1100\"\n"
     "gpu3 amd 1002:74a1 0000:02:00.0 numa=- group=3 driver=yes memory=206158430208 "
     "uuid=7e217b2ec30f349e model=\"AMD Instinct MI300X\"\n"},
    /* Captured on a real H200 VM (hwloc 2.10 with its OpenCL plugin): the
     * OpenCL OS device hangs off the host bridge, not the GPU; it is the
     * only GPU there, so it gets the device's model and memory. */
    {"h200-vm-opencl", "vm", "node packages=1 cores=16 pus=16 memory=4793548800\n",
     "numa0 memory=4793548800 pus=0-15 cores=0-15\n",
     "gpu0 nvidia 10de:2335 0000:00:06.0 numa=0 group=0 driver=yes memory=150109880320 "
     "uuid=- model=\"NVIDIA H200\"\n"},
};

#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

LEAK_TEST(worker_discover, fixtures_exact)
{
    for (size_t i = 0; i < NFIXTURES; i++) {
        const struct fixture_expect *e = &fixtures[i];
        worker_resources_t *r = load(e->fixture);
        cr_expect_str_eq(worker_resources_node(r), e->node, "%s", e->fixture);
        expect_section(r, "node", e->totals, e->fixture);
        expect_section(r, "numa", e->numa, e->fixture);
        expect_section(r, "gpu", e->gpus, e->fixture);
        worker_resources_destroy(r);
    }
}

/* Invariants every topology satisfies. */
static void check_consistent(const worker_resources_t *r, const char *what)
{
    size_t ncores = worker_resources_core_count(r), nnuma = worker_resources_numa_count(r);
    unsigned npus = worker_resources_pu_count(r);
    uint64_t memory = 0;
    size_t numa_pus = 0, numa_cores = 0, core_pus = 0;

    cr_expect_gt(worker_resources_package_count(r), 0, "%s", what);
    cr_expect_gt(ncores, 0, "%s", what);
    cr_expect_geq(npus, ncores, "%s", what);
    cr_expect_geq(ncores, worker_resources_package_count(r), "%s", what);
    cr_expect_geq(nnuma, 1, "%s", what);
    for (size_t i = 0; i < nnuma; i++) {
        const worker_numa_t *n = worker_resources_numa(r, i);
        if (i > 0)
            cr_expect_gt(n->os_index, worker_resources_numa(r, i - 1)->os_index, "%s", what);
        memory += n->memory_bytes;
        numa_pus += n->npus;
        numa_cores += n->ncores;
    }
    cr_expect_eq(memory, worker_resources_memory_bytes(r), "%s: NUMA memory sum", what);
    cr_expect_gt(memory, 0, "%s", what);
    cr_expect_eq(numa_pus, npus, "%s: every PU in exactly one NUMA domain", what);
    cr_expect_eq(numa_cores, ncores, "%s: every core in exactly one NUMA domain", what);
    for (size_t i = 0; i < ncores; i++) {
        const worker_core_t *c = worker_resources_core(r, i);
        cr_expect_eq(c->index, i, "%s", what);
        cr_expect_geq(c->npus, 1, "%s", what);
        cr_expect_geq(c->numa, 0, "%s", what);
        core_pus += c->npus;
    }
    cr_expect_eq(core_pus, npus, "%s: every PU in exactly one core", what);
    unsigned max_group = 0;
    for (size_t i = 0; i < worker_resources_gpu_count(r); i++) {
        const worker_gpu_t *g = worker_resources_gpu(r, i);
        cr_expect_eq(g->index, i, "%s", what);
        cr_expect_eq(strlen(g->pci_bus_id), 12, "%s", what);
        if (i > 0)
            cr_expect_gt(strcmp(g->pci_bus_id, worker_resources_gpu(r, i - 1)->pci_bus_id), 0,
                         "%s: GPUs in bus id order", what);
        /* groups are numbered by first appearance */
        cr_expect_leq(g->locality_group, i ? max_group + 1 : 0, "%s", what);
        if (g->locality_group > max_group)
            max_group = g->locality_group;
    }
}

LEAK_TEST(worker_discover, fixtures_consistent)
{
    for (size_t i = 0; i < NFIXTURES; i++) {
        worker_resources_t *r = load(fixtures[i].fixture);
        check_consistent(r, fixtures[i].fixture);
        worker_resources_destroy(r);
    }
}

LEAK_TEST(worker_discover, live_machine)
{
    worker_resources_t *r = NULL;
    cairn_error_t err = {{0}};
    int rc = worker_discover(NULL, NULL, &r, &err);
    cr_assert_eq(rc, 0, "%s", err.text);
    cr_expect_gt(strlen(worker_resources_node(r)), 0);
    check_consistent(r, "live");
    worker_resources_destroy(r);
}

LEAK_TEST(worker_discover, cores_are_logical_indexes)
{
    /* Core OS indexes restart at 0 in each package; core indexes do not. */
    worker_resources_t *r = load("hgx-h100-8gpu");
    expect_section(r, "core0", "core0 numa=0 pus=0,32\n", "hgx");
    expect_section(r, "core16", "core16 numa=1 pus=16,48\n", "hgx");
    expect_section(r, "core31", "core31 numa=1 pus=31,63\n", "hgx");
    const worker_numa_t *n1 = worker_resources_numa(r, 1);
    cr_expect_eq(n1->ncores, 16);
    cr_expect_eq(n1->cores[0], 16);
    worker_resources_destroy(r);
}

LEAK_TEST(worker_discover, bmc_and_extra_functions_are_not_gpus)
{
    /* ASPEED (hgx, epyc, with a DRM card0), Matrox (cpu-only), GPU audio
     * functions (workstation) and the Habana / Xilinx / NEC devices. */
    const char *bmc[] = {"0000:02:00.0", "0000:62:00.0", "0000:03:00.0", "0000:01:00.1",
                         "0000:41:00.1", "0000:03:00.0", "0000:04:00.0", "0000:05:00.0"};
    const char *fx[] = {"hgx-h100-8gpu",
                        "epyc-2s-nps4",
                        "cpu-only-1s",
                        "workstation-2gpu-nodriver",
                        "workstation-2gpu-nodriver",
                        "corner-cases",
                        "corner-cases",
                        "corner-cases"};
    for (size_t i = 0; i < sizeof(bmc) / sizeof(bmc[0]); i++) {
        worker_resources_t *r = load(fx[i]);
        for (size_t j = 0; j < worker_resources_gpu_count(r); j++)
            cr_expect_str_neq(worker_resources_gpu(r, j)->pci_bus_id, bmc[i], "%s", fx[i]);
        worker_resources_destroy(r);
    }
}

LEAK_TEST(worker_discover, gpu_fields)
{
    /* Each hgx GPU has 5 OS devices (card, renderD, cuda, opencl, nvml):
     * the model and UUID come from NVML, the memory from CUDA. */
    worker_resources_t *r = load("hgx-h100-8gpu");
    cr_assert_eq(worker_resources_gpu_count(r), 8);
    const worker_gpu_t *g = worker_resources_gpu(r, 5);
    cr_expect_eq(g->vendor, WORKER_GPU_VENDOR_NVIDIA);
    cr_expect_str_eq(worker_gpu_vendor_name(g->vendor), "nvidia");
    cr_expect_eq(g->pci_vendor_id, 0x10de);
    cr_expect_eq(g->pci_device_id, 0x2330);
    cr_expect_eq(g->memory_bytes, 81559ULL << 20);
    cr_expect_null(g->driver, "no sysfs lookup for a saved topology");
    cr_expect_null(g->driver_version);
    cr_expect_null(g->cuda_version);
    worker_resources_destroy(r);

    r = load("workstation-2gpu-nodriver");
    g = worker_resources_gpu(r, 0);
    cr_expect_not(g->has_driver);
    cr_expect_null(g->uuid);
    cr_expect_eq(g->memory_bytes, 0);
    worker_resources_destroy(r);
}

LEAK_TEST(worker_discover, name_override_and_fingerprint)
{
    worker_resources_t *a = load("hgx-h100-8gpu");
    worker_resources_t *b = load_named("hgx-h100-8gpu", "gpu-node-7");
    worker_resources_t *c = load("mi250x-4gcd");
    cr_expect_str_eq(worker_resources_node(b), "gpu-node-7");
    cr_expect_eq(worker_resources_label_add(b, "rack=r12", NULL), 0);
    cr_expect_eq(worker_resources_fingerprint(a), worker_resources_fingerprint(b),
                 "name and labels are not hardware");
    cr_expect_neq(worker_resources_fingerprint(a), worker_resources_fingerprint(c));
    cr_expect_neq(worker_resources_fingerprint(a), 0);
    worker_resources_destroy(a);
    worker_resources_destroy(b);
    worker_resources_destroy(c);
}

LEAK_TEST(worker_resources, fingerprint_ignores_small_memory_changes)
{
    worker_resources_t *r = load("epyc-2s-nps4");
    uint64_t fp = worker_resources_fingerprint(r);
    r->numa[3].memory_bytes += 7ULL << 20; /* the kernel reserves less */
    r->memory_bytes += 7ULL << 20;
    cr_expect_eq(worker_resources_fingerprint(r), fp);
    r->numa[3].memory_bytes -= 16ULL << 30; /* a DIMM is gone */
    r->memory_bytes -= 16ULL << 30;
    cr_expect_neq(worker_resources_fingerprint(r), fp);
    worker_resources_destroy(r);
}

LEAK_TEST(worker_discover, errors)
{
    worker_resources_t *r = NULL;
    cairn_error_t err = {{0}};
    char *missing = fixture_path("no-such-topology");

    cr_expect_eq(worker_discover(missing, NULL, &r, &err), -ENOENT);
    cr_expect_null(r);
    cr_expect(strstr(err.text, "no-such-topology.xml") != NULL, "%s", err.text);
    free(missing);

    cr_expect_eq(worker_discover(CAIRN_TOPO_DIR, NULL, &r, &err), -EISDIR);
    cr_expect(strstr(err.text, "directory") != NULL, "%s", err.text);

    char bad[] = "/tmp/cairn-topo-XXXXXX";
    int fd = mkstemp(bad);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "<topology>garbage", 17), 17);
    close(fd);
    cr_expect_eq(worker_discover(bad, NULL, &r, &err), -EINVAL);
    cr_expect_null(r);
    cr_expect(strstr(err.text, bad) != NULL, "%s", err.text);
    unlink(bad);

    char *path = fixture_path("cpu-only-1s");
    cr_expect_eq(worker_discover(path, "bad\nname", &r, &err), -EINVAL);
    cr_expect_eq(worker_discover(path, "", &r, &err), -EINVAL);
    cr_expect_null(r);
    free(path);
}

LEAK_TEST(worker_resources, labels)
{
    worker_resources_t *r = load("cpu-only-1s");
    cairn_error_t err = {{0}};
    cr_expect_eq(worker_resources_label_add(r, "zone=eu-1", &err), 0);
    cr_expect_eq(worker_resources_label_add(r, "gpu.type=none", &err), 0);
    cr_expect_eq(worker_resources_label_add(r, "empty=", &err), 0);
    cr_expect_eq(worker_resources_label_add(r, "zone=eu-2", &err), -EEXIST);
    cr_expect(strstr(err.text, "zone") != NULL, "%s", err.text);
    cr_expect_eq(worker_resources_label_add(r, "zo=x", &err), 0, "a key prefix is another key");
    cr_assert_eq(worker_resources_label_count(r), 4);
    const char *keys[] = {"empty", "gpu.type", "zo", "zone"};
    const char *values[] = {"", "none", "x", "eu-1"};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_str_eq(worker_resources_label_key(r, i), keys[i]);
        cr_expect_str_eq(worker_resources_label_value(r, i), values[i]);
    }
    const char *bad[] = {"novalue", "=x", "-a=b", "a b=c", "a=b\tc", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(worker_label_check(bad[i], &err), -EINVAL, "'%s' accepted", bad[i]);
    cr_expect_eq(worker_resources_label_count(r), 4);
    worker_resources_destroy(r);
}

static char *capture(void (*fn)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    fn(f, arg);
    fclose(f);
    return buf;
}

static void print_json(FILE *f, const void *r)
{
    cr_expect_eq(worker_resources_print_json(r, f), 0);
}

static void print_text(FILE *f, const void *r)
{
    cr_expect_eq(worker_resources_print_text(r, f), 0);
}

LEAK_TEST(worker_resources, printers)
{
    worker_resources_t *r = load_named("workstation-2gpu-nodriver", "ws\"1\"");
    char *json = capture(print_json, r);
    cr_expect(strstr(json, "\"node\": \"ws\\\"1\\\"\"") != NULL, "%s", json);
    cr_expect(strstr(json, "\"memory_bytes\": null, \"uuid\": null, \"pci_bus_id\": "
                           "\"0000:01:00.0\"") != NULL);
    cr_expect(strstr(json, "\"has_driver\": false, \"locality_group\": 0") != NULL);
    free(json);
    char *text = capture(print_text, r);
    size_t gpu_lines = 0;
    for (const char *p = text; (p = strstr(p, "\n  GPU ")); p++)
        gpu_lines++;
    cr_expect_eq(gpu_lines, 2, "%s", text);
    cr_expect(strstr(text, "GPU 0: nvidia GA104GL [RTX A4000], memory unknown, 0000:01:00.0, "
                           "NUMA 0, group 0, driver no\n") != NULL,
              "%s", text);
    free(text);
    worker_resources_destroy(r);
}
