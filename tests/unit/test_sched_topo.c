/* Network-aware gangs (scheduling/topo.c): 2 racks of 4 nodes, 4 GPUs and
 * 16 cores each, in one block. Nodes are added interleaved (a1 b1 a2 b2
 * ...), so node ids alone would split a gang across the racks. */
#include <criterion/criterion.h>

#include "leak_check.h"
#include "sched_fixtures.h"
#include "scheduling/snapshot.h"

static fx_pass_t pass;

typedef struct topo_fx {
    sched_t *s;
    fx_journal_t j;
    fx_node_t nodes[8];
    char host[8][32];
} topo_fx_t;

/* The cluster under levels (NULL: "rack,block"). */
static void topo_setup(topo_fx_t *f, const char *levels)
{
    memset(f, 0, sizeof(*f));
    sched_config_t cfg = {.max_reservations = 1, .topology_levels = levels ? levels : "rack,block"};
    f->s = sched_create(&cfg);
    cr_assert_not_null(f->s);
    for (int i = 0; i < 8; i++) {
        char name[8];
        int rack = i % 2, k = i / 2 + 1;
        snprintf(name, sizeof(name), "%c%d", rack ? 'b' : 'a', k);
        fx_node_t *n = &f->nodes[i];
        fx_node_init(n, name, 1, 16, 4, 4, "NVIDIA H100", 80 * GiB, 256 * GiB);
        snprintf(f->host[i], sizeof(f->host[i]), "host=%s", name);
        n->labels[0] = rack ? "topology.rack=r2" : "topology.rack=r1";
        n->labels[1] = "topology.block=k1";
        n->labels[2] = f->host[i];
        n->d.nlabels = 3;
        cr_assert_eq(fx_add_node(f->s, &f->j, n), 0);
    }
}

static void topo_teardown(topo_fx_t *f)
{
    sched_destroy(f->s);
    fx_journal_fini(&f->j);
}

static const char *const host_label[][1] = {{"host=a1"}, {"host=a2"}, {"host=b1"}};

/* Jobs 1-3: one 4-GPU task each on a1, a2 and b1 (attempts 1-3): rack r1
 * has 2 nodes free, r2 has 3. */
static void fill_three(topo_fx_t *f)
{
    static sched_task_spec_t t[3];
    static sched_job_spec_t jobs[3];
    for (int i = 0; i < 3; i++) {
        t[i] = fx_task("one", 16, 4);
        t[i].req.nlabels = 1;
        t[i].req.labels = host_label[i];
        jobs[i] = (sched_job_spec_t){.name = "fill", .seed = 1, .ntasks = 1, .tasks = &t[i]};
        cr_assert_eq(fx_submit(f->s, &f->j, &jobs[i], 0), 0);
    }
    cr_assert_eq(fx_place(f->s, &f->j, 0, &pass), 3, "%s", pass.buf);
}

/* Job 4: a gang of 4 replicas of 4 GPUs with placement mode by level. */
static void submit_gang(topo_fx_t *f, sched_placement_t mode, const char *level)
{
    static sched_task_spec_t g;
    static sched_job_spec_t job;
    g = fx_task("g", 16, 4);
    g.replicas = 4;
    g.placement = mode;
    g.placement_level = level;
    job = (sched_job_spec_t){.name = "gang", .seed = 1, .ntasks = 1, .tasks = &g};
    cr_assert_eq(fx_submit(f->s, &f->j, &job, 0), 0);
}

static char *explain_gang(topo_fx_t *f)
{
    return sched_explain(f->s, 4, 0, 10);
}

LEAK_TEST(topo, require_waits_rather_than_split_then_runs_in_one_rack)
{
    topo_fx_t f;
    topo_setup(&f, NULL);
    fill_three(&f);
    submit_gang(&f, SCHED_PLACEMENT_REQUIRE, "rack");
    cr_assert_eq(fx_place(f.s, &f.j, 5, &pass), 0, "5 nodes free across racks: %s", pass.buf);
    char *why = explain_gang(&f);
    cr_expect(strstr(why, "needs 4 nodes in one rack (require: rack): rack r1 has 2 free, r2 has "
                          "3 free") != NULL,
              "%s", why);
    free(why);
    sched_census_t c;
    cr_assert_eq(sched_census(f.s, &c), 0);
    cr_assert_eq(c.nclasses, 1);
    cr_expect_eq(c.classes[0].idle_topo, 16, "the 20 free GPUs, capped at the 16 wanted: %u",
                 c.classes[0].idle_topo);
    cr_expect_eq(c.classes[0].idle_other, 0);
    sched_census_fini(&c);
    /* b1's task ends: rack r2 has 4 */
    cr_assert_eq(fx_finish(f.s, &f.j, 3, SCHED_END_EXIT, 0, 20), 0);
    cr_assert_eq(fx_place(f.s, &f.j, 20, &pass), 1);
    cr_expect_str_eq(pass.buf, "job4 g a4 -> b1 gpu[0-3] core[0-15] mem=0 + b2 gpu[0-3] "
                               "core[0-15] mem=0 + b3 gpu[0-3] core[0-15] mem=0 + b4 gpu[0-3] "
                               "core[0-15] mem=0");
    why = explain_gang(&f);
    cr_expect(strstr(why, "; placed in rack r2 (require: rack)") != NULL, "%s", why);
    free(why);
    topo_teardown(&f);
}

LEAK_TEST(topo, pack_takes_the_block_when_no_rack_fits_ranks_by_rack)
{
    topo_fx_t f;
    topo_setup(&f, NULL);
    fill_three(&f);
    submit_gang(&f, SCHED_PLACEMENT_PACK, "rack");
    cr_assert_eq(fx_place(f.s, &f.j, 5, &pass), 1);
    /* best fit in block k1 takes a3 b2 a4 b3 (id order); ranks by rack */
    cr_expect_str_eq(pass.buf, "job4 g a4 -> a3 gpu[0-3] core[0-15] mem=0 + a4 gpu[0-3] "
                               "core[0-15] mem=0 + b2 gpu[0-3] core[0-15] mem=0 + b3 gpu[0-3] "
                               "core[0-15] mem=0");
    char *why = explain_gang(&f);
    cr_expect(strstr(why, "; placed in block k1 (pack: rack): no rack had 4 nodes free for it") !=
                  NULL,
              "%s", why);
    free(why);
    topo_teardown(&f);
}

LEAK_TEST(topo, pack_without_a_block_level_splits_contiguous_by_rack)
{
    topo_fx_t f;
    topo_setup(&f, "rack");
    fill_three(&f);
    submit_gang(&f, SCHED_PLACEMENT_PACK, "rack");
    cr_assert_eq(fx_place(f.s, &f.j, 5, &pass), 1);
    cr_expect_str_eq(pass.buf, "job4 g a4 -> a3 gpu[0-3] core[0-15] mem=0 + a4 gpu[0-3] "
                               "core[0-15] mem=0 + b2 gpu[0-3] core[0-15] mem=0 + b3 gpu[0-3] "
                               "core[0-15] mem=0");
    char *why = explain_gang(&f);
    cr_expect(strstr(why, "; placed across racks (pack: rack): no rack had 4 nodes free") != NULL,
              "%s", why);
    free(why);
    topo_teardown(&f);
}

LEAK_TEST(topo, pack_stays_in_a_rack_that_fits)
{
    topo_fx_t f;
    topo_setup(&f, NULL);
    /* only a1 busy: r2 has 4 free, r1 3 */
    sched_task_spec_t t = fx_task("one", 16, 4);
    t.req.nlabels = 1;
    t.req.labels = host_label[0];
    sched_job_spec_t one = {.name = "fill", .seed = 1, .ntasks = 1, .tasks = &t};
    cr_assert_eq(fx_submit(f.s, &f.j, &one, 0), 0);
    sched_task_spec_t g = fx_task("g", 16, 4);
    g.replicas = 4;
    g.placement = SCHED_PLACEMENT_PACK;
    g.placement_level = "rack";
    sched_job_spec_t gang = {.name = "gang", .seed = 1, .ntasks = 1, .tasks = &g};
    cr_assert_eq(fx_submit(f.s, &f.j, &gang, 0), 0);
    cr_assert_eq(fx_place(f.s, &f.j, 5, &pass), 2);
    cr_expect(strstr(pass.buf, "job2 g a2 -> b1 gpu[0-3] core[0-15] mem=0 + b2 gpu[0-3] "
                               "core[0-15] mem=0 + b3 gpu[0-3] core[0-15] mem=0 + b4 gpu[0-3] "
                               "core[0-15] mem=0") != NULL,
              "%s", pass.buf);
    char *why = sched_explain(f.s, 2, 0, 10);
    cr_expect(strstr(why, "; placed in rack r2 (pack: rack)") != NULL, "%s", why);
    cr_expect(strstr(why, "had 4 nodes free") == NULL, "%s", why);
    free(why);
    topo_teardown(&f);
}

LEAK_TEST(topo, best_fit_rack_then_value_order)
{
    typedef struct row {
        const char *what;
        const char *busy; /* a node given a 1-GPU task first, or NULL */
        const char *rack; /* where a 2-replica 2-GPU gang goes */
    } row_t;
    static const row_t rows[] = {
        {"equal racks: the first value, r1", NULL, "a1"},
        {"a GPU taken in r2: r2 is the better fit", "host=b3", "b"},
        {"a GPU taken in r1: r1 is the better fit", "host=a4", "a"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        topo_fx_t f;
        topo_setup(&f, NULL);
        sched_task_spec_t t = fx_task("one", 1, 1);
        const char *sel[1] = {rows[i].busy};
        t.req.nlabels = 1;
        t.req.labels = sel;
        sched_job_spec_t one = {.name = "fill", .seed = 1, .ntasks = 1, .tasks = &t};
        if (rows[i].busy) {
            cr_assert_eq(fx_submit(f.s, &f.j, &one, 0), 0);
            cr_assert_eq(fx_place(f.s, &f.j, 0, &pass), 1);
        }
        sched_task_spec_t g = fx_task("g", 2, 2);
        g.replicas = 2;
        g.placement = SCHED_PLACEMENT_REQUIRE;
        g.placement_level = "rack";
        sched_job_spec_t gang = {.name = "gang", .seed = 1, .ntasks = 1, .tasks = &g};
        cr_assert_eq(fx_submit(f.s, &f.j, &gang, 0), 0);
        cr_assert_eq(fx_place(f.s, &f.j, 1, &pass), 1, "%s", rows[i].what);
        const char *arrow = strstr(pass.buf, "-> ");
        cr_assert_not_null(arrow, "%s", pass.buf);
        cr_expect(!strncmp(arrow + 3, rows[i].rack, strlen(rows[i].rack)), "%s: %s", rows[i].what,
                  pass.buf);
        const char *plus = strstr(pass.buf, " + ");
        cr_assert_not_null(plus);
        cr_expect_eq(plus[3], arrow[3], "%s: both replicas in one rack: %s", rows[i].what,
                     pass.buf);
        topo_teardown(&f);
    }
}

LEAK_TEST(topo, a_level_the_core_lacks_waits_or_places_anywhere)
{
    topo_fx_t f;
    topo_setup(&f, "rack");
    fill_three(&f);
    submit_gang(&f, SCHED_PLACEMENT_REQUIRE, "block");
    cr_assert_eq(fx_place(f.s, &f.j, 5, &pass), 0);
    char *why = explain_gang(&f);
    cr_expect(strstr(why, "the scheduler has no topology level block (--topology-levels)") != NULL,
              "%s", why);
    free(why);
    topo_teardown(&f);
}

/* The same events give the same placements: run a workload twice, and
 * replay its journal into a fresh core; a snapshot keeps the placement. */
LEAK_TEST(topo, deterministic_replay_and_snapshot)
{
    char *dumps[2];
    for (int run = 0; run < 2; run++) {
        topo_fx_t f;
        topo_setup(&f, NULL);
        fill_three(&f);
        submit_gang(&f, SCHED_PLACEMENT_REQUIRE, "rack");
        cr_assert_eq(fx_place(f.s, &f.j, 5, &pass), 0);
        /* a snapshot taken while the gang waits, loaded: it still waits,
         * and places as the original does */
        uint8_t *snap = NULL;
        size_t len = 0;
        cairn_error_t err = {{0}};
        cr_assert_eq(sched_snapshot_save(f.s, &snap, &len, &err), 0, "%s", err.text);
        sched_config_t cfg = {.max_reservations = 1, .topology_levels = "rack,block"};
        sched_t *copy = NULL;
        cr_assert_eq(sched_snapshot_load(snap, len, &cfg, &copy, &err), 0, "%s", err.text);
        free(snap);
        cr_assert_eq(fx_finish(f.s, &f.j, 3, SCHED_END_EXIT, 0, 20), 0);
        cr_assert_eq(fx_finish(copy, NULL, 3, SCHED_END_EXIT, 0, 20), 0);
        cr_assert_eq(fx_place(f.s, &f.j, 20, &pass), 1);
        char *first = strdup(pass.buf);
        cr_assert_eq(fx_place(copy, NULL, 20, &pass), 1);
        cr_expect_str_eq(pass.buf, first, "after a snapshot");
        free(first);
        sched_destroy(copy);
        dumps[run] = sched_dump(f.s);
        /* replay */
        sched_config_t rcfg = {.max_reservations = 1, .topology_levels = "rack,block"};
        sched_t *r = sched_create(&rcfg);
        for (size_t i = 0; i < f.j.n; i++)
            cr_assert_eq(sched_apply(r, &f.j.ev[i], NULL), 0, "event %zu", i);
        char *again = sched_dump(r);
        cr_expect_str_eq(again, dumps[run], "replay");
        free(again);
        sched_destroy(r);
        topo_teardown(&f);
    }
    cr_expect_str_eq(dumps[0], dumps[1]);
    free(dumps[0]);
    free(dumps[1]);
}

Test(topo, levels_and_specs_are_checked)
{
    cairn_error_t err = {{0}};
    cr_expect_eq(sched_topology_levels_check("rack,block", &err), 0);
    cr_expect_eq(sched_topology_levels_check("", &err), 0);
    cr_expect_eq(sched_topology_levels_check("rack,rack", &err), SCHED_EINVAL);
    cr_expect(strstr(err.text, "rack is named twice") != NULL, "%s", err.text);
    cr_expect_eq(sched_topology_levels_check("rack,,block", &err), SCHED_EINVAL);
    cr_expect_eq(sched_topology_levels_check("ra ck", &err), SCHED_EINVAL);
    cr_expect(strstr(err.text, "\"ra ck\" is not a name") != NULL, "%s", err.text);
    sched_config_t bad = {.topology_levels = "a=b"};
    cr_expect_null(sched_create(&bad));

    sched_task_spec_t t = fx_task("t", 1, 0);
    t.placement = SCHED_PLACEMENT_PACK;
    t.placement_level = "rack";
    sched_job_spec_t job = {.name = "j", .ntasks = 1, .tasks = &t};
    sched_problems_t p = {0};
    cr_assert_eq(sched_job_validate(NULL, &job, &p), 1);
    cr_expect(strstr(p.text, "placement is for gangs (replicas > 1)") != NULL, "%s", p.text);
    char path[64];
    sched_problem_path(&p.where[0], path, sizeof(path));
    cr_expect_str_eq(path, "tasks[0].placement");
    sched_problems_fini(&p);
    t.replicas = 2;
    t.placement_level = "rack=x";
    cr_assert_eq(sched_job_validate(NULL, &job, &p), 1);
    cr_expect(strstr(p.text, "is not a topology level name") != NULL, "%s", p.text);
    sched_problems_fini(&p);
}
