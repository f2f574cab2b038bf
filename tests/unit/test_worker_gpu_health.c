/* GPU health through the fake NVML (tests/fake_nvml): critical events are
 * told apart from an application's Xids, and the watcher thread brings them
 * to the loop once per GPU index (each MIG instance of a GPU in MIG mode). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop_until.h"
#include "worker/discover.h"
#include "worker/gpu_health.h"
#include "worker/nvml.h"
#include "worker/report.h"

#define FAKE_NVML CAIRN_BIN_DIR "/../tests/libfake_nvml.so"
#define HGX CAIRN_TOPO_DIR "/hgx-h100-8gpu.xml"

static char dir[64], trigger[128], config[128];

/* The fake's configuration: tests/fake_nvml/hgx-h100-mig.json (GPU 2 in MIG
 * mode) with an event trigger file of this test's own. */
static void setup(void)
{
    char cmd[512];
    snprintf(dir, sizeof(dir), "/tmp/cairn-gpu-health-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(trigger, sizeof(trigger), "%s/xid", dir);
    snprintf(config, sizeof(config), "%s/nvml.json", dir);
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); "
             "c[\"event_trigger\"]=sys.argv[2]; json.dump(c, open(sys.argv[3], \"w\"))' "
             "%s/../fake_nvml/hgx-h100-mig.json %s %s",
             CAIRN_TOPO_DIR, trigger, config);
    cr_assert_eq(system(cmd), 0);
    setenv("CAIRN_FAKE_NVML_CONFIG", config, 1);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* Write the trigger file anew (a new inode: the fake sees a new event). */
static void raise_event(const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", trigger);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", text);
    fclose(f);
    cr_assert_eq(rename(tmp, trigger), 0);
}

TestSuite(gpu_health, .init = setup, .fini = teardown);

Test(gpu_health, critical_events_and_application_xids)
{
    worker_nvml_t *n;
    worker_nvml_events_t *ev;
    cairn_error_t err;
    const char *bus[] = {"0000:18:00.0", "0000:19:00.0", "0000:38:00.0"};
    size_t which = 99;
    char why[64];

    cr_assert_eq(worker_nvml_create(FAKE_NVML, &n, &err), 0, "%s", err.text);
    cr_assert_eq(worker_nvml_events_open(n, bus, 3, &ev, &err), 0, "%s", err.text);
    cr_expect_eq(worker_nvml_events_wait(ev, 50, &which, why, sizeof(why)), 0, "nothing yet");
    raise_event("0000:19:00.0 13"); /* an application's fault */
    cr_expect_eq(worker_nvml_events_wait(ev, 2000, &which, why, sizeof(why)), 0);
    raise_event("0000:19:00.0 79"); /* fell off the bus */
    cr_expect_eq(worker_nvml_events_wait(ev, 2000, &which, why, sizeof(why)), 1);
    cr_expect_eq(which, 1);
    cr_expect_str_eq(why, "Xid 79");
    raise_event("0000:38:00.0 dbe");
    cr_expect_eq(worker_nvml_events_wait(ev, 2000, &which, why, sizeof(why)), 1);
    cr_expect_eq(which, 2);
    cr_expect_str_eq(why, "double-bit ECC error");
    raise_event("0000:b9:00.0 79"); /* a GPU not watched */
    cr_expect_eq(worker_nvml_events_wait(ev, 200, &which, why, sizeof(why)), 0);
    worker_nvml_events_close(ev);
    worker_nvml_destroy(n);
}

static int ncalls;
static unsigned gpus[16];
static char reasons[16][64];

static void health_cb(void *arg, unsigned gpu, const char *reason)
{
    (void)arg;
    if (ncalls < 16) {
        gpus[ncalls] = gpu;
        snprintf(reasons[ncalls], sizeof(reasons[ncalls]), "%s", reason);
    }
    ncalls++;
}

/* An Xid on the GPU in MIG mode concerns its 7 instances (GPUs 2-8). */
Test(gpu_health, watcher_wakes_the_loop_per_gpu)
{
    uv_loop_t loop;
    worker_resources_t *r;
    worker_report_t *rep;
    worker_gpu_health_t *h;
    worker_nvml_t *n;
    cairn_error_t err;

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(worker_discover(HGX, "n0", &r, &err), 0, "%s", err.text);
    cr_assert_eq(worker_report_create(r, FAKE_NVML, &rep, &err), 0, "%s", err.text);
    cr_assert_eq(worker_report_apply_mig(rep, r, &err), 1, "%s", err.text);
    cr_assert_eq(worker_resources_gpu_count(r), 14);
    cr_assert_eq(worker_nvml_create(FAKE_NVML, &n, &err), 0, "%s", err.text);
    cr_assert_eq(worker_gpu_health_start(&loop, n, r, health_cb, NULL, &h, &err), 0, "%s",
                 err.text);
    raise_event("0000:38:00.0 79");
    run_until(&loop, &ncalls, 7);
    for (int i = 0; i < 7; i++) {
        cr_expect_eq(gpus[i], (unsigned)(2 + i));
        cr_expect_str_eq(reasons[i], "Xid 79");
    }
    worker_gpu_health_stop(h);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(ncalls, 7, "no call after the stop");
    cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
    worker_nvml_destroy(n);
    worker_report_destroy(rep);
    worker_resources_destroy(r);
}
