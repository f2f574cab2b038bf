/* Hand-built messages through the envelope, checked field by field by name:
 * documents how callers fill the generated structs (presence oneofs,
 * repeated key=value lists, bytes with NUL) and what comes out. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/envelope.h"

#include "leak_check.h"

/* Encode msg as type, decode it back, check the type; free with cairn_msg_free(). */
static ProtobufCMessage *round_trip(cairn_msg_type_t type, const ProtobufCMessage *msg)
{
    cairn_error_t err = {""};
    uint8_t *buf = NULL;
    size_t len = 0;
    cairn_msg_type_t got = 0;
    ProtobufCMessage *out = NULL;

    cr_assert_eq(cairn_msg_encode(type, msg, &buf, &len, &err), 0, "encode: %s", err.text);
    cr_assert_eq(cairn_msg_decode(buf, len, CAIRN_MSG_MAX_DEFAULT, &got, &out, &err), 0,
                 "decode: %s", err.text);
    free(buf);
    cr_assert_eq(got, type);
    cr_assert_not_null(out);
    cr_assert_eq(out->descriptor, msg->descriptor);
    return out;
}

static void check_kv(const Cairn__KeyValue *kv, const char *key, const char *value)
{
    cr_assert_str_eq(kv->key, key);
    cr_assert_str_eq(kv->value, value);
}

/* The fields register_with_topology_and_adoption sets, as decoded. */
static void check_register(const Cairn__Register *out, const uint8_t *nonce, size_t nonce_len)
{
    cr_assert_str_eq(out->node_name, "gpu-node-07");
    cr_assert_eq(out->n_labels, 2);
    check_kv(out->labels[0], "rack", "r12");
    check_kv(out->labels[1], "zone", "z\xc3\xbcrich");
    cr_assert_str_eq(out->worker_version, "0.1.0");
    cr_assert_eq(out->protocol_version, CAIRN_PROTO_VERSION);
    cr_assert_str_eq(out->topology_fingerprint, "sha256:abcd");

    const Cairn__NodeResources *r = out->resources;
    cr_assert_not_null(r);
    cr_assert_eq(r->num_packages, 2);
    cr_assert_eq(r->num_cores, 4);
    cr_assert_eq(r->num_pus, 8);
    cr_assert_eq(r->memory_bytes, 96ull << 30);
    cr_assert_eq(r->n_numa_domains, 2);
    cr_assert_eq(r->numa_domains[1]->os_index, 1);
    cr_assert_eq(r->numa_domains[1]->memory_bytes, 32ull << 30);
    cr_assert_eq(r->numa_domains[1]->n_pus, 4);
    cr_assert_eq(r->numa_domains[1]->pus[3], 7);
    cr_assert_eq(r->numa_domains[1]->n_cores, 2);
    cr_assert_eq(r->numa_domains[1]->cores[0], 2);
    cr_assert_eq(r->n_cores, 4);
    for (uint32_t i = 0; i < 4; i++) {
        cr_assert_eq(r->cores[i]->index, i);
        cr_assert_eq(r->cores[i]->numa_os_index, i / 2);
        cr_assert_eq(r->cores[i]->n_pus, 2);
        cr_assert_eq(r->cores[i]->pus[1], 2 * i + 1);
    }
    cr_assert_eq(r->n_gpus, 2);
    const Cairn__Gpu *o0 = r->gpus[0], *o1 = r->gpus[1];
    cr_assert_eq(o0->vendor, CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA);
    cr_assert_str_eq(o0->model, "NVIDIA H100 80GB HBM3");
    cr_assert_eq(o0->memory_bytes, 80ull << 30);
    cr_assert_str_eq(o0->uuid, "GPU-8f3a");
    cr_assert_str_eq(o0->pci_bus_id, "0000:17:00.0");
    /* NUMA 0 is present although 0 is the proto3 default */
    cr_assert_eq(o0->numa_present_case, CAIRN__GPU__NUMA_PRESENT_NUMA_OS_INDEX);
    cr_assert_eq(o0->numa_os_index, 0);
    cr_assert_eq(o0->locality_group, 3);
    cr_assert(o0->has_driver);
    cr_assert_str_eq(o0->driver_version, "550.54.15");
    cr_assert_str_eq(o0->cuda_version, "12.4");
    cr_assert_eq(o1->index, 1);
    cr_assert_eq(o1->vendor, CAIRN__GPU_VENDOR__GPU_VENDOR_AMD);
    cr_assert_eq(o1->numa_present_case, CAIRN__GPU__NUMA_PRESENT__NOT_SET);
    cr_assert_not(o1->has_driver);
    cr_assert_str_eq(o1->cuda_version, "");

    cr_assert_eq(out->n_running, 1);
    cr_assert_eq(out->running[0]->attempt_id, 900);
    cr_assert_eq(out->running[0]->job_id, 12);
    cr_assert_str_eq(out->running[0]->task_name, "train");
    cr_assert_eq(out->running[0]->pid, 4242);
    cr_assert_eq(out->running[0]->start_time_ms, 1700000000123);
    cr_assert_str_eq(out->auth->key_id, "k1");
    cr_assert_eq(out->auth->nonce.len, nonce_len);
    cr_assert_eq(memcmp(out->auth->nonce.data, nonce, nonce_len), 0);
    cr_assert_eq(out->auth->hmac.len, 0);
}

LEAK_TEST(proto_messages, register_with_topology_and_adoption)
{
    Cairn__KeyValue l0 = CAIRN__KEY_VALUE__INIT, l1 = CAIRN__KEY_VALUE__INIT;
    l0.key = "rack", l0.value = "r12";
    l1.key = "zone", l1.value = "z\xc3\xbcrich";
    Cairn__KeyValue *labels[] = {&l0, &l1};

    uint32_t n0_pus[] = {0, 1, 2, 3}, n0_cores[] = {0, 1};
    uint32_t n1_pus[] = {4, 5, 6, 7}, n1_cores[] = {2, 3};
    Cairn__NumaDomain n0 = CAIRN__NUMA_DOMAIN__INIT, n1 = CAIRN__NUMA_DOMAIN__INIT;
    n0.os_index = 0, n0.memory_bytes = 64ull << 30, n0.n_pus = 4, n0.pus = n0_pus;
    n0.n_cores = 2, n0.cores = n0_cores;
    n1.os_index = 1, n1.memory_bytes = 32ull << 30, n1.n_pus = 4, n1.pus = n1_pus;
    n1.n_cores = 2, n1.cores = n1_cores;
    Cairn__NumaDomain *numa[] = {&n0, &n1};

    Cairn__Core c[4];
    Cairn__Core *cores[4];
    uint32_t core_pus[4][2] = {{0, 1}, {2, 3}, {4, 5}, {6, 7}};
    for (int i = 0; i < 4; i++) {
        cairn__core__init(&c[i]);
        c[i].index = (uint32_t)i, c[i].numa_os_index = (uint32_t)i / 2;
        c[i].n_pus = 2, c[i].pus = core_pus[i];
        cores[i] = &c[i];
    }

    Cairn__Gpu g0 = CAIRN__GPU__INIT, g1 = CAIRN__GPU__INIT;
    g0.index = 0, g0.vendor = CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA;
    g0.model = "NVIDIA H100 80GB HBM3", g0.memory_bytes = 80ull << 30;
    g0.uuid = "GPU-8f3a", g0.pci_bus_id = "0000:17:00.0";
    g0.numa_present_case = CAIRN__GPU__NUMA_PRESENT_NUMA_OS_INDEX, g0.numa_os_index = 0;
    g0.locality_group = 3, g0.has_driver = 1;
    g0.driver_version = "550.54.15", g0.cuda_version = "12.4";
    g1.index = 1, g1.vendor = CAIRN__GPU_VENDOR__GPU_VENDOR_AMD, g1.model = "MI250X";
    g1.has_driver = 0; /* no numa_os_index: locality unknown */
    Cairn__Gpu *gpus[] = {&g0, &g1};

    Cairn__NodeResources res = CAIRN__NODE_RESOURCES__INIT;
    res.num_packages = 2, res.num_cores = 4, res.num_pus = 8, res.memory_bytes = 96ull << 30;
    res.n_numa_domains = 2, res.numa_domains = numa;
    res.n_cores = 4, res.cores = cores;
    res.n_gpus = 2, res.gpus = gpus;

    Cairn__RunningAttempt ra = CAIRN__RUNNING_ATTEMPT__INIT;
    ra.attempt_id = 900, ra.job_id = 12, ra.task_name = "train", ra.pid = 4242;
    ra.start_time_ms = 1700000000123;
    Cairn__RunningAttempt *running[] = {&ra};

    uint8_t nonce[] = {0x00, 0x01, 0xfe, 0xff, 0x00};
    Cairn__Auth auth = CAIRN__AUTH__INIT;
    auth.key_id = "k1", auth.nonce.data = nonce, auth.nonce.len = sizeof(nonce);

    Cairn__Register in = CAIRN__REGISTER__INIT;
    in.node_name = "gpu-node-07", in.n_labels = 2, in.labels = labels;
    in.worker_version = "0.1.0", in.protocol_version = CAIRN_PROTO_VERSION;
    in.resources = &res, in.topology_fingerprint = "sha256:abcd";
    in.n_running = 1, in.running = running, in.auth = &auth;

    ProtobufCMessage *m = round_trip(CAIRN_MSG_REGISTER, &in.base);
    check_register((const Cairn__Register *)m, nonce, sizeof(nonce));
    cairn_msg_free(m);
}

LEAK_TEST(proto_messages, assign_task)
{
    char *argv[] = {"python", "train.py", "--lr=3e-4"};
    Cairn__KeyValue e0 = CAIRN__KEY_VALUE__INIT, e1 = CAIRN__KEY_VALUE__INIT;
    e0.key = "OMP_NUM_THREADS", e0.value = "8";
    e1.key = "EMPTY", e1.value = "";
    Cairn__KeyValue *env[] = {&e0, &e1};
    uint32_t cores[] = {4, 5, 6, 7};
    Cairn__GpuRef gr = CAIRN__GPU_REF__INIT;
    gr.index = 2, gr.uuid = "GPU-2", gr.vendor = CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA;
    Cairn__GpuRef *gpus[] = {&gr};

    Cairn__AssignTask in = CAIRN__ASSIGN_TASK__INIT;
    in.attempt_id = 77, in.job_id = 5, in.task_name = "train", in.attempt_number = 2;
    in.n_argv = 3, in.argv = argv, in.shell = 0, in.n_env = 2, in.env = env;
    in.workdir = "/scratch/job5", in.seed = 0xfedcba9876543210ull;
    in.rank = 3, in.world_size = 8, in.rendezvous_addr = "10.0.0.7", in.rendezvous_port = 29500;
    in.n_cores = 4, in.cores = cores, in.n_gpus = 1, in.gpus = gpus;
    in.memory_limit_bytes = 32ull << 30, in.time_limit_ms = 3600000, in.kill_grace_ms = 10000;
    in.log_dir = "/var/log/cairn/5";

    ProtobufCMessage *m = round_trip(CAIRN_MSG_ASSIGN_TASK, &in.base);
    const Cairn__AssignTask *out = (const Cairn__AssignTask *)m;
    cr_assert_eq(out->attempt_id, 77);
    cr_assert_eq(out->job_id, 5);
    cr_assert_str_eq(out->task_name, "train");
    cr_assert_eq(out->attempt_number, 2);
    cr_assert_eq(out->n_argv, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(out->argv[i], argv[i]);
    cr_assert_not(out->shell);
    cr_assert_eq(out->n_env, 2);
    check_kv(out->env[0], "OMP_NUM_THREADS", "8");
    check_kv(out->env[1], "EMPTY", "");
    cr_assert_str_eq(out->workdir, "/scratch/job5");
    cr_assert_eq(out->seed, 0xfedcba9876543210ull);
    cr_assert_eq(out->rank, 3);
    cr_assert_eq(out->world_size, 8);
    cr_assert_str_eq(out->rendezvous_addr, "10.0.0.7");
    cr_assert_eq(out->rendezvous_port, 29500);
    cr_assert_eq(out->n_cores, 4);
    cr_assert_eq(memcmp(out->cores, cores, sizeof(cores)), 0);
    cr_assert_eq(out->n_gpus, 1);
    cr_assert_eq(out->gpus[0]->index, 2);
    cr_assert_str_eq(out->gpus[0]->uuid, "GPU-2");
    cr_assert_eq(out->gpus[0]->vendor, CAIRN__GPU_VENDOR__GPU_VENDOR_NVIDIA);
    cr_assert_eq(out->memory_limit_bytes, 32ull << 30);
    cr_assert_eq(out->time_limit_ms, 3600000);
    cr_assert_eq(out->kill_grace_ms, 10000);
    cr_assert_str_eq(out->log_dir, "/var/log/cairn/5");
    cairn_msg_free(m);
}

LEAK_TEST(proto_messages, submit_job_spec)
{
    char *needs[] = {"prep"};
    char *outputs[] = {"ckpt/", "metrics.json"};
    char *argv[] = {"make train"};
    int32_t codes[] = {75, -1};
    Cairn__KeyValue sel = CAIRN__KEY_VALUE__INIT;
    sel.key = "gpu", sel.value = "h100";
    Cairn__KeyValue *selv[] = {&sel};
    Cairn__ResourceRequest rr = CAIRN__RESOURCE_REQUEST__INIT;
    rr.cpus = 16, rr.memory_bytes = 64ull << 30, rr.gpus = 4, rr.gpu_model = "H100";
    rr.gpu_min_memory_bytes = 40ull << 30, rr.n_labels = 1, rr.labels = selv;
    Cairn__RetryPolicy rp = CAIRN__RETRY_POLICY__INIT;
    rp.max_attempts = 3, rp.backoff_base_ms = 1000, rp.backoff_factor_milli = 2000;
    rp.max_backoff_ms = 60000, rp.jitter_percent = 10, rp.retry_on_node_lost = 1;
    rp.retry_on_timeout = 0, rp.retry_on_signal = 1, rp.retry_on_any_nonzero_exit = 0;
    rp.n_retry_on_exit_codes = 2, rp.retry_on_exit_codes = codes;
    Cairn__TaskSpec ts = CAIRN__TASK_SPEC__INIT;
    ts.name = "train", ts.kind = "train", ts.n_argv = 1, ts.argv = argv;
    ts.shell = 1, ts.workdir = "/w", ts.n_needs = 1, ts.needs = needs, ts.resources = &rr;
    ts.replicas = 4, ts.priority = -5, ts.time_limit_ms = 7200000, ts.retry = &rp;
    ts.n_outputs = 2, ts.outputs = outputs;
    Cairn__TaskSpec prep = CAIRN__TASK_SPEC__INIT;
    prep.name = "prep", prep.kind = "preprocess";
    Cairn__TaskSpec *tasks[] = {&prep, &ts};
    Cairn__JobSpec js = CAIRN__JOB_SPEC__INIT;
    js.name = "llm-pretrain", js.seed_present_case = CAIRN__JOB_SPEC__SEED_PRESENT_SEED;
    js.seed = 0; /* an explicit seed of 0 survives */
    js.spec_text = "name: llm-pretrain\n", js.spec_sha256 = "9f86d081";
    js.submitter = "alice", js.n_tasks = 2, js.tasks = tasks;
    Cairn__SubmitRequest in = CAIRN__SUBMIT_REQUEST__INIT;
    in.job = &js;

    ProtobufCMessage *m = round_trip(CAIRN_MSG_SUBMIT, &in.base);
    const Cairn__JobSpec *o = ((const Cairn__SubmitRequest *)m)->job;
    cr_assert_not_null(o);
    cr_assert_str_eq(o->name, "llm-pretrain");
    cr_assert_eq(o->seed_present_case, CAIRN__JOB_SPEC__SEED_PRESENT_SEED);
    cr_assert_eq(o->seed, 0);
    cr_assert_str_eq(o->spec_text, "name: llm-pretrain\n");
    cr_assert_str_eq(o->spec_sha256, "9f86d081");
    cr_assert_str_eq(o->submitter, "alice");
    cr_assert_eq(o->n_tasks, 2);
    cr_assert_str_eq(o->tasks[0]->name, "prep");
    cr_assert_str_eq(o->tasks[0]->kind, "preprocess");
    cr_assert_null(o->tasks[0]->resources, "an unset sub-message stays unset");
    cr_assert_null(o->tasks[0]->retry);
    const Cairn__TaskSpec *t = o->tasks[1];
    cr_assert_str_eq(t->name, "train");
    cr_assert_str_eq(t->kind, "train");
    cr_assert_eq(t->n_argv, 1);
    cr_assert_str_eq(t->argv[0], "make train");
    cr_assert(t->shell);
    cr_assert_str_eq(t->workdir, "/w");
    cr_assert_eq(t->n_needs, 1);
    cr_assert_str_eq(t->needs[0], "prep");
    cr_assert_eq(t->resources->cpus, 16);
    cr_assert_eq(t->resources->memory_bytes, 64ull << 30);
    cr_assert_eq(t->resources->gpus, 4);
    cr_assert_str_eq(t->resources->gpu_model, "H100");
    cr_assert_eq(t->resources->gpu_min_memory_bytes, 40ull << 30);
    cr_assert_eq(t->resources->n_labels, 1);
    check_kv(t->resources->labels[0], "gpu", "h100");
    cr_assert_eq(t->replicas, 4);
    cr_assert_eq(t->priority, -5);
    cr_assert_eq(t->time_limit_ms, 7200000);
    const Cairn__RetryPolicy *p = t->retry;
    cr_assert_eq(p->max_attempts, 3);
    cr_assert_eq(p->backoff_base_ms, 1000);
    cr_assert_eq(p->backoff_factor_milli, 2000);
    cr_assert_eq(p->max_backoff_ms, 60000);
    cr_assert_eq(p->jitter_percent, 10);
    cr_assert(p->retry_on_node_lost);
    cr_assert_not(p->retry_on_timeout);
    cr_assert(p->retry_on_signal);
    cr_assert_not(p->retry_on_any_nonzero_exit);
    cr_assert_eq(p->n_retry_on_exit_codes, 2);
    cr_assert_eq(p->retry_on_exit_codes[0], 75);
    cr_assert_eq(p->retry_on_exit_codes[1], -1);
    cr_assert_eq(t->n_outputs, 2);
    cr_assert_str_eq(t->outputs[1], "metrics.json");
    cairn_msg_free(m);

    /* Without a seed the case is NOT_SET, so "no seed" and "seed 0" differ. */
    js.seed_present_case = CAIRN__JOB_SPEC__SEED_PRESENT__NOT_SET;
    m = round_trip(CAIRN_MSG_SUBMIT, &in.base);
    cr_assert_eq(((const Cairn__SubmitRequest *)m)->job->seed_present_case,
                 CAIRN__JOB_SPEC__SEED_PRESENT__NOT_SET);
    cairn_msg_free(m);
}

LEAK_TEST(proto_messages, task_event_exited_by_signal)
{
    Cairn__TaskEvent in = CAIRN__TASK_EVENT__INIT;
    in.attempt_id = 31, in.job_id = 4, in.task_name = "eval";
    in.kind = CAIRN__TASK_EVENT__KIND__EXITED, in.pid = 999, in.exit_code = 0, in.signal = 9;
    in.timed_out = 1, in.cancelled = 0, in.cpu_time_usec = 123456789;
    in.peak_rss_bytes = 3ull << 30, in.start_time_ms = 1700000000000;
    in.end_time_ms = 1700000360000, in.error = "", in.seq = 18, in.node_name = "n1";

    ProtobufCMessage *m = round_trip(CAIRN_MSG_TASK_EVENT, &in.base);
    const Cairn__TaskEvent *o = (const Cairn__TaskEvent *)m;
    cr_assert_eq(o->attempt_id, 31);
    cr_assert_eq(o->job_id, 4);
    cr_assert_str_eq(o->task_name, "eval");
    cr_assert_eq(o->kind, CAIRN__TASK_EVENT__KIND__EXITED);
    cr_assert_eq(o->pid, 999);
    cr_assert_eq(o->exit_code, 0);
    cr_assert_eq(o->signal, 9);
    cr_assert(o->timed_out);
    cr_assert_not(o->cancelled);
    cr_assert_eq(o->cpu_time_usec, 123456789);
    cr_assert_eq(o->peak_rss_bytes, 3ull << 30);
    cr_assert_eq(o->start_time_ms, 1700000000000);
    cr_assert_eq(o->end_time_ms, 1700000360000);
    cr_assert_str_eq(o->error, "");
    cr_assert_eq(o->seq, 18);
    cr_assert_str_eq(o->node_name, "n1");
    cairn_msg_free(m);
}

LEAK_TEST(proto_messages, job_status_reply)
{
    Cairn__JobSummary js = CAIRN__JOB_SUMMARY__INIT;
    js.job_id = 12, js.name = "sweep", js.state = CAIRN__JOB_STATE__JOB_STATE_RUNNING;
    js.submitter = "bob", js.seed = 42, js.tasks_total = 2, js.tasks_running = 1;
    js.tasks_pending = 1, js.submit_time_ms = 1000, js.start_time_ms = 2000;
    Cairn__GpuRef g = CAIRN__GPU_REF__INIT;
    g.index = 1, g.uuid = "GPU-1";
    Cairn__GpuRef *gpus[] = {&g};
    uint32_t cores[] = {0, 1};
    Cairn__AttemptInfo a1 = CAIRN__ATTEMPT_INFO__INIT, a2 = CAIRN__ATTEMPT_INFO__INIT;
    a1.attempt_id = 100, a1.number = 1, a1.node = "n3", a1.n_gpus = 1, a1.gpus = gpus;
    a1.n_cores = 2, a1.cores = cores, a1.exit_code = 0, a1.signal = 0;
    a1.end_reason = CAIRN__END_REASON__END_REASON_NODE_LOST, a1.start_time_ms = 2000;
    a1.end_time_ms = 5000, a1.error = "heartbeats lost";
    a2.attempt_id = 101, a2.number = 2, a2.node = "n4", a2.start_time_ms = 9000;
    Cairn__AttemptInfo *attempts[] = {&a1, &a2};
    Cairn__TaskStatus t0 = CAIRN__TASK_STATUS__INIT, t1 = CAIRN__TASK_STATUS__INIT;
    t0.name = "run", t0.replica = 0, t0.state = CAIRN__TASK_STATE__TASK_STATE_RUNNING;
    t0.n_attempts = 2, t0.attempts = attempts;
    t1.name = "report", t1.state = CAIRN__TASK_STATE__TASK_STATE_WAITING;
    t1.pending_reason = CAIRN__PENDING_REASON__PENDING_REASON_DEPENDENCIES;
    t1.pending_detail = "needs run";
    Cairn__TaskStatus *tasks[] = {&t0, &t1};
    Cairn__JobStatusReply in = CAIRN__JOB_STATUS_REPLY__INIT;
    in.job = &js, in.n_tasks = 2, in.tasks = tasks;

    ProtobufCMessage *m = round_trip(CAIRN_MSG_JOB_STATUS_REPLY, &in.base);
    const Cairn__JobStatusReply *o = (const Cairn__JobStatusReply *)m;
    cr_assert_eq(o->job->job_id, 12);
    cr_assert_str_eq(o->job->name, "sweep");
    cr_assert_eq(o->job->state, CAIRN__JOB_STATE__JOB_STATE_RUNNING);
    cr_assert_str_eq(o->job->submitter, "bob");
    cr_assert_eq(o->job->seed, 42);
    cr_assert_eq(o->job->tasks_total, 2);
    cr_assert_eq(o->job->tasks_running, 1);
    cr_assert_eq(o->job->tasks_pending, 1);
    cr_assert_eq(o->job->start_time_ms, 2000);
    cr_assert_eq(o->n_tasks, 2);
    const Cairn__TaskStatus *r0 = o->tasks[0], *r1 = o->tasks[1];
    cr_assert_str_eq(r0->name, "run");
    cr_assert_eq(r0->state, CAIRN__TASK_STATE__TASK_STATE_RUNNING);
    cr_assert_eq(r0->n_attempts, 2);
    cr_assert_eq(r0->attempts[0]->attempt_id, 100);
    cr_assert_eq(r0->attempts[0]->number, 1);
    cr_assert_str_eq(r0->attempts[0]->node, "n3");
    cr_assert_eq(r0->attempts[0]->n_gpus, 1);
    cr_assert_str_eq(r0->attempts[0]->gpus[0]->uuid, "GPU-1");
    cr_assert_eq(r0->attempts[0]->n_cores, 2);
    cr_assert_eq(r0->attempts[0]->cores[1], 1);
    cr_assert_eq(r0->attempts[0]->end_reason, CAIRN__END_REASON__END_REASON_NODE_LOST);
    cr_assert_eq(r0->attempts[0]->end_time_ms, 5000);
    cr_assert_str_eq(r0->attempts[0]->error, "heartbeats lost");
    cr_assert_eq(r0->attempts[1]->end_reason, CAIRN__END_REASON__END_REASON_UNSPECIFIED);
    cr_assert_str_eq(r0->attempts[1]->node, "n4");
    cr_assert_str_eq(r1->name, "report");
    cr_assert_eq(r1->state, CAIRN__TASK_STATE__TASK_STATE_WAITING);
    cr_assert_eq(r1->pending_reason, CAIRN__PENDING_REASON__PENDING_REASON_DEPENDENCIES);
    cr_assert_str_eq(r1->pending_detail, "needs run");
    cr_assert_eq(r1->n_attempts, 0);
    cairn_msg_free(m);
}

LEAK_TEST(proto_messages, nodes_reply)
{
    Cairn__NodeGpu free_gpu = CAIRN__NODE_GPU__INIT, busy_gpu = CAIRN__NODE_GPU__INIT;
    free_gpu.index = 0, free_gpu.model = "A100", free_gpu.memory_bytes = 40ull << 30;
    free_gpu.uuid = "GPU-a";
    busy_gpu.index = 1, busy_gpu.model = "A100", busy_gpu.uuid = "GPU-b", busy_gpu.used = 1;
    busy_gpu.attempt_id = 55, busy_gpu.job_id = 6, busy_gpu.task_name = "train";
    Cairn__NodeGpu *gpus[] = {&free_gpu, &busy_gpu};
    Cairn__NodeInfo n = CAIRN__NODE_INFO__INIT;
    n.name = "n1", n.node_id = 3, n.state = CAIRN__NODE_STATE__NODE_STATE_DRAINING;
    n.cores_total = 64, n.cores_free = 60, n.memory_total_bytes = 512ull << 30;
    n.memory_free_bytes = 500ull << 30, n.n_gpus = 2, n.gpus = gpus;
    n.last_heartbeat_ms = 1234, n.worker_version = "0.1.0", n.running_attempts = 1;
    n.drain_reason = "kernel upgrade";
    Cairn__NodeInfo *nodes[] = {&n};
    Cairn__NodesReply in = CAIRN__NODES_REPLY__INIT;
    in.n_nodes = 1, in.nodes = nodes;

    ProtobufCMessage *m = round_trip(CAIRN_MSG_NODES_REPLY, &in.base);
    const Cairn__NodesReply *o = (const Cairn__NodesReply *)m;
    cr_assert_eq(o->n_nodes, 1);
    const Cairn__NodeInfo *on = o->nodes[0];
    cr_assert_str_eq(on->name, "n1");
    cr_assert_eq(on->node_id, 3);
    cr_assert_eq(on->state, CAIRN__NODE_STATE__NODE_STATE_DRAINING);
    cr_assert_eq(on->cores_total, 64);
    cr_assert_eq(on->cores_free, 60);
    cr_assert_eq(on->memory_total_bytes, 512ull << 30);
    cr_assert_eq(on->memory_free_bytes, 500ull << 30);
    cr_assert_eq(on->last_heartbeat_ms, 1234);
    cr_assert_str_eq(on->worker_version, "0.1.0");
    cr_assert_eq(on->running_attempts, 1);
    cr_assert_str_eq(on->drain_reason, "kernel upgrade");
    cr_assert_eq(on->n_gpus, 2);
    cr_assert_not(on->gpus[0]->used);
    cr_assert_eq(on->gpus[0]->attempt_id, 0);
    cr_assert_eq(on->gpus[0]->memory_bytes, 40ull << 30);
    cr_assert(on->gpus[1]->used);
    cr_assert_eq(on->gpus[1]->attempt_id, 55);
    cr_assert_eq(on->gpus[1]->job_id, 6);
    cr_assert_str_eq(on->gpus[1]->task_name, "train");
    cairn_msg_free(m);
}

LEAK_TEST(proto_messages, log_chunk_binary_data)
{
    static uint8_t data[70000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 31 + (i >> 8)); /* NULs and invalid UTF-8 included */
    Cairn__LogChunk in = CAIRN__LOG_CHUNK__INIT;
    in.attempt_id = 8, in.stream = CAIRN__LOG_STREAM__LOG_STREAM_STDERR, in.offset = 1u << 20;
    in.data.data = data, in.data.len = sizeof(data), in.eof = 1, in.size = (1u << 20) + 70000;

    ProtobufCMessage *m = round_trip(CAIRN_MSG_LOG_CHUNK, &in.base);
    const Cairn__LogChunk *o = (const Cairn__LogChunk *)m;
    cr_assert_eq(o->attempt_id, 8);
    cr_assert_eq(o->stream, CAIRN__LOG_STREAM__LOG_STREAM_STDERR);
    cr_assert_eq(o->offset, 1u << 20);
    cr_assert_eq(o->data.len, sizeof(data));
    cr_assert_eq(memcmp(o->data.data, data, sizeof(data)), 0);
    cr_assert(o->eof);
    cr_assert_eq(o->size, (1u << 20) + 70000);
    cr_assert_str_eq(o->error, "");
    cairn_msg_free(m);
}

LEAK_TEST(proto_messages, error_reply_and_explain)
{
    Cairn__ErrorReply er = CAIRN__ERROR_REPLY__INIT;
    er.code = CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND, er.message = "no job 99";
    er.request_type = CAIRN_MSG_JOB_STATUS;
    ProtobufCMessage *m = round_trip(CAIRN_MSG_ERROR, &er.base);
    const Cairn__ErrorReply *eo = (const Cairn__ErrorReply *)m;
    cr_assert_eq(eo->code, CAIRN__ERROR_CODE__ERROR_CODE_NOT_FOUND);
    cr_assert_str_eq(eo->message, "no job 99");
    cr_assert_eq(eo->request_type, CAIRN_MSG_JOB_STATUS);
    cairn_msg_free(m);

    Cairn__ReasonCount rc0 = CAIRN__REASON_COUNT__INIT, rc1 = CAIRN__REASON_COUNT__INIT;
    rc0.reason = CAIRN__PENDING_REASON__PENDING_REASON_INSUFFICIENT_GPUS, rc0.count = 7;
    rc1.reason = CAIRN__PENDING_REASON__PENDING_REASON_LABELS, rc1.count = 2;
    Cairn__ReasonCount *reasons[] = {&rc0, &rc1};
    Cairn__ExplainReply ex = CAIRN__EXPLAIN_REPLY__INIT;
    ex.text = "7 nodes lack 4 free GPUs", ex.n_reasons = 2, ex.reasons = reasons;
    ex.state = CAIRN__TASK_STATE__TASK_STATE_PENDING, ex.nodes_considered = 9;
    m = round_trip(CAIRN_MSG_EXPLAIN_REPLY, &ex.base);
    const Cairn__ExplainReply *xo = (const Cairn__ExplainReply *)m;
    cr_assert_str_eq(xo->text, "7 nodes lack 4 free GPUs");
    cr_assert_eq(xo->n_reasons, 2);
    cr_assert_eq(xo->reasons[0]->reason, CAIRN__PENDING_REASON__PENDING_REASON_INSUFFICIENT_GPUS);
    cr_assert_eq(xo->reasons[0]->count, 7);
    cr_assert_eq(xo->reasons[1]->reason, CAIRN__PENDING_REASON__PENDING_REASON_LABELS);
    cr_assert_eq(xo->reasons[1]->count, 2);
    cr_assert_eq(xo->state, CAIRN__TASK_STATE__TASK_STATE_PENDING);
    cr_assert_eq(xo->nodes_considered, 9);
    cairn_msg_free(m);
}

/* An enum value this build does not know arrives unchanged (proto3 enums
 * are open): a newer peer's TaskEvent kind must not be dropped. */
LEAK_TEST(proto_messages, unknown_enum_value_kept)
{
    Cairn__TaskEvent in = CAIRN__TASK_EVENT__INIT;
    in.attempt_id = 1, in.kind = (Cairn__TaskEvent__Kind)57;
    ProtobufCMessage *m = round_trip(CAIRN_MSG_TASK_EVENT, &in.base);
    cr_assert_eq((int)((const Cairn__TaskEvent *)m)->kind, 57);
    cairn_msg_free(m);
}
