/* The worker daemon's pure parts: the Register built from a topology
 * fixture, /proc parsers of resource reports, NVML absent, log levels and
 * the default scheduler URL. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "leak_check.h"
#include "worker/daemon.h"
#include "worker/discover.h"
#include "worker/nvml.h"
#include "worker/register_msg.h"
#include "worker/report.h"

#define HGX_TOPO CAIRN_TOPO_DIR "/hgx-h100-8gpu.xml"

LEAK_TEST(link_msg, register_from_hgx_topology)
{
    worker_resources_t *r;
    worker_register_msg_t *m;
    cairn_error_t err;

    cr_assert_eq(worker_discover(HGX_TOPO, "n1", &r, &err), 0, "%s", err.text);
    cr_assert_eq(worker_resources_label_add(r, "zone=a", &err), 0);
    cr_assert_eq(worker_register_msg_create(r, &m, &err), 0);
    const Cairn__Register *reg = worker_register_msg_get(m);
    cr_expect_str_eq(reg->node_name, "n1");
    cr_expect_eq(reg->n_labels, 1);
    cr_expect_str_eq(reg->labels[0]->key, "zone");
    cr_expect_str_eq(reg->labels[0]->value, "a");
    cr_expect_eq(reg->protocol_version, CAIRN_PROTO_VERSION);
    const Cairn__NodeResources *res = reg->resources;
    cr_assert_not_null(res);
    cr_expect_eq(res->num_cores, 32);
    cr_expect_eq(res->n_cores, 32);
    cr_expect_eq(res->num_pus, worker_resources_pu_count(r));
    cr_expect_eq(res->n_numa_domains, 2);
    cr_expect_eq(res->memory_bytes, worker_resources_memory_bytes(r));
    cr_expect_eq(res->n_gpus, 8);
    for (size_t i = 0; i < res->n_gpus; i++) {
        const Cairn__Gpu *g = res->gpus[i];
        const worker_gpu_t *w = worker_resources_gpu(r, i);
        cr_expect_eq(g->index, i);
        cr_expect_str_eq(g->uuid, w->uuid);
        cr_expect_str_eq(g->pci_bus_id, w->pci_bus_id);
        cr_expect_eq(g->vendor, CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA);
        cr_expect_eq(g->numa_present_case, CAIRN__GPU__NUMA_PRESENT_NUMA_OS_INDEX);
        cr_expect_eq(g->numa_os_index, (uint32_t)w->numa);
        cr_expect_eq(g->locality_group, w->locality_group);
    }
    size_t pus = 0;
    for (size_t i = 0; i < res->n_cores; i++) {
        cr_expect_eq(res->cores[i]->index, i);
        pus += res->cores[i]->n_pus;
    }
    cr_expect_eq(pus, res->num_pus);
    /* running and ended lists are rebuilt for each Register */
    cr_assert_eq(worker_register_msg_add_running(m, 5, 1, "train", 0, 1234, 1000), 0);
    cr_assert_eq(worker_register_msg_add_running(m, 6, 1, "eval", 2, 1235, 1001), 0);
    cr_assert_eq(worker_register_msg_add_ended(m, 4), 0);
    cr_expect_eq(reg->n_running, 2);
    cr_expect_str_eq(reg->running[1]->task_name, "eval");
    cr_expect_eq(reg->running[1]->rank, 2);
    cr_expect_eq(reg->n_ended_unacked, 1);
    uint8_t *buf;
    size_t len;
    cr_expect_eq(cairn_msg_encode(CAIRN_MSG_REGISTER, &reg->base, &buf, &len, &err), 0, "%s",
                 err.text);
    free(buf);
    worker_register_msg_clear_running(m);
    worker_register_msg_clear_ended(m);
    cr_expect_eq(reg->n_running, 0);
    cr_expect_eq(reg->n_ended_unacked, 0);
    worker_register_msg_destroy(m);
    worker_resources_destroy(r);
}

LEAK_TEST(link_msg, loadavg_and_meminfo)
{
    uint32_t load[3];
    uint64_t used, total;

    cr_assert_eq(worker_report_parse_loadavg("0.52 1.50 12.03 1/467 12345\n", load), 0);
    cr_expect_eq(load[0], 520);
    cr_expect_eq(load[1], 1500);
    cr_expect_eq(load[2], 12030);
    cr_expect_eq(worker_report_parse_loadavg("nonsense", load), -EINVAL);
    cr_assert_eq(worker_report_parse_meminfo("MemTotal:       1000 kB\nMemFree:  100 kB\n"
                                             "MemAvailable:    250 kB\nBuffers: 5 kB\n",
                                             &used, &total),
                 0);
    cr_expect_eq(total, 1000 * 1024);
    cr_expect_eq(used, 750 * 1024);
    /* old kernels: free + buffers + cached */
    cr_assert_eq(worker_report_parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 "
                                             "kB\nCached: 50 kB\n",
                                             &used, &total),
                 0);
    cr_expect_eq(used, 800 * 1024);
    cr_expect_eq(worker_report_parse_meminfo("MemFree: 1 kB\n", &used, &total), -EINVAL);
}

LEAK_TEST(link_msg, report_without_nvml)
{
    worker_resources_t *r;
    worker_report_t *rep;
    cairn_error_t err;

    cr_assert_eq(worker_discover(HGX_TOPO, "n1", &r, &err), 0, "%s", err.text);
    cr_assert_eq(worker_report_create(r, "/nonexistent/libnvidia-ml.so.1", &rep, &err), 0);
    worker_resources_destroy(r);
    cr_expect_not(worker_report_has_nvml(rep));
    const Cairn__ResourceReport *m = worker_report_collect(rep, NULL, "n1", 3, 1234);
    cr_assert_not_null(m);
    cr_expect_str_eq(m->node_name, "n1");
    cr_expect_eq(m->node_id, 3);
    cr_expect_eq(m->time_ms, 1234);
    cr_expect_gt(m->memory_total_bytes, 0);
    cr_expect_eq(m->n_gpus, 0);
    cr_expect_eq(m->n_tasks, 0);
    worker_report_destroy(rep);

    worker_nvml_t *n;
    cr_expect_eq(worker_nvml_create("/nonexistent/libnvidia-ml.so.1", &n, &err), -ENOENT);
    /* a library without NVML's symbols is refused too */
    cr_expect_eq(worker_nvml_create("libc.so.6", &n, &err), -ENOENT);
}

/* Every GPU of the Register carries its model, UUID and PCI bus id; the
 * driver and CUDA versions, which this fixture (no NVML) does not know,
 * stay empty until NVML fills them. */
LEAK_TEST(link_msg, register_gpus_have_identity_and_versions)
{
    worker_resources_t *r;
    worker_register_msg_t *m;
    worker_report_t *rep;
    cairn_error_t err;

    cr_assert_eq(worker_discover(HGX_TOPO, "n1", &r, &err), 0, "%s", err.text);
    /* without NVML nothing is learned and nothing breaks */
    cr_assert_eq(worker_report_create(r, "/nonexistent/libnvidia-ml.so.1", &rep, &err), 0);
    cr_expect_eq(worker_report_fill_gpus(rep, r), 0);
    worker_report_destroy(rep);
    char driver[32] = "x", cuda[32] = "x";
    worker_nvml_versions(NULL, driver, sizeof(driver), cuda, sizeof(cuda));
    cr_expect_str_empty(driver);
    cr_expect_str_empty(cuda);

    cr_assert_eq(worker_register_msg_create(r, &m, &err), 0);
    const Cairn__NodeResources *res = worker_register_msg_get(m)->resources;
    cr_assert_eq(res->n_gpus, 8);
    for (size_t i = 0; i < res->n_gpus; i++) {
        const Cairn__Gpu *g = res->gpus[i];
        cr_expect_str_eq(g->model, "NVIDIA H100 80GB HBM3");
        cr_expect_eq(strncmp(g->uuid, "GPU-", 4), 0, "gpu %zu uuid '%s'", i, g->uuid);
        cr_expect_eq(strlen(g->pci_bus_id), 12, "gpu %zu bus id '%s'", i, g->pci_bus_id);
        cr_expect_str_empty(g->driver_version);
        cr_expect_str_empty(g->cuda_version);
    }
    worker_register_msg_destroy(m);

    /* what NVML tells is kept and reaches the next Register */
    cr_assert_eq(worker_resources_gpu_set_info(r, 2, "NVIDIA H100", "550.54.15", "12.4"), 0);
    cr_assert_eq(worker_resources_gpu_set_info(r, 2, NULL, "", NULL), 0); /* changes nothing */
    cr_expect_eq(worker_resources_gpu_set_info(r, 8, "x", NULL, NULL), -EINVAL);
    cr_assert_eq(worker_register_msg_create(r, &m, &err), 0);
    res = worker_register_msg_get(m)->resources;
    cr_expect_str_eq(res->gpus[2]->model, "NVIDIA H100");
    cr_expect_str_eq(res->gpus[2]->driver_version, "550.54.15");
    cr_expect_str_eq(res->gpus[2]->cuda_version, "12.4");
    cr_expect_str_empty(res->gpus[3]->driver_version);
    worker_register_msg_destroy(m);
    worker_resources_destroy(r);
}

LEAK_TEST(link_msg, log_levels_and_default_url)
{
    cairn_log_level_t l;
    char url[512];

    cr_expect_eq(cairn_log_level_parse("warn", &l), 0);
    cr_expect_eq(l, CAIRN_LOG_WARN);
    cr_expect_eq(cairn_log_level_parse("loud", &l), -EINVAL);
    setenv("CAIRN_WORKER_SCHEDULER", "tcp://10.0.0.1:7700", 1);
    cr_assert_eq(worker_daemon_default_url(url, sizeof(url)), 0);
    cr_expect_str_eq(url, "tcp://10.0.0.1:7700");
    unsetenv("CAIRN_WORKER_SCHEDULER");
    setenv("XDG_STATE_HOME", "/var/lib/x", 1);
    cr_assert_eq(worker_daemon_default_url(url, sizeof(url)), 0);
    cr_expect_str_eq(url, "ipc:///var/lib/x/cairn/workers.sock");
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/u", 1);
    cr_assert_eq(worker_daemon_default_url(url, sizeof(url)), 0);
    cr_expect_str_eq(url, "ipc:///home/u/.local/state/cairn/workers.sock");
}
