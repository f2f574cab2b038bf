/* cairn schedulers [--json] (cluster/cmd_schedulers.c): the table and the
 * JSON of a SchedulersReply, from a fake scheduler that gives a fixed one
 * (fake_standby.h), run through the real cairn binary. */
#include <stdio.h>
#include <string.h>

#include "fake_standby.h"

static char *run(const char *url, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "timeout 30 '%s/cairn' --scheduler '%s' schedulers %s",
             CAIRN_BIN_DIR, url, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    cr_assert_eq(pclose(p), 0, "%s: %s", cmd, out);
    return out;
}

Test(client_schedulers, table_and_json)
{
    char dir[] = "/tmp/cairn-schedulers-XXXXXX", url[200];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "ipc://%s/clients.sock", dir);
    Cairn__SchedulerInstance a = CAIRN__SCHEDULER_INSTANCE__INIT, b = a, *ins[] = {&a, &b};
    a.holder = "sched-a:4242";
    a.client_endpoints = "tcp://a:7000";
    a.worker_endpoints = "tcp://a:7001";
    a.leader = true;
    a.epoch = 7;
    a.applied_seq = 1200;
    a.lag = 0;
    a.seen_ms_ago = 400;
    a.state = "leading";
    b.holder = "sched-b:99";
    b.client_endpoints = "tcp://b:7000";
    b.epoch = 7;
    b.applied_seq = 1195;
    b.lag = 5;
    b.seen_ms_ago = 1300;
    b.state = "standby";
    Cairn__SchedulersReply r = CAIRN__SCHEDULERS_REPLY__INIT;
    r.store = "postgresql";
    r.head_seq = 1200;
    r.n_instances = 2;
    r.instances = ins;
    r.lease_ms = 5000;
    r.time_ms = 1796000000000;
    fake_standby_t f = {.reply = &r.base, .reply_type = CAIRN_MSG_SCHEDULERS_REPLY};
    fake_standby_start(&f, url, false, "", 0);

    char *out = run(url, "");
    cr_assert(strstr(out, "store: postgresql, newest entry 1200, lease 5.0s"), "%s", out);
    cr_assert(strstr(out, "HOLDER"), "%s", out);
    cr_assert(strstr(out, "CLIENT ENDPOINTS"), "%s", out);
    char *la = strstr(out, "sched-a:4242"), *lb = strstr(out, "sched-b:99");
    cr_assert(la && lb && la < lb, "the leader first: %s", out);
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(la, "\n"), la);
    cr_assert(strstr(line, "leading") && strstr(line, "1200") && strstr(line, "0.4s ago") &&
                  strstr(line, "tcp://a:7000"),
              "%s", line);
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(lb, "\n"), lb);
    cr_assert(strstr(line, "standby") && strstr(line, "1195") && strstr(line, "1.3s ago") &&
                  strstr(line, " 5 "),
              "%s", line);

    out = run(url, "--json");
    cr_assert(strstr(out, "\"store\": \"postgresql\"") || strstr(out, "\"store\":\"postgresql\""),
              "%s", out);
    cr_assert(strstr(out, "\"holder\":\"sched-b:99\"") || strstr(out, "\"holder\": \"sched-b:99\""),
              "%s", out);
    cr_assert(strstr(out, "seen_ms_ago") && strstr(out, "applied_seq") &&
                  strstr(out, "worker_endpoints"),
              "%s", out);
    cr_assert_geq(atomic_load(&f.answers), 2);
    fake_standby_stop(&f);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
