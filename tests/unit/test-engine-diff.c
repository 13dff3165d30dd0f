/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's pure diff (desired vs observed -> actions, clash refusal, spec key changes) and the
 * ordering and rollback of engine_apply() through a fake backend. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmlab/engine.h"

#define LAB "lab1"

/* ---- building plans by hand (heap memory that plan_free() releases) ---- */

static char *dup_or_null(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static Plan *plan_new(const char *lab)
{
    Plan *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->lab = dup_or_null(lab);
    return p;
}

static void set_subnet(bool *has, Ipv4Net *net, const char *cidr)
{
    *has = cidr != NULL;
    if (cidr)
        assert_int_equal(addr_cidr_parse(cidr, net), 0);
}

/* Adds a desired network "<lab>-<key>"; returns its index (pointers move on the next add). */
static size_t add_want(Plan *p, const char *key, const char *hash, const char *spec,
                       const char *note, const char *bridge, const char *cidr)
{
    Resource *w = realloc(p->want, (p->n_want + 1) * sizeof(*w));
    assert_non_null(w);
    p->want = w;
    Resource *r = &w[p->n_want];
    memset(r, 0, sizeof(*r));
    r->kind = RESOURCE_NETWORK;
    r->key = dup_or_null(key);
    assert_true(asprintf(&r->name, "%s-%s", p->lab, key) > 0);
    r->hash = dup_or_null(hash);
    r->spec = dup_or_null(spec);
    r->note = dup_or_null(note);
    r->bridge = dup_or_null(bridge);
    set_subnet(&r->has_subnet, &r->subnet, cidr);
    return p->n_want++;
}

static size_t add_have(Plan *p, const char *name, const char *lab, const char *key,
                       const char *hash, const char *spec, const char *bridge, const char *cidr,
                       bool active)
{
    Observed *h = realloc(p->have, (p->n_have + 1) * sizeof(*h));
    assert_non_null(h);
    p->have = h;
    Observed *o = &h[p->n_have];
    memset(o, 0, sizeof(*o));
    o->kind = RESOURCE_NETWORK;
    o->name = dup_or_null(name);
    o->lab = dup_or_null(lab);
    o->key = dup_or_null(key);
    o->hash = dup_or_null(hash);
    o->spec = dup_or_null(spec);
    o->bridge = dup_or_null(bridge);
    set_subnet(&o->has_subnet, &o->subnet, cidr);
    o->active = active;
    o->autostart = true;
    return p->n_have++;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!haystack || !strstr(haystack, needle))
        fprintf(stderr, "expected '%s' in '%s'\n", needle, haystack ? haystack : "(null)");
    assert_non_null(haystack);
    assert_non_null(strstr(haystack, needle));
}

static void assert_not_contains(const char *haystack, const char *needle)
{
    assert_non_null(haystack);
    if (strstr(haystack, needle))
        fprintf(stderr, "did not expect '%s' in '%s'\n", needle, haystack);
    assert_null(strstr(haystack, needle));
}

/* Runs engine_diff(), expecting success, with exactly @n actions. */
static void diff_ok(Plan *p, size_t n)
{
    Error err = ERROR_INIT;
    int r = engine_diff(p, &err);
    if (r < 0)
        fprintf(stderr, "engine_diff: %d %s\n", r, err.message ? err.message : "");
    assert_int_equal(r, 0);
    assert_false(error_is_set(&err));
    assert_int_equal(p->n_actions, n);
    for (size_t i = 0; i < p->n_actions; i++)
        assert_non_null(p->actions[i].reason);
}

#define SPEC_A "mode=nat\nsubnet=10.10.0.0/24\nlive.host=52:54:00:00:00:01,10.10.0.11\n"
/* SPEC_A with another DHCP host (live only) */
#define SPEC_A_LIVE "mode=nat\nsubnet=10.10.0.0/24\nlive.host=52:54:00:00:00:02,10.10.0.12\n"
/* SPEC_A with another subnet (needs a new object) */
#define SPEC_A_SUBNET "mode=nat\nsubnet=10.20.0.0/24\nlive.host=52:54:00:00:00:01,10.10.0.11\n"

/* ---- engine_diff: one resource ---- */

static void test_create_missing(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, "kvl-vmnet8", "10.10.0.0/24");
    diff_ok(p, 1);
    const Action *a = &p->actions[0];
    assert_int_equal(a->type, ACTION_CREATE);
    assert_int_equal(a->kind, RESOURCE_NETWORK);
    assert_ptr_equal(a->want, &p->want[0]);
    assert_null(a->have);
    assert_contains(a->reason, "'vmnet8'");
    assert_contains(a->reason, "does not exist");
    assert_not_contains(a->reason, ";");
    assert_int_equal(plan_changes(p), 1);
    plan_free(p);
}

static void test_create_missing_with_note(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, "picked subnet 10.10.0.0/24", NULL, "10.10.0.0/24");
    diff_ok(p, 1);
    assert_int_equal(p->actions[0].type, ACTION_CREATE);
    assert_contains(p->actions[0].reason, "'vmnet8'");
    assert_contains(p->actions[0].reason, "picked subnet 10.10.0.0/24");
    plan_free(p);
}

/* An object of another lab that only resembles ours (other name, bridge, subnet) is no reason not
 * to create. */
static void test_create_next_to_other_lab(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, "kvl-a", "10.10.0.0/24");
    add_have(p, "lab2-vmnet8", "lab2", "vmnet8", "h1", SPEC_A, "kvl-b", "10.11.0.0/24", true);
    add_have(p, "default", NULL, NULL, NULL, NULL, "virbr0", "192.168.122.0/24", true);
    diff_ok(p, 1);
    assert_int_equal(p->actions[0].type, ACTION_CREATE);
    assert_null(p->actions[0].have);
    plan_free(p);
}

static void test_none_when_current(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, NULL, "10.10.0.0/24");
    add_have(p, LAB "-vmnet8", LAB, "vmnet8", "h1", SPEC_A, NULL, "10.10.0.0/24", true);
    diff_ok(p, 1);
    const Action *a = &p->actions[0];
    assert_int_equal(a->type, ACTION_NONE);
    assert_ptr_equal(a->want, &p->want[0]);
    assert_ptr_equal(a->have, &p->have[0]);
    assert_contains(a->reason, "'vmnet8'");
    assert_int_equal(plan_changes(p), 0);
    plan_free(p);
}

static void test_start_when_inactive(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, NULL, "10.10.0.0/24");
    add_have(p, LAB "-vmnet8", LAB, "vmnet8", "h1", SPEC_A, NULL, "10.10.0.0/24", false);
    diff_ok(p, 1);
    const Action *a = &p->actions[0];
    assert_int_equal(a->type, ACTION_START);
    assert_ptr_equal(a->want, &p->want[0]);
    assert_ptr_equal(a->have, &p->have[0]);
    assert_contains(a->reason, "'vmnet8'");
    assert_int_equal(plan_changes(p), 1);
    plan_free(p);
}

static void test_update_live_only(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h2", SPEC_A_LIVE, NULL, NULL, "10.10.0.0/24");
    add_have(p, LAB "-vmnet8", LAB, "vmnet8", "h1", SPEC_A, NULL, "10.10.0.0/24", true);
    diff_ok(p, 1);
    const Action *a = &p->actions[0];
    assert_int_equal(a->type, ACTION_UPDATE);
    assert_ptr_equal(a->want, &p->want[0]);
    assert_ptr_equal(a->have, &p->have[0]);
    assert_string_equal(a->reason, "changed: host");
    assert_int_equal(plan_changes(p), 1);
    plan_free(p);
}

static void test_recreate_live_only_inactive(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h2", SPEC_A_LIVE, NULL, NULL, "10.10.0.0/24");
    add_have(p, LAB "-vmnet8", LAB, "vmnet8", "h1", SPEC_A, NULL, "10.10.0.0/24", false);
    diff_ok(p, 1);
    const Action *a = &p->actions[0];
    assert_int_equal(a->type, ACTION_RECREATE);
    assert_ptr_equal(a->want, &p->want[0]);
    assert_ptr_equal(a->have, &p->have[0]);
    assert_contains(a->reason, "changed: host");
    assert_contains(a->reason, "not running");
    plan_free(p);
}

static void test_recreate_subnet(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h3", SPEC_A_SUBNET, NULL, NULL, "10.20.0.0/24");
    add_have(p, LAB "-vmnet8", LAB, "vmnet8", "h1", SPEC_A, NULL, "10.10.0.0/24", true);
    diff_ok(p, 1);
    const Action *a = &p->actions[0];
    assert_int_equal(a->type, ACTION_RECREATE);
    assert_ptr_equal(a->want, &p->want[0]);
    assert_ptr_equal(a->have, &p->have[0]);
    assert_contains(a->reason, "subnet");
    assert_not_contains(a->reason, "host"); /* the live line did not change */
    assert_not_contains(a->reason, "not running");
    plan_free(p);
}

/* A live and a non-live change together still need a new object; both are named. */
static void test_recreate_mixed(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h4",
             "mode=nat\nsubnet=10.20.0.0/24\nlive.host=52:54:00:00:00:02,10.20.0.12\n", NULL, NULL,
             "10.20.0.0/24");
    add_have(p, LAB "-vmnet8", LAB, "vmnet8", "h1", SPEC_A, NULL, "10.10.0.0/24", true);
    diff_ok(p, 1);
    assert_int_equal(p->actions[0].type, ACTION_RECREATE);
    assert_contains(p->actions[0].reason, "subnet");
    assert_contains(p->actions[0].reason, "host");
    plan_free(p);
}

/* ---- engine_diff: deletes, ownership, order ---- */

static void test_delete_owned_first(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet1", "h1", SPEC_A, NULL, NULL, NULL);
    add_want(p, "vmnet2", "h2", SPEC_A, NULL, NULL, NULL);
    add_have(p, LAB "-vmnet1", LAB, "vmnet1", "h1", SPEC_A, NULL, NULL, true);
    add_have(p, "lab2-old", "lab2", "old", "hx", SPEC_A, NULL, NULL, true); /* another lab's */
    add_have(p, "default", NULL, NULL, NULL, NULL, NULL, NULL, true);       /* nobody's */
    add_have(p, LAB "-old", LAB, "old", "hx", SPEC_A, NULL, NULL, false);   /* ours, unwanted */
    diff_ok(p, 3);

    assert_int_equal(p->actions[0].type, ACTION_DELETE);
    assert_null(p->actions[0].want);
    assert_ptr_equal(p->actions[0].have, &p->have[3]);
    assert_contains(p->actions[0].reason, "'old'");
    assert_int_equal(p->actions[1].type, ACTION_NONE);
    assert_ptr_equal(p->actions[1].want, &p->want[0]);
    assert_int_equal(p->actions[2].type, ACTION_CREATE);
    assert_ptr_equal(p->actions[2].want, &p->want[1]);
    assert_int_equal(plan_changes(p), 2);

    /* neither the other lab's nor the unowned object appears in any action */
    for (size_t i = 0; i < p->n_actions; i++) {
        assert_ptr_not_equal(p->actions[i].have, &p->have[1]);
        assert_ptr_not_equal(p->actions[i].have, &p->have[2]);
    }
    plan_free(p);
}

/* A lab file emptied out deletes all of ours and nothing else. */
static void test_delete_only_ours(void **state)
{
    Plan *p = plan_new(LAB);
    add_have(p, "default", NULL, NULL, NULL, NULL, "virbr0", "192.168.122.0/24", true);
    add_have(p, LAB "-a", LAB, "a", "h", SPEC_A, NULL, NULL, true);
    add_have(p, "lab10-a", "lab10", "a", "h", SPEC_A, NULL, NULL, true); /* prefix of no use */
    add_have(p, LAB "-b", LAB, "b", "h", SPEC_A, NULL, NULL, true);
    diff_ok(p, 2);
    assert_int_equal(p->actions[0].type, ACTION_DELETE);
    assert_ptr_equal(p->actions[0].have, &p->have[1]);
    assert_int_equal(p->actions[1].type, ACTION_DELETE);
    assert_ptr_equal(p->actions[1].have, &p->have[3]);
    assert_int_equal(plan_changes(p), 2);
    plan_free(p);
}

static void test_action_order_follows_want(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "c", "hc", SPEC_A, NULL, NULL, NULL);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    add_want(p, "b", "hb", SPEC_A, NULL, NULL, NULL);
    add_have(p, LAB "-b", LAB, "b", "hb", SPEC_A, NULL, NULL, false);
    add_have(p, LAB "-a", LAB, "a", "ha", SPEC_A, NULL, NULL, true);
    diff_ok(p, 3);
    assert_ptr_equal(p->actions[0].want, &p->want[0]);
    assert_int_equal(p->actions[0].type, ACTION_CREATE);
    assert_ptr_equal(p->actions[1].want, &p->want[1]);
    assert_int_equal(p->actions[1].type, ACTION_NONE);
    assert_ptr_equal(p->actions[1].have, &p->have[1]);
    assert_ptr_equal(p->actions[2].want, &p->want[2]);
    assert_int_equal(p->actions[2].type, ACTION_START);
    assert_ptr_equal(p->actions[2].have, &p->have[0]);
    plan_free(p);
}

/* ---- engine_diff: clashes ---- */

static void diff_clash(Plan *p, const char *const *words)
{
    Error err = ERROR_INIT;
    int r = engine_diff(p, &err);
    assert_int_equal(r, -EEXIST);
    assert_int_equal(err.code, -EEXIST);
    assert_non_null(err.message);
    for (size_t i = 0; words[i]; i++)
        assert_contains(err.message, words[i]);
    error_clear(&err);
    plan_free(p);
}

static void test_clash_name_unowned(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, NULL, NULL);
    add_have(p, LAB "-vmnet8", NULL, NULL, NULL, "whatever", NULL, NULL, true);
    diff_clash(p, (const char *const[]){"'" LAB "-vmnet8'", "vmnet8", NULL});
}

static void test_clash_name_other_lab(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, NULL, NULL);
    add_have(p, LAB "-vmnet8", "lab2", "vmnet8", "h1", SPEC_A, NULL, NULL, true);
    diff_clash(p, (const char *const[]){"'" LAB "-vmnet8'", "lab2", NULL});
}

static void test_clash_bridge_other_lab(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, "kvl-br8", "10.10.0.0/24");
    add_have(p, "lab2-vmnet3", "lab2", "vmnet3", "h9", SPEC_A, "kvl-br8", "10.99.0.0/24", true);
    diff_clash(p, (const char *const[]){"'kvl-br8'", "'lab2-vmnet3'", "lab2", NULL});
}

static void test_clash_bridge_unowned(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, "virbr0", NULL);
    add_have(p, "default", NULL, NULL, NULL, NULL, "virbr0", NULL, false);
    diff_clash(p, (const char *const[]){"'virbr0'", "'default'", NULL});
}

static void test_clash_subnet_overlap(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, "kvl-a", "10.10.5.0/24");
    add_have(p, "default", NULL, NULL, NULL, NULL, "virbr0", "10.10.0.0/16", true);
    diff_clash(p, (const char *const[]){"'default'", "10.10.5.0/24", "10.10.0.0/16", NULL});

    /* the other way round (ours is the wider one), owned by another lab */
    p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, "kvl-a", "10.0.0.0/8");
    add_have(p, "lab2-x", "lab2", "x", "h", SPEC_A, "kvl-b", "10.200.3.0/24", true);
    diff_clash(p, (const char *const[]){"'lab2-x'", "lab2", NULL});
}

/* A clash on the second wanted resource is still found. */
static void test_clash_second_want(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet1", "h1", SPEC_A, NULL, "kvl-1", "10.1.0.0/24");
    add_want(p, "vmnet2", "h2", SPEC_A, NULL, "kvl-2", "10.2.0.0/24");
    add_have(p, "foreign", NULL, NULL, NULL, NULL, "kvl-2", NULL, true);
    diff_clash(p, (const char *const[]){"'foreign'", "'kvl-2'", NULL});
}

/* Our own object with the same name, bridge and subnet is what we manage, not a clash; adjacent
 * subnets of others do not overlap. */
static void test_no_clash_with_own(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "vmnet8", "h1", SPEC_A, NULL, "kvl-br8", "10.10.0.0/24");
    add_have(p, LAB "-vmnet8", LAB, "vmnet8", "h1", SPEC_A, "kvl-br8", "10.10.0.0/24", true);
    add_have(p, "lab2-x", "lab2", "x", "h", SPEC_A, "kvl-x", "10.10.1.0/24", true);
    add_have(p, "plain", NULL, NULL, NULL, NULL, NULL, "10.9.255.0/24", true);
    diff_ok(p, 1);
    assert_int_equal(p->actions[0].type, ACTION_NONE);

    /* an owned object on the subnet we want, about to be deleted, is no clash either */
    Plan *q = plan_new(LAB);
    add_want(q, "new", "h1", SPEC_A, NULL, "kvl-br8", "10.10.0.0/24");
    add_have(q, LAB "-old", LAB, "old", "h0", SPEC_A, "kvl-br8", "10.10.0.0/24", true);
    diff_ok(q, 2);
    assert_int_equal(q->actions[0].type, ACTION_DELETE);
    assert_int_equal(q->actions[1].type, ACTION_CREATE);
    plan_free(p);
    plan_free(q);
}

/* ---- engine_spec_changes ---- */

static void check_changes(const char *old_spec, const char *new_spec, const char *want,
                          bool want_live_only)
{
    bool live_only = !want_live_only;
    char *s = engine_spec_changes(old_spec, new_spec, &live_only);
    assert_non_null(s);
    if (strcmp(s, want) != 0)
        fprintf(stderr, "changes('%s' -> '%s') = '%s', expected '%s'\n", old_spec, new_spec, s,
                want);
    assert_string_equal(s, want);
    assert_int_equal(live_only, want_live_only);
    free(s);
}

static void test_spec_changes(void **state)
{
    check_changes(SPEC_A, SPEC_A, "", true);
    check_changes("", "", "", true);
    check_changes(SPEC_A, SPEC_A_LIVE, "host", true);
    check_changes(SPEC_A, SPEC_A_SUBNET, "subnet", false);
    /* keys in order of first appearance, old spec first */
    check_changes("a=1\nb=1\nlive.c=1\n", "live.c=2\nb=2\na=2\n", "a, b, c", false);
    /* added and removed keys count */
    check_changes("a=1\n", "a=1\nlive.d=1\n", "d", true);
    check_changes("a=1\nb=1\n", "a=1\n", "b", false);
    check_changes(NULL, "a=1\n", "a", false);
    check_changes("live.a=1\n", NULL, "a", true);
    /* a key that is a prefix of another is its own key */
    check_changes("live.host=x\nlive.hostname=y\n", "live.host=x\nlive.hostname=z\n", "hostname",
                  true);
    /* "live" alone or "lived" is not a live key */
    check_changes("lived.x=1\n", "lived.x=2\n", "lived.x", false);
    /* an empty value is a value */
    check_changes("a=\n", "a=0\n", "a", false);
    /* the last line may lack its newline */
    check_changes("a=1\nb=2", "a=1\nb=2\n", "", true);
    check_changes("a=1\nb=2", "a=1\nb=3", "b", false);
    /* NULL @ret_live_only is allowed */
    char *s = engine_spec_changes("a=1\n", "a=2\n", NULL);
    assert_string_equal(s, "a");
    free(s);
}

static void test_spec_changes_repeated(void **state)
{
    const char *two = "mode=nat\nlive.host=m1,1\nlive.host=m2,2\n";
    /* the same lines: equal */
    check_changes(two, "mode=nat\nlive.host=m1,1\nlive.host=m2,2\n", "", true);
    /* repeated lines interleaved with others compare the same */
    check_changes(two, "live.host=m1,1\nmode=nat\nlive.host=m2,2\n", "", true);
    /* one more, one fewer, one different: changed, and named once */
    check_changes(two, "mode=nat\nlive.host=m1,1\nlive.host=m2,2\nlive.host=m3,3\n", "host", true);
    check_changes(two, "mode=nat\nlive.host=m1,1\n", "host", true);
    check_changes(two, "mode=nat\nlive.host=m1,1\nlive.host=m2,9\n", "host", true);
    check_changes(two, "mode=nat\n", "host", true);
    /* a duplicated line is not the same multiset as a single one */
    check_changes("live.host=m1,1\n", "live.host=m1,1\nlive.host=m1,1\n", "host", true);
    /* values are compared in order: the canonical spec fixes the order of repeated lines */
    check_changes(two, "mode=nat\nlive.host=m2,2\nlive.host=m1,1\n", "host", true);
    /* a repeated live key next to a non-live change */
    check_changes(two, "mode=route\nlive.host=m1,1\n", "mode, host", false);
}

/* ---- engine_apply with a fake backend ---- */

#define LOG_MAX 32

typedef struct Fake {
    int n_create, n_start, n_update, n_remove;
    int fail_create_at; /* 1-based; 0 never */
    int fail_remove_at; /* 1-based; 0 never */
    int fail_start;     /* non-zero: every start fails */
    char log[LOG_MAX][64];
    size_t n_log;
    int progress[2]; /* calls per phase */
} Fake;

static void fake_log(Fake *f, const char *op, const char *name)
{
    assert_true(f->n_log < LOG_MAX);
    snprintf(f->log[f->n_log++], sizeof(f->log[0]), "%s %s", op, name ? name : "(null)");
}

static int fake_create(void *ctx, const Resource *want, Error *err)
{
    Fake *f = ctx;
    assert_non_null(want);
    fake_log(f, "create", want->name);
    if (++f->n_create == f->fail_create_at)
        return error_set(err, -ENOSPC, "create of '%s' failed", want->name);
    return 0;
}

static int fake_start(void *ctx, const Observed *have, Error *err)
{
    Fake *f = ctx;
    assert_non_null(have);
    fake_log(f, "start", have->name);
    f->n_start++;
    if (f->fail_start)
        return error_set(err, -EPERM, "start of '%s' failed", have->name);
    return 0;
}

static int fake_update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    Fake *f = ctx;
    assert_non_null(want);
    assert_non_null(have);
    fake_log(f, "update", want->name);
    f->n_update++;
    return 0;
}

static int fake_remove(void *ctx, const Observed *have, Error *err)
{
    Fake *f = ctx;
    assert_non_null(have);
    fake_log(f, "remove", have->name);
    if (++f->n_remove == f->fail_remove_at)
        return error_set(err, -EIO, "remove of '%s' failed", have->name);
    return 0;
}

static int fake_restore(void *ctx, const Observed *have, Error *err)
{
    Fake *f = ctx;
    assert_non_null(have);
    assert_non_null(have->definition);
    fake_log(f, "restore", have->name);
    return 0;
}

static int fake_observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    fail_msg("engine_apply must not observe");
    return -1;
}

static EngineBackend fake_backend(Fake *f)
{
    return (EngineBackend){
            .kind = RESOURCE_NETWORK,
            .label = "network",
            .observe = fake_observe,
            .create = fake_create,
            .start = fake_start,
            .update = fake_update,
            .remove = fake_remove,
            .restore = fake_restore,
            .ctx = f,
    };
}

static void fake_progress(const Action *a, int phase, void *userdata)
{
    Fake *f = userdata;
    assert_non_null(a);
    assert_true(phase == 0 || phase == 1);
    assert_int_not_equal(a->type, ACTION_NONE);
    f->progress[phase]++;
}

static void assert_log(const Fake *f, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    bool same = f->n_log == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(f->log[i], want[i]) == 0;
    for (size_t i = 0; !same && i < f->n_log; i++)
        fprintf(stderr, "call %zu: %s\n", i, f->log[i]);
    assert_int_equal(f->n_log, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(f->log[i], want[i]);
}

static int apply(const Plan *p, Fake *f, Error *err)
{
    EngineBackend be = fake_backend(f);
    return engine_apply(p, &be, 1, fake_progress, f, err);
}

static void test_apply_up_to_date_no_calls(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    add_want(p, "b", "hb", SPEC_A, NULL, NULL, NULL);
    add_have(p, LAB "-a", LAB, "a", "ha", SPEC_A, NULL, NULL, true);
    add_have(p, LAB "-b", LAB, "b", "hb", SPEC_A, NULL, NULL, true);
    add_have(p, "default", NULL, NULL, NULL, NULL, NULL, NULL, false);
    diff_ok(p, 2);
    assert_int_equal(plan_changes(p), 0);

    Fake f = {0};
    Error err = ERROR_INIT;
    assert_int_equal(apply(p, &f, &err), 0);
    assert_false(error_is_set(&err));
    assert_int_equal(f.n_log, 0);
    assert_int_equal(f.n_create + f.n_start + f.n_update + f.n_remove, 0);
    assert_int_equal(f.progress[0] + f.progress[1], 0);

    /* not even a backend is needed when nothing changes */
    assert_int_equal(engine_apply(p, NULL, 0, NULL, NULL, &err), 0);
    assert_false(error_is_set(&err));
    plan_free(p);
}

static void test_apply_every_action(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "new", "h", SPEC_A, NULL, NULL, NULL);
    add_want(p, "stopped", "h", SPEC_A, NULL, NULL, NULL);
    add_want(p, "same", "h", SPEC_A, NULL, NULL, NULL);
    add_want(p, "live", "h2", SPEC_A_LIVE, NULL, NULL, NULL);
    add_want(p, "moved", "h3", SPEC_A_SUBNET, NULL, NULL, NULL);
    add_have(p, LAB "-stopped", LAB, "stopped", "h", SPEC_A, NULL, NULL, false);
    add_have(p, LAB "-same", LAB, "same", "h", SPEC_A, NULL, NULL, true);
    add_have(p, LAB "-live", LAB, "live", "h1", SPEC_A, NULL, NULL, true);
    add_have(p, LAB "-moved", LAB, "moved", "h1", SPEC_A, NULL, NULL, true);
    add_have(p, LAB "-gone", LAB, "gone", "h1", SPEC_A, NULL, NULL, true);
    diff_ok(p, 6);
    assert_int_equal(p->actions[0].type, ACTION_DELETE);
    assert_int_equal(p->actions[1].type, ACTION_CREATE);
    assert_int_equal(p->actions[2].type, ACTION_START);
    assert_int_equal(p->actions[3].type, ACTION_NONE);
    assert_int_equal(p->actions[4].type, ACTION_UPDATE);
    assert_int_equal(p->actions[5].type, ACTION_RECREATE);
    assert_int_equal(plan_changes(p), 5);

    Fake f = {0};
    Error err = ERROR_INIT;
    assert_int_equal(apply(p, &f, &err), 0);
    assert_false(error_is_set(&err));
    assert_log(&f, (const char *const[]){"remove " LAB "-gone", "create " LAB "-new",
                                         "start " LAB "-stopped", "update " LAB "-live",
                                         "remove " LAB "-moved", "create " LAB "-moved", NULL});
    assert_int_equal(f.progress[0], 5);
    assert_int_equal(f.progress[1], 5);
    plan_free(p);
}

/* Three creates, the third fails: the two made before it go again, newest first. The failed one
 * is not touched: its backend undid its own half, and the name may be someone else's by now. */
static void test_apply_rollback(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    add_want(p, "b", "hb", SPEC_A, NULL, NULL, NULL);
    add_want(p, "c", "hc", SPEC_A, NULL, NULL, NULL);
    add_want(p, "d", "hd", SPEC_A, NULL, NULL, NULL);
    diff_ok(p, 4);

    Fake f = {.fail_create_at = 3};
    Error err = ERROR_INIT;
    assert_int_equal(apply(p, &f, &err), -ENOSPC);
    assert_int_equal(err.code, -ENOSPC);
    assert_string_equal(err.message, "create of '" LAB "-c' failed");
    assert_log(&f, (const char *const[]){"create " LAB "-a", "create " LAB "-b", "create " LAB "-c",
                                         "remove " LAB "-b", "remove " LAB "-a", NULL});
    assert_int_equal(f.n_create, 3); /* "d" is never tried */
    assert_int_equal(f.progress[0], 3);
    assert_int_equal(f.progress[1], 2);
    error_clear(&err);
    plan_free(p);
}

/* A failing remove during the rollback neither stops it nor replaces the first error. */
static void test_apply_rollback_keeps_first_error(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    add_want(p, "b", "hb", SPEC_A, NULL, NULL, NULL);
    add_want(p, "c", "hc", SPEC_A, NULL, NULL, NULL);
    diff_ok(p, 3);

    Fake f = {.fail_create_at = 3, .fail_remove_at = 1};
    Error err = ERROR_INIT;
    assert_int_equal(apply(p, &f, &err), -ENOSPC);
    assert_int_equal(err.code, -ENOSPC);
    /* the first error first, then what could not be undone */
    assert_string_equal(err.message,
                        "create of '" LAB "-c' failed; undoing the create of network '" LAB
                        "-b' failed too: remove of '" LAB "-b' failed");
    assert_log(&f, (const char *const[]){"create " LAB "-a", "create " LAB "-b", "create " LAB "-c",
                                         "remove " LAB "-b", "remove " LAB "-a", NULL});
    error_clear(&err);
    plan_free(p);
}

/* A failure after creates (here: a start) puts the failed object back as it was and removes the
 * creates; the first failure is the one reported. */
static void test_apply_rollback_after_other_failure(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    add_want(p, "s", "hs", SPEC_A, NULL, NULL, NULL);
    add_want(p, "z", "hz", SPEC_A, NULL, NULL, NULL);
    add_have(p, LAB "-s", LAB, "s", "hs", SPEC_A, NULL, NULL, false);
    p->have[0].definition = dup_or_null("<network/>");
    diff_ok(p, 3);
    assert_int_equal(p->actions[1].type, ACTION_START);

    Fake f = {.fail_start = 1};
    Error err = ERROR_INIT;
    assert_int_equal(apply(p, &f, &err), -EPERM);
    assert_string_equal(err.message, "start of '" LAB "-s' failed");
    assert_log(&f, (const char *const[]){"create " LAB "-a", "start " LAB "-s", "restore " LAB "-s",
                                         "remove " LAB "-a", NULL});
    error_clear(&err);
    plan_free(p);
}

/* RECREATE removes then creates; when its create fails the old object is restored and the
 * earlier creates are undone. */
static void test_apply_recreate_failure(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    add_want(p, "m", "h3", SPEC_A_SUBNET, NULL, NULL, NULL);
    add_have(p, LAB "-m", LAB, "m", "h1", SPEC_A, NULL, NULL, true);
    p->have[0].definition = dup_or_null("<network/>");
    diff_ok(p, 2);
    assert_int_equal(p->actions[1].type, ACTION_RECREATE);

    Fake f = {.fail_create_at = 2};
    Error err = ERROR_INIT;
    assert_int_equal(apply(p, &f, &err), -ENOSPC);
    assert_string_equal(err.message, "create of '" LAB "-m' failed");
    assert_log(&f, (const char *const[]){"create " LAB "-a", "remove " LAB "-m", "create " LAB "-m",
                                         "restore " LAB "-m", "remove " LAB "-a", NULL});
    error_clear(&err);
    plan_free(p);
}

/* The first step failing leaves nothing to undo. */
static void test_apply_first_create_fails(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    add_want(p, "b", "hb", SPEC_A, NULL, NULL, NULL);
    diff_ok(p, 2);

    Fake f = {.fail_create_at = 1};
    Error err = ERROR_INIT;
    assert_int_equal(apply(p, &f, &err), -ENOSPC);
    assert_log(&f, (const char *const[]){"create " LAB "-a", NULL});
    assert_int_equal(f.n_remove, 0);
    error_clear(&err);
    plan_free(p);
}

/* down: every delete on its own; the one that fails is put back alone, the others still go, and
 * the first error is returned. */
static void test_apply_each_goes_on(void **state)
{
    Plan *p = plan_new(LAB);
    add_have(p, LAB "-a", LAB, "a", "ha", SPEC_A, NULL, NULL, true);
    add_have(p, LAB "-b", LAB, "b", "hb", SPEC_A, NULL, NULL, true);
    add_have(p, LAB "-c", LAB, "c", "hc", SPEC_A, NULL, NULL, true);
    for (size_t i = 0; i < p->n_have; i++)
        p->have[i].definition = dup_or_null("<network/>");
    diff_ok(p, 3);

    Fake f = {.fail_remove_at = 2};
    Error err = ERROR_INIT;
    EngineBackend be = fake_backend(&f);
    assert_int_equal(engine_apply_each(p, &be, 1, NULL, NULL, &err), -EIO);
    assert_string_equal(err.message, "remove of '" LAB "-b' failed");
    assert_log(&f, (const char *const[]){"remove " LAB "-a", "remove " LAB "-b",
                                         "restore " LAB "-b", "remove " LAB "-c", NULL});
    error_clear(&err);
    plan_free(p);
}

static void test_apply_no_backend(void **state)
{
    Plan *p = plan_new(LAB);
    add_want(p, "a", "ha", SPEC_A, NULL, NULL, NULL);
    diff_ok(p, 1);
    Error err = ERROR_INIT;
    assert_int_equal(engine_apply(p, NULL, 0, NULL, NULL, &err), -ENOTSUP);
    assert_contains(err.message, "network");
    error_clear(&err);
    plan_free(p);
}

static void test_to_string(void **state)
{
    assert_string_equal(action_type_to_string(ACTION_CREATE), "create");
    assert_string_equal(action_type_to_string(ACTION_UPDATE), "update in place");
    assert_string_equal(action_type_to_string(ACTION_DELETE), "delete");
    assert_string_equal(resource_kind_to_string(RESOURCE_NETWORK), "network");
    assert_string_equal(resource_kind_to_string(RESOURCE_KIND_MAX), "?");
    plan_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_create_missing),
            cmocka_unit_test(test_create_missing_with_note),
            cmocka_unit_test(test_create_next_to_other_lab),
            cmocka_unit_test(test_none_when_current),
            cmocka_unit_test(test_start_when_inactive),
            cmocka_unit_test(test_update_live_only),
            cmocka_unit_test(test_recreate_live_only_inactive),
            cmocka_unit_test(test_recreate_subnet),
            cmocka_unit_test(test_recreate_mixed),
            cmocka_unit_test(test_delete_owned_first),
            cmocka_unit_test(test_delete_only_ours),
            cmocka_unit_test(test_action_order_follows_want),
            cmocka_unit_test(test_clash_name_unowned),
            cmocka_unit_test(test_clash_name_other_lab),
            cmocka_unit_test(test_clash_bridge_other_lab),
            cmocka_unit_test(test_clash_bridge_unowned),
            cmocka_unit_test(test_clash_subnet_overlap),
            cmocka_unit_test(test_clash_second_want),
            cmocka_unit_test(test_no_clash_with_own),
            cmocka_unit_test(test_spec_changes),
            cmocka_unit_test(test_spec_changes_repeated),
            cmocka_unit_test(test_apply_up_to_date_no_calls),
            cmocka_unit_test(test_apply_every_action),
            cmocka_unit_test(test_apply_rollback),
            cmocka_unit_test(test_apply_rollback_keeps_first_error),
            cmocka_unit_test(test_apply_rollback_after_other_failure),
            cmocka_unit_test(test_apply_recreate_failure),
            cmocka_unit_test(test_apply_first_create_fails),
            cmocka_unit_test(test_apply_each_goes_on),
            cmocka_unit_test(test_apply_no_backend),
            cmocka_unit_test(test_to_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
