/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure planning of a lab's storage on hand-written host states: what is made and in which
 * order, sizes from the file and from the image, and every change that would lose data refused
 * before anything changes (a shrink, a new base, a moved pool); a volume deleted by hand is
 * drift; a built image not made yet and a daemon elsewhere are notes, not errors. */
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
#include "kvmlab/imagestore.h"
#include "kvmlab/nodedomain.h"
#include "kvmlab/storage.h"
#include "kvmlab/storagepool.h"

#define STATE "/srv/kvmlab-state"

static const char *const lab_text =
        "lab: st\n"
        "images:\n"
        "  base: {path: /images/base.qcow2, os: debian12}\n"
        "nodes:\n"
        "  - {name: a, image: base, disks: [{size: 1G}, {size: 256M}]}\n"
        "  - {name: b, image: base}\n";

static void host_init(HostState *h)
{
    memset(h, 0, sizeof(*h));
    h->storage = true;
    h->state_root = strdup(STATE);
    assert_non_null(h->state_root);
}

/* the store name of the lab's image 'base', as the image store names it */
static char *base_store_name(const Lab *lab)
{
    const LabImage *img = lab_find_image(lab, "base");
    assert_non_null(img);
    char *name = image_store_name(img, "/");
    assert_non_null(name);
    return name;
}

static void host_add_image(HostState *h, const char *name, uint64_t vsize)
{
    ImageInfo *v = realloc(h->images, (h->n_images + 1) * sizeof(*v));
    assert_non_null(v);
    h->images = v;
    ImageInfo *i = &v[h->n_images++];
    memset(i, 0, sizeof(*i));
    i->name = strdup(name);
    i->virtual_size = vsize;
}

static Observed *host_add(HostState *h, ResourceKind kind, const char *name, const char *lab,
                          const char *key, const char *spec)
{
    Observed *v = realloc(h->objects, (h->n_objects + 1) * sizeof(*v));
    assert_non_null(v);
    h->objects = v;
    Observed *o = &v[h->n_objects++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->name = strdup(name);
    o->lab = lab ? strdup(lab) : NULL;
    o->key = key ? strdup(key) : NULL;
    if (spec) {
        o->spec = strdup(spec);
        o->live_spec = strdup(spec);
        o->hash = storage_spec_hash(spec);
    }
    o->active = true;
    return o;
}

static void host_add_volume(HostState *h, const char *vol, const char *backing, uint64_t cap)
{
    char *spec = NULL, *name = NULL, *key = strdup(vol);
    assert_true(asprintf(&spec, "format=qcow2\nbacking=%s\nlive.capacity=%llu\n",
                         backing ? backing : "none", (unsigned long long)cap) > 0);
    assert_true(asprintf(&name, "st-pool/%s.qcow2", vol) > 0);
    host_add(h, RESOURCE_VOLUME, name, "st", key, spec);
    free(spec);
    free(name);
    free(key);
}

/* labs that plans borrow from, freed at the end */
static Lab *kept[64];
static size_t n_kept;

static void fixture_keep(Lab *lab)
{
    assert_true(n_kept < 64);
    kept[n_kept++] = lab;
}

static void fixture_release(void)
{
    for (size_t i = 0; i < n_kept; i++)
        lab_free(kept[i]);
    n_kept = 0;
}

static int plan_lab(const char *text, HostState *h, Plan **ret, Error *err)
{
    Lab *lab = fixture_lab_load("/lab.yaml", text);
    assert_non_null(lab);
    int r = engine_plan(lab, h, ret, err);
    host_state_clear(h);
    /* the plan borrows image records from the lab: keep it alive as long as the plan */
    if (r < 0)
        lab_free(lab);
    else
        fixture_keep(lab);
    return r;
}

static const Action *action_for(const Plan *p, ResourceKind kind, const char *key)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        const Action *a = &p->actions[i];
        const char *k = a->want ? a->want->key : a->have->key;
        if (a->kind == kind && k && strcmp(k, key) == 0)
            return a;
    }
    return NULL;
}

static void test_new_lab(void **state)
{
    HostState h;
    host_init(&h);
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    /* pool, image, then the volumes in file order: what each needs exists before it; then the
     * nodes, each a domain on its volumes */
    assert_int_equal(p->n_want, 7);
    assert_int_equal(p->want[5].kind, RESOURCE_DOMAIN);
    assert_string_equal(p->want[5].name, "st-a");
    assert_int_equal(p->want[6].kind, RESOURCE_DOMAIN);
    assert_string_equal(p->want[6].name, "st-b");
    const DomainPlan *da = p->want[5].data;
    assert_non_null(strstr(da->xml, "<source file='" STATE "/labs/st/pool/a-0.qcow2'/>"));
    assert_non_null(strstr(da->xml, "<source file='" STATE "/labs/st/pool/a-1.qcow2'/>"));
    /* the seed is named after its content */
    assert_non_null(strstr(da->xml, "<source file='" STATE "/labs/st/nodes/a/seed-"));
    assert_non_null(da->seed_path);
    assert_int_equal(strlen(da->seed_path), strlen(STATE "/labs/st/nodes/a/seed-") + 16 + 4);
    assert_non_null(strstr(p->want[5].spec, "disk=" STATE "/labs/st/pool/a-1.qcow2,virtio,a-1\n"));
    /* a path image boots through its own bootloader */
    assert_null(strstr(da->xml, "<kernel>"));
    assert_int_equal(p->want[0].kind, RESOURCE_POOL);
    assert_string_equal(p->want[0].name, "st-pool");
    const PoolSpec *ps = p->want[0].data;
    assert_string_equal(ps->path, STATE "/labs/st/pool");
    assert_int_equal(p->want[1].kind, RESOURCE_IMAGE);
    assert_string_equal(p->want[1].key, "base");
    assert_non_null(strstr(p->want[1].note, "imported from /images/base.qcow2"));
    const char *names[] = {"st-pool/a-0.qcow2", "st-pool/a-1.qcow2", "st-pool/b-0.qcow2"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(p->want[2 + i].kind, RESOURCE_VOLUME);
        assert_string_equal(p->want[2 + i].name, names[i]);
    }
    const VolumeSpec *a0 = p->want[2].data, *a1 = p->want[3].data, *b0 = p->want[4].data;
    /* the root disk's base is the store's copy: <state>/images/base-<12 hex>.qcow2 */
    assert_non_null(a0->backing);
    assert_int_equal(strncmp(a0->backing, STATE "/images/base-", strlen(STATE "/images/base-")), 0);
    assert_int_equal(strlen(a0->backing), strlen(STATE "/images/base-") + 12 + 6);
    assert_int_equal(a0->capacity, 1ULL << 30);
    assert_null(a1->backing);
    assert_int_equal(a1->capacity, 256ULL << 20);
    /* b has no disks: its root disk takes the image's size, unknown until it is imported */
    assert_int_equal(b0->capacity, 0);
    assert_non_null(strstr(p->want[4].spec, "live.capacity=image"));
    for (size_t i = 0; i < p->n_actions; i++)
        assert_int_equal(p->actions[i].type, ACTION_CREATE);
    plan_free(p);
}

/* What the host looks like once plan @p was applied: every wanted object there, running,
 * recorded as this lab's, the domains with their XML. */
static void host_from_plan(HostState *h, const Plan *p)
{
    host_init(h);
    for (size_t i = 0; i < p->n_want; i++) {
        const Resource *w = &p->want[i];
        Observed *o = host_add(h, w->kind, w->name, p->lab, w->key, w->spec);
        free(o->hash);
        o->hash = strdup(w->hash);
        if (w->kind == RESOURCE_DOMAIN) {
            const DomainPlan *d = w->data;
            o->definition = strdup(d->xml);
            free(o->live_spec);
            o->live_spec = node_domain_live_spec(w->spec, d->xml);
            assert_non_null(o->live_spec);
        }
    }
    for (size_t i = 0; i < p->n_want; i++)
        if (p->want[i].kind == RESOURCE_IMAGE) {
            const ImageSpec *is = p->want[i].data;
            host_add_image(h, is->store_name, 64ULL << 20);
        }
}

static void host_secrets(HostState *h)
{
    h->secrets = calloc(1, sizeof(*h->secrets));
    assert_non_null(h->secrets);
    h->secrets->token = strdup("abcdef.0123456789abcdef");
    h->secrets->ssh_pubkey =
            strdup("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixedKeyForTheTest kvmlab");
}

/* Nodes: a second plan of the same file changes nothing; a node given more memory is made
 * again (alone, on its disks); a node added to the file leaves the others alone, though their
 * /etc/hosts would now name it. */
static void test_nodes_plan_again(void **state)
{
    static const char *const two = "lab: st\n"
                                   "networks: {vmnet8: {type: nat, subnet: 192.168.208.0/24}}\n"
                                   "images: {base: {path: /images/base.qcow2, os: debian12}}\n"
                                   "nodes:\n"
                                   "  - {name: a, image: base, disks: [{size: 1G}], networks: "
                                   "[vmnet8]}\n"
                                   "  - {name: b, image: base, disks: [{size: 1G}], networks: "
                                   "[vmnet8]}\n";
    HostState h;
    host_init(&h);
    host_secrets(&h);
    Plan *p = NULL, *q = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(two, &h, &p, &err), 0);
    assert_int_equal(action_for(p, RESOURCE_DOMAIN, "a")->type, ACTION_CREATE);

    host_from_plan(&h, p);
    host_secrets(&h);
    assert_int_equal(plan_lab(two, &h, &q, &err), 0);
    for (size_t i = 0; i < q->n_actions; i++)
        if (q->actions[i].type != ACTION_NONE)
            fail_msg("second plan: %s '%s': %s", action_type_to_string(q->actions[i].type),
                     q->actions[i].want ? q->actions[i].want->key : "?", q->actions[i].reason);
    plan_free(q);

    char *more = strdup(two);
    assert_non_null(more);
    char *at = strstr(more, "{name: b, image: base,");
    assert_non_null(at);
    _cleanup_free_ char *more2 = NULL;
    assert_true(asprintf(&more2, "%.*s{name: b, memory: 2048, image: base,%s", (int)(at - more),
                         more, at + strlen("{name: b, image: base,")) > 0);
    free(more);
    host_from_plan(&h, p);
    host_secrets(&h);
    assert_int_equal(plan_lab(more2, &h, &q, &err), 0);
    assert_int_equal(action_for(q, RESOURCE_DOMAIN, "a")->type, ACTION_NONE);
    const Action *b = action_for(q, RESOURCE_DOMAIN, "b");
    assert_int_equal(b->type, ACTION_RECREATE);
    assert_non_null(strstr(b->reason, "memory"));
    assert_int_equal(action_for(q, RESOURCE_VOLUME, "b-0")->type, ACTION_NONE);
    plan_free(q);

    /* a node's memory changed by hand (virsh setmaxmem, edit): drift, made again */
    host_from_plan(&h, p);
    host_secrets(&h);
    for (size_t i = 0; i < h.n_objects; i++)
        if (h.objects[i].kind == RESOURCE_DOMAIN && strcmp(h.objects[i].key, "a") == 0) {
            char *m = strstr(h.objects[i].live_spec, "memory=1024\n");
            assert_non_null(m);
            memcpy(m, "memory=4096", 11);
        }
    assert_int_equal(plan_lab(two, &h, &q, &err), 0);
    const Action *a = action_for(q, RESOURCE_DOMAIN, "a");
    assert_int_equal(a->type, ACTION_RECREATE);
    assert_true(a->drift);
    assert_non_null(strstr(a->reason, "memory"));
    assert_int_equal(action_for(q, RESOURCE_DOMAIN, "b")->type, ACTION_NONE);
    plan_free(q);

    _cleanup_free_ char *three = NULL;
    assert_true(asprintf(&three,
                         "%s  - {name: c, image: base, disks: [{size: 1G}], networks: [vmnet8]}\n",
                         two) > 0);
    host_from_plan(&h, p);
    host_secrets(&h);
    assert_int_equal(plan_lab(three, &h, &q, &err), 0);
    assert_int_equal(action_for(q, RESOURCE_DOMAIN, "a")->type, ACTION_NONE);
    assert_int_equal(action_for(q, RESOURCE_DOMAIN, "b")->type, ACTION_NONE);
    assert_int_equal(action_for(q, RESOURCE_DOMAIN, "c")->type, ACTION_CREATE);
    /* the new node's /etc/hosts names all three */
    const DomainPlan *dc = action_for(q, RESOURCE_DOMAIN, "c")->want->data;
    assert_non_null(strstr(dc->seed.user_data, " a"));
    assert_non_null(strstr(dc->seed.user_data, " b"));
    plan_free(q);
    plan_free(p);
}

static void test_image_in_store(void **state)
{
    HostState h;
    host_init(&h);
    Lab *lab = fixture_lab_load("/lab.yaml", lab_text);
    _cleanup_free_ char *store = base_store_name(lab);
    lab_free(lab);
    host_add_image(&h, store, 64ULL << 20);
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    const Action *img = action_for(p, RESOURCE_IMAGE, "base");
    assert_non_null(img);
    assert_non_null(strstr(img->reason, "in the shared image store already"));
    const Action *b0 = action_for(p, RESOURCE_VOLUME, "b-0");
    assert_non_null(b0);
    assert_int_equal(((const VolumeSpec *)b0->want->data)->capacity, 64ULL << 20);
    plan_free(p);
}

static void test_root_smaller_than_image(void **state)
{
    HostState h;
    host_init(&h);
    Lab *lab = fixture_lab_load("/lab.yaml", lab_text);
    _cleanup_free_ char *store = base_store_name(lab);
    lab_free(lab);
    host_add_image(&h, store, 2ULL << 30); /* the image is 2 GiB, a's root disk 1 GiB */
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EINVAL);
    assert_non_null(strstr(err.message, "/lab.yaml:5:"));
    assert_non_null(strstr(err.message, "root disk of node 'a' is 1 GiB but its image 'base' "
                                        "is 2 GiB"));
    error_clear(&err);
}

static void test_grow_shrink(void **state)
{
    HostState h;
    host_init(&h);
    Lab *lab = fixture_lab_load("/lab.yaml", lab_text);
    _cleanup_free_ char *store = base_store_name(lab);
    lab_free(lab);
    _cleanup_free_ char *backing = NULL;
    assert_true(asprintf(&backing, STATE "/images/%s.qcow2", store) > 0);
    host_add_image(&h, store, 64ULL << 20);
    host_add(&h, RESOURCE_POOL, "st-pool", "st", "pool", "type=dir\npath=" STATE "/labs/st/pool\n");
    host_add_volume(&h, "a-0", backing, 1ULL << 30);
    host_add_volume(&h, "a-1", NULL, 128ULL << 20); /* the file now asks 256M: a grow */
    host_add_volume(&h, "b-0", backing, 64ULL << 20);
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    assert_int_equal(action_for(p, RESOURCE_VOLUME, "a-0")->type, ACTION_NONE);
    assert_int_equal(action_for(p, RESOURCE_VOLUME, "a-1")->type, ACTION_UPDATE);
    assert_int_equal(action_for(p, RESOURCE_VOLUME, "b-0")->type, ACTION_NONE);
    assert_int_equal(action_for(p, RESOURCE_POOL, "pool")->type, ACTION_NONE);
    plan_free(p);

    /* the other way: the volume is bigger than the file says */
    host_init(&h);
    host_add_image(&h, store, 64ULL << 20);
    host_add_volume(&h, "a-1", NULL, 512ULL << 20);
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EPERM);
    assert_non_null(strstr(err.message, "/lab.yaml:5:"));
    assert_non_null(strstr(err.message, "disk 1 of node 'a' is 512 MiB and the lab file asks "
                                        "256 MiB: a disk never shrinks"));
    error_clear(&err);
}

static void test_new_base_refused(void **state)
{
    HostState h;
    host_init(&h);
    host_add_volume(&h, "a-0", STATE "/images/other-0123456789ab.qcow2", 1ULL << 30);
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EPERM);
    assert_non_null(strstr(err.message, "disk 0 of node 'a' was made on the base " STATE
                                        "/images/other-0123456789ab.qcow2"));
    assert_non_null(strstr(err.message, "its data would be lost"));
    error_clear(&err);
}

static void test_moved_pool_refused(void **state)
{
    HostState h;
    host_init(&h);
    host_add(&h, RESOURCE_POOL, "st-pool", "st", "pool", "type=dir\npath=/old/place\n");
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EPERM);
    assert_non_null(strstr(err.message, "is in '/old/place'"));
    error_clear(&err);
}

static void test_deleted_by_hand_is_drift(void **state)
{
    HostState h;
    host_init(&h);
    h.volume_record = strdup("\na-0.qcow2\na-1.qcow2\nb-0.qcow2\n");
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    const Action *a1 = action_for(p, RESOURCE_VOLUME, "a-1");
    assert_int_equal(a1->type, ACTION_CREATE);
    assert_true(a1->drift);
    assert_non_null(strstr(a1->reason, "deleted outside kvmlab, or a run stopped before making "
                                       "it); made again empty"));
    const Action *a0 = action_for(p, RESOURCE_VOLUME, "a-0");
    assert_non_null(strstr(a0->reason, "made again from its image"));
    plan_free(p);

    /* not in the record: simply new */
    host_init(&h);
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    assert_false(action_for(p, RESOURCE_VOLUME, "a-1")->drift);
    plan_free(p);
}

static void test_foreign_volume_clash(void **state)
{
    HostState h;
    host_init(&h);
    /* a file kvmlab did not make, in the lab's pool, with a disk's name */
    host_add(&h, RESOURCE_VOLUME, "st-pool/a-1.qcow2", NULL, NULL, NULL);
    Plan *p = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EEXIST);
    assert_non_null(strstr(err.message, "a volume of that name already exists"));
    error_clear(&err);
}

static void test_notes(void **state)
{
    HostState h;
    Plan *p = NULL;
    Error err = ERROR_INIT;
    /* a built image that is not in the store yet: built by 'up' like an import, then the
     * pool and its nodes' disks */
    host_init(&h);
    assert_int_equal(plan_lab("lab: st\nimages: {d: {build: debian-12}}\n"
                              "nodes: [{name: n, image: d}]\n",
                              &h, &p, &err),
                     0);
    const Action *built = action_for(p, RESOURCE_IMAGE, "d");
    assert_non_null(built);
    assert_int_equal(built->type, ACTION_CREATE);
    assert_non_null(strstr(built->want->note, "to be built from recipe debian-12"));
    assert_non_null(action_for(p, RESOURCE_VOLUME, "n-0"));
    assert_non_null(action_for(p, RESOURCE_POOL, "pool"));
    assert_int_equal(p->n_notes, 0);
    plan_free(p);
    /* a daemon elsewhere: nothing of storage, a note */
    host_init(&h);
    h.storage = false;
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    assert_int_equal(p->n_want, 0);
    assert_int_equal(p->n_notes, 1);
    plan_free(p);
    /* no nodes: no pool */
    host_init(&h);
    assert_int_equal(plan_lab("lab: st\nnetworks: {vmnet1: {type: hostonly, subnet: "
                              "10.9.9.0/24}}\n",
                              &h, &p, &err),
                     0);
    assert_null(action_for(p, RESOURCE_POOL, "pool"));
    plan_free(p);
    /* a pool path from the file, relative to the lab file */
    host_init(&h);
    assert_int_equal(plan_lab("lab: st\npool: disks/st/\nimages: {b: {path: b.qcow2}}\n"
                              "nodes: [{name: n, image: b}]\n",
                              &h, &p, &err),
                     0);
    assert_string_equal(((const PoolSpec *)p->want[0].data)->path, "/disks/st");
    plan_free(p);
}

static void test_review_defects(void **state)
{
    HostState h;
    Plan *p = NULL;
    Error err = ERROR_INIT;
    /* another pool (not the lab's) already has the lab's directory */
    host_init(&h);
    host_add(&h, RESOURCE_POOL, "default", NULL, NULL, "type=dir\npath=" STATE "/labs/st/pool\n");
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EEXIST);
    assert_non_null(strstr(err.message, "is already the directory of storage pool 'default'"));
    error_clear(&err);
    /* a volume converted by hand to raw: making it again would lose its data */
    host_init(&h);
    {
        const char *spec = "format=raw\nbacking=none\nlive.capacity=268435456\n";
        host_add(&h, RESOURCE_VOLUME, "st-pool/a-1.qcow2", "st", "a-1", spec);
    }
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EPERM);
    assert_non_null(strstr(err.message, "is a raw volume now"));
    error_clear(&err);
    /* a size libvirt cannot make exactly: planned as the whole KiB it makes (qemu-img made
     * 1500160 bytes of 1500000), so the next plan sees no shrink */
    static const char *odd =
            "lab: st\nimages: {base: {path: /images/base.qcow2}}\n"
            "nodes: [{name: a, image: base, disks: [{size: 1G}, {size: 1500000}]}]\n";
    host_init(&h);
    assert_int_equal(plan_lab(odd, &h, &p, &err), 0);
    assert_int_equal(
            ((const VolumeSpec *)action_for(p, RESOURCE_VOLUME, "a-1")->want->data)->capacity,
            1500160);
    plan_free(p);
    host_init(&h);
    host_add_volume(&h, "a-1", NULL, 1500160);
    assert_int_equal(plan_lab(odd, &h, &p, &err), 0);
    assert_int_equal(action_for(p, RESOURCE_VOLUME, "a-1")->type, ACTION_NONE);
    plan_free(p);
    /* a disk beyond a node's disks: list: refused (disks go by place, so taking out a middle
     * one would delete the last one's data) unless asked for */
    host_init(&h);
    host_add_volume(&h, "a-2", NULL, 1ULL << 30);
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), -EPERM);
    assert_non_null(strstr(err.message, "/lab.yaml:5:5: node 'a' lists 2 disks and has 'a-2' "
                                        "beyond them"));
    assert_non_null(strstr(err.message, "kvmlab up --delete-disks"));
    error_clear(&err);
    /* asked for: deleted, and the delete says the data goes */
    host_init(&h);
    h.delete_disks = true;
    host_add_volume(&h, "a-2", NULL, 1ULL << 30);
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    const Action *a2 = action_for(p, RESOURCE_VOLUME, "a-2");
    assert_int_equal(a2->type, ACTION_DELETE);
    assert_non_null(strstr(a2->reason, "the volume and the data on it are deleted"));
    plan_free(p);
}

static void test_node_removed(void **state)
{
    /* a node taken out of the file altogether: its disks go with it, unasked */
    HostState h;
    Plan *p = NULL;
    Error err = ERROR_INIT;
    host_init(&h);
    host_add_volume(&h, "gone-0", NULL, 1ULL << 30);
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    assert_int_equal(action_for(p, RESOURCE_VOLUME, "gone-0")->type, ACTION_DELETE);
    plan_free(p);
}

static void test_second_review_defects(void **state)
{
    HostState h;
    Plan *p = NULL;
    Error err = ERROR_INIT;
    /* while up makes things, a volume's delete (no undo brings its data back) comes after every
     * create, so a failed create rolls back with the volume still there */
    host_init(&h);
    h.delete_disks = true;
    host_add_volume(&h, "a-2", NULL, 1ULL << 30);
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    size_t del = SIZE_MAX, last_create = 0;
    for (size_t i = 0; i < p->n_actions; i++) {
        if (p->actions[i].type == ACTION_DELETE)
            del = i;
        if (p->actions[i].type == ACTION_CREATE)
            last_create = i;
    }
    assert_true(del != SIZE_MAX && del > last_create);
    plan_free(p);
    /* a node with disks on another base than its built image now names (the recipe changed,
     * so the store name did): refused, never planned away */
    host_init(&h);
    host_add_volume(&h, "n-0", "/srv/kvmlab-state/images/debian-12-0123456789ab.qcow2", 1ULL << 30);
    assert_int_equal(plan_lab("lab: st\nimages: {d: {build: debian-12}}\n"
                              "nodes: [{name: n, image: d}]\n",
                              &h, &p, &err),
                     -EPERM);
    assert_non_null(strstr(err.message, "disk 0 of node 'n' was made on the base"));
    assert_non_null(strstr(err.message, "kvmlab never does that"));
    error_clear(&err);
    /* a root disk at the image's size, which is not whole KiB: planned as libvirt makes it */
    host_init(&h);
    Lab *lab = fixture_lab_load("/lab.yaml", lab_text);
    _cleanup_free_ char *store = base_store_name(lab);
    lab_free(lab);
    host_add_image(&h, store, (64ULL << 20) + 512);
    assert_int_equal(plan_lab(lab_text, &h, &p, &err), 0);
    assert_int_equal(
            ((const VolumeSpec *)action_for(p, RESOURCE_VOLUME, "b-0")->want->data)->capacity,
            (64ULL << 20) + 1024);
    plan_free(p);
}

/* ---- disks that name their content ---------------------------------------------------- */

/* A temporary directory with a real vmdk (qemu-img create -f vmdk), a raw file whose name says
 * vmdk, and an ISO; the lab file is in it, so the lab's relative paths point there. */
static char *content_dir(void)
{
    char *dir = strdup("/tmp/kvmlab-content-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *vmdk = NULL, *fake = NULL, *iso = NULL;
    assert_true(asprintf(&vmdk, "%s/x.vmdk", dir) > 0);
    assert_true(asprintf(&fake, "%s/fake.vmdk", dir) > 0);
    assert_true(asprintf(&iso, "%s/tools.iso", dir) > 0);
    const char *mk[] = {"qemu-img", "create", "-q", "-f", "vmdk", vmdk, "64M", NULL};
    assert_int_equal(fixture_run(NULL, mk, NULL, 30000), 0);
    const char *mkraw[] = {"qemu-img", "create", "-q", "-f", "raw", fake, "96M", NULL};
    assert_int_equal(fixture_run(NULL, mkraw, NULL, 30000), 0);
    /* a disk whose bytes say qcow2 on top of a file elsewhere on the host (a guest can write
     * such a header into a raw disk): kvmlab must not follow it */
    _cleanup_free_ char *evil = NULL;
    assert_true(asprintf(&evil, "%s/evil.img", dir) > 0);
    const char *mkevil[] = {"qemu-img",      "create", "-q",  "-f", "qcow2", "-b",
                            "/etc/hostname", "-F",     "raw", evil, NULL};
    assert_int_equal(fixture_run(NULL, mkevil, NULL, 30000), 0);
    FILE *f = fopen(iso, "w");
    assert_non_null(f);
    fputs("not really an ISO, but a file to attach", f);
    fclose(f);
    return dir;
}

static void content_dir_remove(char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    assert_int_equal(fixture_run(NULL, argv, NULL, 30000), 0);
    free(dir);
}

static const char content_lab[] = "lab: pd\n"
                                  "images:\n"
                                  "  base: {path: /images/base.qcow2, os: debian12}\n"
                                  "nodes:\n"
                                  "  - name: v\n"
                                  "    os: debian12\n"
                                  "    start: false\n"
                                  "    disks:\n"
                                  "      - {path: x.vmdk, controller: lsilogic}\n"
                                  "      - {path: fake.vmdk, size: 128M}\n"
                                  "      - {image: base, size: 2G}\n"
                                  "      - {size: 1G}\n"
                                  "    cdroms: [tools.iso, null]\n";

/* Read the lab's content files as observation does, and plan on a host with the image stored. */
static int content_plan(const char *dir, const char *text, Plan **ret, Error *err)
{
    _cleanup_free_ char *file = NULL;
    assert_true(asprintf(&file, "%s/lab.yaml", dir) > 0);
    Lab *lab = fixture_lab_load(file, text);
    assert_non_null(lab);
    HostState h;
    host_init(&h);
    _cleanup_free_ char *store = base_store_name(lab);
    host_add_image(&h, store, 1ULL << 30);
    int r = storage_disk_sources_read(lab, &h.disk_sources, &h.n_disk_sources, err);
    if (r >= 0)
        r = engine_plan(lab, &h, ret, err);
    host_state_clear(&h);
    if (r < 0)
        lab_free(lab);
    else
        fixture_keep(lab);
    return r;
}

static const Resource *want_key(const Plan *p, ResourceKind kind, const char *key)
{
    for (size_t i = 0; i < p->n_want; i++)
        if (p->want[i].kind == kind && strcmp(p->want[i].key, key) == 0)
            return &p->want[i];
    return NULL;
}

static void test_disk_content(void **state)
{
    char *dir = content_dir();
    Plan *p = NULL;
    Error err = ERROR_INIT;
    int r = content_plan(dir, content_lab, &p, &err);
    if (r < 0)
        fail_msg("%s", err.message);
    _cleanup_free_ char *vmdk = NULL, *fake = NULL, *iso = NULL;
    assert_true(asprintf(&vmdk, "%s/x.vmdk", dir) > 0);
    assert_true(asprintf(&fake, "%s/fake.vmdk", dir) > 0);
    assert_true(asprintf(&iso, "%s/tools.iso", dir) > 0);

    /* disk 0: an overlay on the vmdk, its format from qemu-img, its size the file's */
    const Resource *v0 = want_key(p, RESOURCE_VOLUME, "v-0");
    assert_non_null(v0);
    const VolumeSpec *s0 = v0->data;
    assert_string_equal(s0->backing, vmdk);
    assert_string_equal(s0->backing_format, "vmdk");
    assert_null(s0->image);
    assert_int_equal(s0->capacity, 64ULL << 20);
    assert_non_null(strstr(v0->spec, "backing="));
    assert_non_null(strstr(v0->spec, vmdk));
    assert_non_null(strstr(v0->note, "never written"));
    _cleanup_free_ char *xml =
            storage_volume_xml(s0->volume, s0->capacity, s0->backing, s0->backing_format);
    assert_non_null(strstr(xml, "<backingStore>"));
    assert_non_null(strstr(xml, "<format type='vmdk'/>\n  </backingStore>"));
    /* disk 1: named .vmdk but raw: the name is never trusted; grown to its size: */
    const VolumeSpec *s1 = want_key(p, RESOURCE_VOLUME, "v-1")->data;
    assert_string_equal(s1->backing, fake);
    assert_string_equal(s1->backing_format, "raw");
    assert_int_equal(s1->capacity, 128ULL << 20);
    /* disk 2: an overlay on the store image, as a node's image: makes disk 0 */
    const VolumeSpec *s2 = want_key(p, RESOURCE_VOLUME, "v-2")->data;
    assert_non_null(s2->image);
    assert_string_equal(s2->backing_format, "qcow2");
    assert_int_equal(s2->capacity, 2ULL << 30);
    assert_non_null(want_key(p, RESOURCE_IMAGE, "base"));
    /* disk 3: empty */
    const VolumeSpec *s3 = want_key(p, RESOURCE_VOLUME, "v-3")->data;
    assert_null(s3->backing);
    assert_null(s3->backing_format);

    /* the domain: the disks, then the ISO and the empty drive, then the seed, read-only */
    const Resource *dom = want_key(p, RESOURCE_DOMAIN, "v");
    assert_non_null(dom);
    const DomainPlan *d = dom->data;
    _cleanup_free_ char *src = NULL;
    assert_true(asprintf(&src, "<source file='%s'/>", iso) > 0);
    /* in <devices>: the metadata before it names them all too */
    const char *devices = strstr(d->xml, "<devices>");
    assert_non_null(devices);
    const char *at_iso = strstr(devices, src);
    const char *at_seed = strstr(devices, "/seed-");
    const char *at_last = strstr(devices, "v-3.qcow2");
    assert_non_null(at_iso);
    assert_non_null(at_seed);
    assert_non_null(at_last);
    if (!(at_last < at_iso && at_iso < at_seed))
        fail_msg("disk order in:\n%s", devices);
    /* three CD-ROMs (ISO, empty, seed) on q35's SATA */
    size_t cds = 0;
    for (const char *x = d->xml; (x = strstr(x, "device='cdrom'")); x++)
        cds++;
    assert_int_equal(cds, 3);
    assert_non_null(strstr(dom->spec, "cdrom=empty,sata\n"));
    _cleanup_free_ char *cdspec = NULL;
    assert_true(asprintf(&cdspec, "cdrom=%s,sata\n", iso) > 0);
    assert_non_null(strstr(dom->spec, cdspec));
    plan_free(p);

    /* the controller hint reaches the bus choice, which says why */
    const Lab *lab = kept[n_kept - 1];
    NodeDisks nd = {0};
    assert_int_equal(storage_node_disks(lab, &lab->nodes[0], NULL, 0, &nd, &err), 0);
    assert_non_null(strstr(nd.disks[0].choice.reason, "lsilogic"));
    assert_null(strstr(nd.disks[1].choice.reason, "lsilogic"));
    node_disks_clear(&nd);

    /* a changed ISO list changes the domain's spec: the node is made again */
    p = NULL;
    char *text = strdup(content_lab);
    char *at = strstr(text, "[tools.iso, null]");
    memcpy(at, "[tools.iso]      ", strlen("[tools.iso, null]"));
    assert_int_equal(content_plan(dir, text, &p, &err), 0);
    assert_null(strstr(want_key(p, RESOURCE_DOMAIN, "v")->spec, "cdrom=empty"));
    plan_free(p);
    free(text);
    content_dir_remove(dir);
    fixture_release();
}

/* A missing file, a missing ISO and a size below the content's are refused at their lines. */
static void test_disk_content_refused(void **state)
{
    char *dir = content_dir();
    int r;
    Plan *p = NULL;
    Error err = ERROR_INIT;
    const struct {
        const char *from, *to, *want;
        int code;
    } cases[] = {
            {"{path: x.vmdk, controller: lsilogic}", "{path: nope.vmdk}",
             "lab.yaml:9:16: disk 0 "
             "of node 'v': cannot read '",
             -ENOENT},
            {"[tools.iso, null]", "[null, gone.iso]",
             "lab.yaml:13:20: CD-ROM 1 of node 'v': "
             "cannot read '",
             -ENOENT},
            {"{path: x.vmdk, controller: lsilogic}", "{path: evil.img}",
             "lab.yaml:9:16: disk 0 of node 'v': '", -EPERM},
            {"{path: x.vmdk, controller: lsilogic}", "{path: x.vmdk, size: 32M}",
             "lab.yaml:9:9: "
             "disk 0 of node 'v' asks 33554432 bytes but its content 'x.vmdk' is 67108864 bytes",
             -EINVAL},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const char *at = strstr(content_lab, cases[i].from);
        assert_non_null(at);
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "%.*s%s%s", (int)(at - content_lab), content_lab, cases[i].to,
                             at + strlen(cases[i].from)) > 0);
        r = content_plan(dir, text, &p, &err);
        if (r != cases[i].code)
            fail_msg("case %zu: %d, want %d (%s)", i, r, cases[i].code, err.message);
        if (!strstr(err.message, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, cases[i].want);
        if (cases[i].code == -EPERM &&
            !strstr(err.message,
                    "reads the backing file '/etc/hostname' outside its own directory"))
            fail_msg("case %zu: '%s' does not name the file outside", i, err.message);
        error_clear(&err);
    }
    /* a plan without the files read (observation skipped) refuses rather than guessing */
    _cleanup_free_ char *file = NULL;
    assert_true(asprintf(&file, "%s/lab.yaml", dir) > 0);
    Lab *lab = fixture_lab_load(file, content_lab);
    HostState h;
    host_init(&h);
    assert_int_equal(engine_plan(lab, &h, &p, &err), -ENOENT);
    assert_non_null(strstr(err.message, "was not read before planning"));
    error_clear(&err);
    host_state_clear(&h);
    lab_free(lab);
    content_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_new_lab),
            cmocka_unit_test(test_nodes_plan_again),
            cmocka_unit_test(test_image_in_store),
            cmocka_unit_test(test_root_smaller_than_image),
            cmocka_unit_test(test_grow_shrink),
            cmocka_unit_test(test_new_base_refused),
            cmocka_unit_test(test_moved_pool_refused),
            cmocka_unit_test(test_deleted_by_hand_is_drift),
            cmocka_unit_test(test_foreign_volume_clash),
            cmocka_unit_test(test_notes),
            cmocka_unit_test(test_review_defects),
            cmocka_unit_test(test_second_review_defects),
            cmocka_unit_test(test_node_removed),
            cmocka_unit_test(test_disk_content),
            cmocka_unit_test(test_disk_content_refused),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    fixture_release();
    return r;
}
