/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure planning on hand-written host states: subnet picking in any file order, every clash
 * kind, the names objects keep, readable bridge names, drift of each essential field, NAT where
 * kvmlab cannot write its table, and every valid file of the parser's test data planned. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/engine.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/hostlink.h"
#include "kvmlab/spectext.h"
#include "kvmlab/vmnet.h"

/* ---- host states by hand ---- */

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* An observed network: owner @lab (NULL: foreign), lab-file @key, @spec as its metadata records
 * it and @live as the object really is (NULL: same as @spec). */
static Observed *host_add(HostState *h, const char *name, const char *lab, const char *key,
                          const char *spec, const char *live)
{
    Observed *v = realloc(h->objects, (h->n_objects + 1) * sizeof(*v));
    assert_non_null(v);
    h->objects = v;
    Observed *o = &v[h->n_objects++];
    memset(o, 0, sizeof(*o));
    o->kind = RESOURCE_NETWORK;
    o->name = xstrdup(name);
    o->lab = xstrdup(lab);
    o->key = xstrdup(key);
    o->spec = xstrdup(spec);
    o->live_spec = xstrdup(live ? live : spec);
    o->active = true;
    o->autostart = true;
    if (spec) {
        char *hash = NULL;
        assert_true(asprintf(&hash, "%016llx",
                             (unsigned long long)hash_fnv1a(HASH_FNV_INIT, spec, strlen(spec))) >
                    0);
        o->hash = hash;
        char *sub = spec_text_get(spec, "subnet");
        if (sub) {
            assert_int_equal(addr_cidr_parse(sub, &o->subnet), 0);
            o->has_subnet = true;
        }
        free(sub);
        o->bridge = spec_text_get(spec, "bridge");
    }
    return o;
}

static void host_add_net(Ipv4Net **v, size_t *n, const char *cidr)
{
    Ipv4Net *nv = realloc(*v, (*n + 1) * sizeof(**v));
    assert_non_null(nv);
    *v = nv;
    assert_int_equal(addr_cidr_parse(cidr, &nv[(*n)++]), 0);
}

static Plan *plan_ok(const char *lab_text, HostState *h)
{
    Lab *lab = fixture_lab_load("plan.yaml", lab_text);
    assert_non_null(lab);
    Plan *p = NULL;
    Error err = ERROR_INIT;
    int r = engine_plan(lab, h, &p, &err);
    if (r < 0)
        fail_msg("engine_plan: %s", err.message);
    lab_free(lab);
    host_state_clear(h);
    return p;
}

static int plan_err(const char *lab_text, HostState *h, Error *err)
{
    Lab *lab = fixture_lab_load("plan.yaml", lab_text);
    assert_non_null(lab);
    Plan *p = NULL;
    int r = engine_plan(lab, h, &p, err);
    assert_null(p);
    lab_free(lab);
    host_state_clear(h);
    return r;
}

static const Resource *want(const Plan *p, const char *key)
{
    for (size_t i = 0; i < p->n_want; i++)
        if (strcmp(p->want[i].key, key) == 0)
            return &p->want[i];
    fail_msg("no resource for '%s'", key);
    return NULL;
}

static const Action *action(const Plan *p, const char *key)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        const Action *a = &p->actions[i];
        const char *k = a->want ? a->want->key : a->have->key;
        if (k && strcmp(k, key) == 0)
            return a;
    }
    fail_msg("no action for '%s'", key);
    return NULL;
}

static void assert_subnet(const Plan *p, const char *key, const char *cidr)
{
    char buf[CIDR_STRLEN];
    const Resource *w = want(p, key);
    assert_true(w->has_subnet);
    assert_string_equal(addr_cidr_format(&w->subnet, buf), cidr);
}

/* The spec text the planner would give @key of @lab_text on an empty host (what an earlier `up`
 * made): used to write observed states of objects kvmlab made. */
static char *made_spec_with(const char *lab_text, const char *key, bool bridges)
{
    HostState h = {.nat_table = true, .bridges = bridges};
    Plan *p = plan_ok(lab_text, &h);
    char *s = xstrdup(want(p, key)->spec);
    plan_free(p);
    return s;
}

static char *made_spec(const char *lab_text, const char *key)
{
    HostState h = {.nat_table = true};
    Plan *p = plan_ok(lab_text, &h);
    char *s = xstrdup(want(p, key)->spec);
    plan_free(p);
    return s;
}

/* A spec text with the line(s) of @key replaced by @lines ("" removes them). */
static char *spec_edit(const char *spec, const char *key, const char *lines)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    bool done = false;
    size_t kl = strlen(key);
    for (const char *p = spec; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            if (!done)
                fputs(lines, f);
            done = true;
        } else {
            fwrite(p, 1, l, f);
        }
        p += l;
    }
    fclose(f);
    assert_true(done);
    return out;
}

#define LAB_TWO                                                                                    \
    "lab: t1\n"                                                                                    \
    "connect: sandbox\n"                                                                           \
    "networks:\n"                                                                                  \
    "  vmnet1: {type: hostonly}\n"

#define LAB_TWO_INSERTED                                                                           \
    "lab: t1\n"                                                                                    \
    "connect: sandbox\n"                                                                           \
    "networks:\n"                                                                                  \
    "  vmnet2: {type: hostonly}\n"                                                                 \
    "  vmnet1: {type: hostonly}\n"

/* vmnet1 is up with the subnet an earlier up picked; vmnet2 is inserted above it in the file:
 * vmnet1 keeps its subnet and vmnet2 gets another (reproduced bug: both got the same /24). */
static void test_insert_above(void **state)
{
    (void)state;
    HostState h = {.nat_table = true};
    /* written by hand: what the first up made, 192.168.100.0/24 being the first candidate */
    char *spec = made_spec(LAB_TWO, "vmnet1");
    _cleanup_free_ char *sub = spec_text_get(spec, "subnet");
    assert_string_equal(sub, "192.168.100.0/24");
    host_add(&h, "t1-vmnet1", "t1", "vmnet1", spec, NULL);
    free(spec);
    Plan *p = plan_ok(LAB_TWO_INSERTED, &h);
    assert_subnet(p, "vmnet1", "192.168.100.0/24");
    assert_subnet(p, "vmnet2", "192.168.101.0/24");
    if (action(p, "vmnet1")->type != ACTION_NONE)
        fail_msg("vmnet1: %s", action(p, "vmnet1")->reason);
    assert_int_equal(action(p, "vmnet2")->type, ACTION_CREATE);
    plan_free(p);
}

/* Every kind of address in use keeps a picked subnet clear: host routes, other labs' records,
 * foreign libvirt networks, and subnets the file gives to other networks. */
static void test_pick_clear_of_everything(void **state)
{
    (void)state;
    HostState h = {.nat_table = true};
    host_add_net(&h.host_nets, &h.n_host_nets, "192.168.100.0/23"); /* .100 and .101 */
    host_add_net(&h.lab_nets, &h.n_lab_nets, "192.168.102.0/24");
    host_add(&h, "default", NULL, NULL, NULL, NULL)->has_subnet = true;
    assert_int_equal(addr_cidr_parse("192.168.103.0/24", &h.objects[0].subnet), 0);
    Plan *p = plan_ok("lab: t2\nconnect: sandbox\nnetworks:\n"
                      "  vmnet1: {type: hostonly}\n"
                      "  vmnet5: {type: nat, subnet: 192.168.104.0/24}\n",
                      &h);
    assert_subnet(p, "vmnet1", "192.168.105.0/24");
    plan_free(p);
}

/* A subnet the file gives that overlaps something not ours, or a name taken by a foreign
 * network, is refused; the message names both. */
static void test_clashes_refused(void **state)
{
    (void)state;
    Error err = ERROR_INIT;
    HostState h = {.nat_table = true};
    Observed *o = host_add(&h, "corp", NULL, NULL, NULL, NULL);
    o->has_subnet = true;
    assert_int_equal(addr_cidr_parse("10.1.0.0/16", &o->subnet), 0);
    assert_int_equal(plan_err("lab: t3\nconnect: sandbox\nnetworks:\n"
                              "  vmnet8: {type: nat, subnet: 10.1.2.0/24}\n",
                              &h, &err),
                     -EEXIST);
    assert_non_null(strstr(err.message, "overlaps '10.1.0.0/16' of 'corp'"));
    error_clear(&err);

    HostState h2 = {.nat_table = true};
    host_add(&h2, "t3-vmnet8", "otherlab", "vmnet8", NULL, NULL);
    assert_int_equal(
            plan_err("lab: t3\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat}\n", &h2, &err),
            -EEXIST);
    assert_non_null(strstr(err.message, "belongs to lab 'otherlab'"));
    error_clear(&err);
}

/* Bridge names a person can map to the lab, at most 11 characters; a clash with a bridge in
 * use (another lab's record, a foreign network) gets a hashed variant of the same shape. */
static void test_bridge_names(void **state)
{
    (void)state;
    HostState h = {.nat_table = true};
    Plan *p = plan_ok("lab: cka\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat}\n", &h);
    assert_string_equal(want(p, "vmnet8")->bridge, "cka-vmnet8");
    plan_free(p);

    HostState h2 = {.nat_table = true};
    p = plan_ok("lab: netdemo\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat}\n"
                "  lan: {type: isolated}\n",
                &h2);
    assert_string_equal(want(p, "vmnet8")->bridge, "netdemo-v8");
    assert_string_equal(want(p, "lan")->bridge, "netdemo-lan");
    plan_free(p);

    HostState h3 = {.nat_table = true};
    p = plan_ok("lab: longlabname1\nconnect: sandbox\nnetworks:\n  vmnet12: {type: nat}\n", &h3);
    assert_string_equal(want(p, "vmnet12")->bridge, "longlab-v12");
    plan_free(p);

    /* taken by another lab's record: a variant, still readable, still unique */
    HostState h4 = {.nat_table = true};
    h4.lab_bridges = calloc(1, sizeof(char *));
    h4.lab_bridges[0] = xstrdup("netdemo-v8");
    h4.n_lab_bridges = 1;
    p = plan_ok("lab: netdemo\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat}\n", &h4);
    const char *b = want(p, "vmnet8")->bridge;
    assert_string_not_equal(b, "netdemo-v8");
    assert_true(strlen(b) <= 11);
    assert_int_equal(strncmp(b, "netd", 4), 0);
    assert_non_null(strstr(b, "-v8"));
    plan_free(p);
}

/* An object an older kvmlab made keeps its name and bridge: a changed naming scheme alone
 * never recreates it. */
static void test_names_kept(void **state)
{
    (void)state;
    const char *text = "lab: netdemo\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat}\n";
    char *spec = made_spec(text, "vmnet8");
    /* the old scheme: a hashed bridge and another object name */
    char *old = spec_edit(spec, "bridge", "bridge=kl3f353e6e7\n");
    char *old2 = spec_edit(old, "name", "name=old-netdemo-vmnet8\n");
    HostState h = {.nat_table = true};
    host_add(&h, "old-netdemo-vmnet8", "netdemo", "vmnet8", old2, NULL);
    Plan *p = plan_ok(text, &h);
    assert_string_equal(want(p, "vmnet8")->name, "old-netdemo-vmnet8");
    assert_string_equal(want(p, "vmnet8")->bridge, "kl3f353e6e7");
    assert_int_equal(action(p, "vmnet8")->type, ACTION_NONE);
    plan_free(p);
    free(spec);
    free(old);
    free(old2);
}

/* A network inserted above one that is up never takes its bridge (the kept bridge is reserved
 * before any name is chosen, whatever the file order). */
static void test_kept_bridge_reserved(void **state)
{
    (void)state;
    char *spec = made_spec("lab: netdemo\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat}\n",
                           "vmnet8");
    _cleanup_free_ char *b = spec_text_get(spec, "bridge");
    assert_string_equal(b, "netdemo-v8");
    HostState h = {.nat_table = true};
    host_add(&h, "netdemo-vmnet8", "netdemo", "vmnet8", spec, NULL);
    Plan *p = plan_ok("lab: netdemo\nconnect: sandbox\nnetworks:\n  v8: {type: isolated}\n"
                      "  vmnet8: {type: nat}\n",
                      &h);
    assert_string_equal(want(p, "vmnet8")->bridge, "netdemo-v8");
    assert_string_not_equal(want(p, "v8")->bridge, "netdemo-v8");
    assert_int_equal(action(p, "vmnet8")->type, ACTION_NONE);
    plan_free(p);
    free(spec);
}

/* A subnet picked earlier gives way when the file now gives that subnet to another network: the
 * picked one moves (recreated, with the reason), nothing overlaps. */
static void test_kept_subnet_gives_way(void **state)
{
    (void)state;
    char *spec = made_spec("lab: sk\nconnect: sandbox\nnetworks:\n  vmnet1: {type: hostonly}\n",
                           "vmnet1");
    HostState h = {.nat_table = true};
    host_add(&h, "sk-vmnet1", "sk", "vmnet1", spec, NULL);
    Plan *p = plan_ok("lab: sk\nconnect: sandbox\nnetworks:\n  vmnet1: {type: hostonly}\n"
                      "  vmnet8: {type: nat, subnet: 192.168.100.0/24}\n",
                      &h);
    assert_subnet(p, "vmnet8", "192.168.100.0/24");
    assert_subnet(p, "vmnet1", "192.168.101.0/24");
    assert_int_equal(action(p, "vmnet1")->type, ACTION_RECREATE);
    assert_non_null(strstr(action(p, "vmnet1")->reason, "subnet"));
    plan_free(p);
    free(spec);
}

typedef struct DriftCase {
    const char *key;   /* the spec key edited by hand */
    const char *lines; /* its live value(s) */
    ActionType expect;
    const char *words; /* what the reason must name */
} DriftCase;

/* Each essential field edited by hand on the live object (metadata kept): plan shows the
 * repair, marked as drift, with a reason naming the field. */
static void test_drift_each_field(void **state)
{
    (void)state;
    const char *text = "lab: dr\nconnect: sandbox\nnetworks:\n"
                       "  vmnet8:\n    type: nat\n    subnet: 192.168.236.0/24\n"
                       "    reservations: [{mac: '52:54:00:aa:bb:01', ip: 192.168.236.10}]\n";
    static const DriftCase cases[] = {
            {"dhcp", "dhcp=192.168.236.200-192.168.236.254\n", ACTION_RECREATE, "dhcp"},
            {"subnet", "subnet=192.168.237.0/24\n", ACTION_RECREATE, "subnet"},
            {"host", "host=192.168.236.5\n", ACTION_RECREATE, "host"},
            {"gateway", "gateway=192.168.236.1\n", ACTION_RECREATE, "gateway"},
            {"bridge", "bridge=virbr9\n", ACTION_RECREATE, "bridge"},
            {"type", "type=hostonly\n", ACTION_RECREATE, "type"},
            {"domain", "domain=other.lab\n", ACTION_RECREATE, "domain"},
            {"live.lease", "live.lease=3600\n", ACTION_UPDATE, "lease"},
            {"live.host", "", ACTION_UPDATE, "reservation"},
    };
    char *spec = made_spec(text, "vmnet8");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *live = spec_edit(spec, cases[i].key, cases[i].lines);
        HostState h = {.nat_table = true};
        host_add(&h, "dr-vmnet8", "dr", "vmnet8", spec, live);
        Plan *p = plan_ok(text, &h);
        const Action *a = action(p, "vmnet8");
        if (a->type != cases[i].expect || !a->drift || strncmp(a->reason, "drift: ", 7) != 0 ||
            !strstr(a->reason, cases[i].words))
            fail_msg("%s: got %s drift=%d '%s'", cases[i].key, action_type_to_string(a->type),
                     a->drift, a->reason);
        plan_free(p);
        free(live);
    }
    /* no drift: the same object gives no action */
    HostState h = {.nat_table = true};
    host_add(&h, "dr-vmnet8", "dr", "vmnet8", spec, NULL);
    Plan *p = plan_ok(text, &h);
    assert_int_equal(action(p, "vmnet8")->type, ACTION_NONE);
    assert_false(action(p, "vmnet8")->drift);
    plan_free(p);
    free(spec);
}

/* A file change (not drift) is "changed:", not marked drift. */
static void test_change_is_not_drift(void **state)
{
    (void)state;
    char *spec = made_spec("lab: dr\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat, subnet: "
                           "192.168.236.0/24}\n",
                           "vmnet8");
    HostState h = {.nat_table = true};
    host_add(&h, "dr-vmnet8", "dr", "vmnet8", spec, NULL);
    Plan *p = plan_ok("lab: dr\nconnect: sandbox\nnetworks:\n  vmnet8: {type: nat, subnet: "
                      "192.168.237.0/24}\n",
                      &h);
    const Action *a = action(p, "vmnet8");
    assert_int_equal(a->type, ACTION_RECREATE);
    assert_false(a->drift);
    assert_int_equal(strncmp(a->reason, "changed: ", 9), 0);
    plan_free(p);
    free(spec);
}

/* Where kvmlab cannot write its NAT table (a remote or private daemon): libvirt's own NAT, a
 * note that says what that costs, no table resource, and port forwards refused naming the URI. */
static void test_nat_without_table(void **state)
{
    (void)state;
    HostState h = {.nat_table = false, .uri = xstrdup("qemu+ssh://far/system")};
    Plan *p = plan_ok("lab: nt\nconnect: qemu+ssh://far/system\nnetworks:\n  vmnet8: {type: nat}\n",
                      &h);
    _cleanup_free_ char *mode = spec_text_get(want(p, "vmnet8")->spec, "nat");
    assert_string_equal(mode, "libvirt");
    for (size_t i = 0; i < p->n_want; i++)
        assert_int_not_equal(p->want[i].kind, RESOURCE_PORTFWD);
    assert_int_equal(p->n_notes, 1);
    assert_non_null(strstr(p->notes[0], "port forwards from outside the host are not available"));
    char *xml = NULL;
    assert_int_equal(vmnet_libvirt_xml_format(want(p, "vmnet8")->data, &xml, NULL), 0);
    assert_non_null(strstr(xml, "<forward mode='nat'/>"));
    free(xml);
    plan_free(p);

    Error err = ERROR_INIT;
    HostState h2 = {.nat_table = false, .uri = xstrdup("qemu+ssh://far/system")};
    assert_int_equal(plan_err("lab: nt\nconnect: qemu+ssh://far/system\nnetworks:\n"
                              "  vmnet8:\n    type: nat\n    port_forwards: [{proto: tcp, "
                              "host_port: 2222, node: cp, port: 22}]\n"
                              "images:\n  base: {build: debian-12}\n"
                              "nodes:\n  - {name: cp, image: base, networks: [vmnet8]}\n",
                              &h2, &err),
                     -ENOTSUP);
    assert_non_null(strstr(err.message, "'qemu+ssh://far/system'"));
    error_clear(&err);
}

/* Every file of the parser's test data that validates is planned without a refusal caused by
 * the file (on an empty host where kvmlab writes its table). */
static void test_valid_files_plan(void **state)
{
    (void)state;
    const char *root = getenv("KVMLAB_SOURCE_ROOT");
    assert_non_null(root);
    _cleanup_free_ char *dir = NULL;
    assert_true(asprintf(&dir, "%s/tests/data/lab-parse", root) > 0);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    size_t planned = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
            continue;
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, de->d_name) > 0);
        Lab *lab = NULL;
        LabDiags diags = {0};
        Error err = ERROR_INIT;
        int r = lab_load_file(path, &lab, &diags, &err);
        lab_diags_clear(&diags);
        error_clear(&err);
        if (r < 0)
            continue;
        HostState h = {.nat_table = true, .bridges = true};
        Plan *p = NULL;
        r = engine_plan(lab, &h, &p, &err);
        if (r < 0)
            fail_msg("%s: validate accepts it but plan refuses: %s", de->d_name, err.message);
        error_clear(&err);
        planned++;
        plan_free(p);
        host_state_clear(&h);
        lab_free(lab);
    }
    closedir(d);
    assert_true(planned >= 4);
}

#define LAB_BRIDGE_NAT                                                                             \
    "lab: bb\n"                                                                                    \
    "connect: sandbox\n"                                                                           \
    "networks:\n"                                                                                  \
    "  vmnet8:\n"                                                                                  \
    "    type: nat\n"                                                                              \
    "    backend: bridge\n"                                                                        \
    "    subnet: 192.168.50.0/24\n"                                                                \
    "    port_forwards: [{proto: tcp, host_port: 8080, node: web, port: 80}]\n"                    \
    "  vmnet1: {type: hostonly, backend: bridge, subnet: 192.168.51.0/24}\n"                       \
    "images:\n  base: {build: debian-12}\n"                                                        \
    "nodes:\n  - {name: web, image: base, networks: [vmnet8]}\n"

/* The bridge backend: a resource of its own kind with VMware's plan, its dnsmasq in the spec,
 * and NAT in kvmlab's table wherever kvmlab makes bridges (a private local daemon too). */
static void test_bridge_backend(void **state)
{
    (void)state;
    for (int private_daemon = 0; private_daemon < 2; private_daemon++) {
        HostState h = {.nat_table = !private_daemon, .bridges = true};
        Plan *p = plan_ok(LAB_BRIDGE_NAT, &h);
        const Resource *w = want(p, "vmnet8");
        assert_int_equal(w->kind, RESOURCE_BRIDGE);
        assert_string_equal(w->bridge, "bb-vmnet8");
        const char *expect[] = {"backend=bridge\n", "host=192.168.50.1\n", "gateway=192.168.50.2\n",
                                "dhcp=192.168.50.128-192.168.50.254\n", "live.dnsmasq=running\n"};
        for (size_t i = 0; i < ELEMENTSOF(expect); i++)
            if (!strstr(w->spec, expect[i]))
                fail_msg("vmnet8 spec lacks %s:\n%s", expect[i], w->spec);
        const Resource *h1 = want(p, "vmnet1");
        assert_int_equal(h1->kind, RESOURCE_BRIDGE);
        assert_null(strstr(h1->spec, "gateway="));
        const Resource *nat = want(p, "nat");
        assert_int_equal(nat->kind, RESOURCE_PORTFWD);
        assert_non_null(strstr(nat->spec, "masquerade=192.168.50.0/24"));
        assert_non_null(strstr(nat->spec, "forward=tcp/8080,"));
        for (size_t i = 0; i < p->n_notes; i++)
            assert_null(strstr(p->notes[i], "libvirt's own NAT"));
        plan_free(p);
    }
}

/* Where kvmlab cannot make bridges (a remote daemon), backend 'bridge' is refused at its line
 * with the reason. */
static void test_bridge_backend_refused(void **state)
{
    (void)state;
    Error err = ERROR_INIT;
    HostState h = {.bridge_refusal = xstrdup("'qemu+ssh://far/system' is a libvirt on another "
                                             "machine")};
    assert_int_equal(plan_err("lab: bb\nconnect: qemu+ssh://far/system\nnetworks:\n"
                              "  vmnet1:\n    type: hostonly\n    backend: bridge\n",
                              &h, &err),
                     -ENOTSUP);
    assert_non_null(strstr(err.message, "plan.yaml:6:5: network 'vmnet1' asks for backend "
                                        "'bridge', but 'qemu+ssh://far/system' is a libvirt"));
    error_clear(&err);
}

static void link_add(HostState *h, const char *name, const char *kind, const char *master,
                     bool wireless, const char *manager)
{
    HostLinkInfo *v = realloc(h->links, (h->n_links + 1) * sizeof(*v));
    assert_non_null(v);
    h->links = v;
    HostLinkInfo *l = &v[h->n_links++];
    memset(l, 0, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->kind, sizeof(l->kind), "%s", kind);
    snprintf(l->master, sizeof(l->master), "%s", master);
    l->ifindex = (int)h->n_links + 1;
    l->wireless = wireless;
    l->managed_by = xstrdup(manager);
}

static void host_links(HostState *h)
{
    link_add(h, "eth0", "", "", false, NULL);
    link_add(h, "br0", "bridge", "", false, NULL);
    link_add(h, "wlan0", "", "", true, NULL);
    link_add(h, "eth1", "", "", false, "NetworkManager");
    link_add(h, "eth2", "", "bond0", false, NULL);
    link_add(h, "eth3", "", "kvbr-eth3", false, NULL);
}

/* A bridged network's NIC, checked before anything changes: each refusal names the reason. */
static void test_bridged_nic_checks(void **state)
{
    (void)state;
    static const struct {
        const char *iface, *backend, *extra;
        const char *error; /* NULL: planned */
    } cases[] = {
            {"eth0", "bridge", "", NULL},
            {"eth3", "bridge", "", NULL}, /* already on kvmlab's bridge: another lab's */
            {"br0", "libvirt", "", NULL},
            {"eth0", "libvirt", "    macvtap: true\n", NULL},
            {"eth0", "libvirt", "", "interface 'eth0' is not a bridge; add 'backend: bridge'"},
            {"br0", "bridge", "", "interface 'br0' is a bridge already"},
            {"wlan0", "bridge", "", "interface 'wlan0' is wireless"},
            {"eth1", "bridge", "", "interface 'eth1' is managed by NetworkManager"},
            {"eth2", "bridge", "", "interface 'eth2' is a port of 'bond0' already"},
            {"eth9", "bridge", "", "there is no interface 'eth9' where the lab's guests run"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text,
                             "lab: nic\nconnect: qemu:///system\nnetworks:\n  vmnet0:\n"
                             "    type: bridged\n    interface: %s\n    backend: %s\n%s",
                             cases[i].iface, cases[i].backend, cases[i].extra) > 0);
        HostState h = {.nat_table = true, .bridges = true, .uri = xstrdup("qemu:///system")};
        host_links(&h);
        if (!cases[i].error) {
            Plan *p = plan_ok(text, &h);
            const Resource *w = want(p, "vmnet0");
            _cleanup_free_ char *br = spec_text_get(w->spec, "bridge");
            if (strcmp(cases[i].backend, "bridge") == 0) {
                assert_int_equal(w->kind, RESOURCE_BRIDGE);
                _cleanup_free_ char *expect = vmnet_nic_bridge_name(cases[i].iface);
                assert_string_equal(br, expect);
            } else {
                assert_int_equal(w->kind, RESOURCE_NETWORK);
                char *xml = NULL;
                assert_int_equal(vmnet_libvirt_xml_format(w->data, &xml, NULL), 0);
                if (*cases[i].extra)
                    assert_non_null(strstr(xml, "<forward mode='bridge'>\n    <interface "
                                                "dev='eth0'/>\n  </forward>"));
                else
                    assert_non_null(strstr(xml, "<bridge name='br0'/>"));
                free(xml);
            }
            plan_free(p);
            continue;
        }
        Error err = ERROR_INIT;
        assert_true(plan_err(text, &h, &err) < 0);
        if (!strstr(err.message, cases[i].error) || !strstr(err.message, "plan.yaml:4:3:"))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].error);
        error_clear(&err);
    }
}

/* kvmlab's dnsmasq killed by hand: observation says stopped, the plan updates the network in
 * place and calls it drift. */
static void test_dnsmasq_drift(void **state)
{
    (void)state;
    _cleanup_free_ char *spec = made_spec_with(LAB_BRIDGE_NAT, "vmnet1", true);
    _cleanup_free_ char *live = spec_edit(spec, "live.dnsmasq", "live.dnsmasq=stopped\n");
    HostState h = {.nat_table = true, .bridges = true};
    Observed *o = host_add(&h, "bb-vmnet1", "bb", "vmnet1", spec, live);
    o->kind = RESOURCE_BRIDGE;
    Plan *p = plan_ok(LAB_BRIDGE_NAT, &h);
    const Action *a = action(p, "vmnet1");
    assert_int_equal(a->type, ACTION_UPDATE);
    assert_true(a->drift);
    assert_non_null(strstr(a->reason, "dnsmasq"));
    plan_free(p);
}

static char *read_fixture(const char *rel)
{
    const char *root = getenv("KVMLAB_SOURCE_ROOT");
    assert_non_null(root);
    _cleanup_free_ char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
    char *text = NULL;
    assert_int_equal(fs_read_all(path, &text, NULL, NULL), 0);
    return text;
}

/* A Docker-like host firewall: warned by default with the rule that would let the lab through;
 * with firewall: allow (or up --allow-firewall) a firewall resource holds exactly those rules,
 * and the same rules stay wanted once they are in the ruleset (no flapping). */
static void test_firewall_planned(void **state)
{
    (void)state;
    _cleanup_free_ char *docker = read_fixture("tests/data/firewall/docker.ruleset");
    HostState h = {.nat_table = true,
                   .bridges = true,
                   .ruleset = xstrdup(docker),
                   .br_nf_call_iptables = 0};
    Plan *p = plan_ok(LAB_BRIDGE_NAT, &h);
    bool noted = false;
    for (size_t i = 0; i < p->n_notes; i++)
        noted |= strstr(p->notes[i], "Docker") && strstr(p->notes[i], "--allow-firewall") &&
                 strstr(p->notes[i], "iifname \"bb-vmnet8\" accept");
    assert_true(noted);
    for (size_t i = 0; i < p->n_want; i++)
        assert_int_not_equal(p->want[i].kind, RESOURCE_FIREWALL);
    plan_free(p);

    HostState h2 = {
            .nat_table = true, .bridges = true, .ruleset = xstrdup(docker), .firewall_allow = true};
    p = plan_ok(LAB_BRIDGE_NAT, &h2);
    const Resource *fw = want(p, "firewall");
    assert_int_equal(fw->kind, RESOURCE_FIREWALL);
    assert_non_null(strstr(fw->spec, "DOCKER-USER"));
    assert_non_null(strstr(fw->spec, "comment \"kvmlab-allow lab=bb\""));
    assert_non_null(strstr(fw->spec, "bb-vmnet8"));
    assert_non_null(strstr(fw->spec, "bb-vmnet1"));
    _cleanup_free_ char *spec = xstrdup(fw->spec);
    _cleanup_free_ char *hash = xstrdup(fw->hash);
    plan_free(p);

    /* the rules are in: a ruleset carrying them still wants the same resource */
    _cleanup_free_ char *with = NULL;
    assert_true(asprintf(&with,
                         "%s\ntable ip filter {\n\tchain DOCKER-USER {\n\t\tiifname "
                         "\"bb-vmnet8\" accept comment \"kvmlab-allow lab=bb\"\n\t}\n}\n",
                         docker) > 0);
    HostState h3 = {
            .nat_table = true, .bridges = true, .ruleset = xstrdup(with), .firewall_allow = true};
    p = plan_ok(LAB_BRIDGE_NAT, &h3);
    assert_string_equal(want(p, "firewall")->hash, hash);
    assert_string_equal(want(p, "firewall")->spec, spec);
    plan_free(p);

    /* a lab whose traffic nothing drops wants no rules */
    _cleanup_free_ char *clean = read_fixture("tests/data/firewall/kvmlab-only.ruleset");
    HostState h4 = {
            .nat_table = true, .bridges = true, .ruleset = xstrdup(clean), .firewall_allow = true};
    p = plan_ok(LAB_BRIDGE_NAT, &h4);
    for (size_t i = 0; i < p->n_want; i++)
        assert_int_not_equal(p->want[i].kind, RESOURCE_FIREWALL);
    plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_insert_above),
            cmocka_unit_test(test_pick_clear_of_everything),
            cmocka_unit_test(test_clashes_refused),
            cmocka_unit_test(test_bridge_names),
            cmocka_unit_test(test_names_kept),
            cmocka_unit_test(test_kept_bridge_reserved),
            cmocka_unit_test(test_kept_subnet_gives_way),
            cmocka_unit_test(test_drift_each_field),
            cmocka_unit_test(test_change_is_not_drift),
            cmocka_unit_test(test_nat_without_table),
            cmocka_unit_test(test_valid_files_plan),
            cmocka_unit_test(test_bridge_backend),
            cmocka_unit_test(test_bridge_backend_refused),
            cmocka_unit_test(test_bridged_nic_checks),
            cmocka_unit_test(test_dnsmasq_drift),
            cmocka_unit_test(test_firewall_planned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
