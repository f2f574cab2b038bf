/* bench_nodes' simulated nodes: one shard process runs many nodes on one
 * libuv loop, each with the real worker's link (worker/link.c: its own
 * pair1 socket and dialer, registration, heartbeats, task events with
 * sequence numbers resent until acknowledged, report hold, batches and
 * flow control) and the Register that worker/register_msg.c builds from a
 * topology fixture. Tasks run for a given time without a process.
 *
 * What differs from a real worker: no process, cgroup, log file or output
 * hash per task (STARTED at once, EXITED after the duration, exit code 0);
 * a ResourceReport every third heartbeat as the worker sends it, its
 * figures made up (load, memory, each running attempt, each NVIDIA GPU);
 * ReadLog is answered with an empty, ended log; many nodes share one
 * process (so one loop and one set of nng threads). */
#ifndef CAIRN_BENCH_NODES_SIM_H
#define CAIRN_BENCH_NODES_SIM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Counters a shard shares with the driver (in MAP_SHARED memory). */
typedef struct sim_counts {
    _Atomic uint64_t registered;   /* accepted registrations, re-registrations too */
    _Atomic uint64_t reregistered; /* of those, by a node that had registered before */
    _Atomic uint64_t assigned;     /* AssignTask received (duplicates too) */
    _Atomic uint64_t ended;        /* EXITED events queued */
    _Atomic uint64_t reports;      /* ResourceReports sent */
    _Atomic int stamping;          /* the driver wants assignment stamps */
    _Atomic int failed;            /* the shard could not start (its stderr says why) */
} sim_counts_t;

/* An assignment's arrival, written to stamp_fd while stamping is on. */
typedef struct sim_stamp {
    uint64_t job_id;
    int64_t mono_ns; /* CLOCK_MONOTONIC */
} sim_stamp_t;

typedef struct sim_shard_config {
    const char *url; /* the scheduler's worker endpoint */
    uint32_t first;  /* nodes sim<first> .. sim<first+count-1> */
    uint32_t count;
    char *const *topos; /* hwloc XML fixtures: node i gets topos[i % ntopos] */
    size_t ntopos;
    uint32_t duration_ms; /* how long each task runs (0: ends on the next loop turn) */
    int stamp_fd;         /* write end of the stamps pipe (non-blocking) */
    sim_counts_t *counts;
    const char *log_path; /* the links' warnings and errors; NULL: none */
    const char *join_key; /* the cluster's join key file (proto/join.h); NULL: none */
} sim_shard_config_t;

/* Run a shard until SIGTERM (then _exit(0)); returns only on a failure to
 * start, with a message on stderr: the exit status for the process. */
int sim_shard_run(const sim_shard_config_t *cfg);

#endif
