/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure (apart from the one osinfo-db load behind os_facts_lookup()): the disks of a node as
 * the lab file lists them, each with its serial, bus, controller and reason, and the checks
 * `validate` adds for them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/addr.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/storage.h"

/* hex digits of the node name's hash in a shortened serial: 24 bits */
#define SERIAL_HASH_DIGITS 6
/* room kept for "-N" so every disk of a node shares one prefix up to index 99 */
#define SERIAL_SUFFIX_ROOM 3

static bool serial_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("_.+-", ch);
}

/*
 * "<node>-<index>" when it fits; else "<prefix>.<hash>-<index>": the first letters of the node
 * name (characters a serial may not hold made '_'), a '.' that no node name has (so a shortened
 * serial never equals a plain one) and 24 bits of FNV-1a over the whole name, so two long
 * names that share their beginning still differ.
 */
char *storage_disk_serial(const char *node, size_t index)
{
    char *s = NULL;
    bool ok = true;

    if (!node)
        return NULL;
    for (const char *p = node; *p; p++)
        ok = ok && serial_char_ok(*p) && *p != '.';
    if (asprintf(&s, "%s-%zu", node, index) < 0)
        return NULL;
    if (ok && strlen(s) <= DISK_SERIAL_MAX)
        return s;
    free(s);

    char suffix[24];
    snprintf(suffix, sizeof(suffix), "-%zu", index);
    size_t room = strlen(suffix) > SERIAL_SUFFIX_ROOM ? strlen(suffix) : SERIAL_SUFFIX_ROOM;
    size_t fixed = 1 + SERIAL_HASH_DIGITS + room;
    size_t plen = fixed < DISK_SERIAL_MAX ? DISK_SERIAL_MAX - fixed : 0;
    char prefix[DISK_SERIAL_MAX + 1];
    size_t n = 0;
    for (const char *p = node; *p && n < plen; p++)
        prefix[n++] = serial_char_ok(*p) && *p != '.' ? *p : '_';
    while (n > 0 && strchr("-_.+", prefix[n - 1]))
        n--;
    prefix[n] = '\0';
    uint64_t h = hash_fnv1a(HASH_FNV_INIT, node, strlen(node)) &
                 ((1ULL << (4 * SERIAL_HASH_DIGITS)) - 1);
    if (asprintf(&s, "%s.%0*" PRIx64 "%s", prefix, SERIAL_HASH_DIGITS, h, suffix) < 0)
        return NULL;
    return s;
}

/* "debian-12" -> "debian12", "ubuntu-22.04" -> "ubuntu22.04", "centos-stream-9" ->
 * "centos-stream9": the osinfo id a build recipe's name implies. NULL when it implies none. */
static char *recipe_os(const char *recipe)
{
    const char *dash = recipe ? strrchr(recipe, '-') : NULL;
    if (!dash || dash == recipe || !(dash[1] >= '0' && dash[1] <= '9') ||
        strspn(dash + 1, "0123456789.") != strlen(dash + 1))
        return NULL;
    char *s = NULL;
    if (asprintf(&s, "%.*s%s", (int)(dash - recipe), recipe, dash + 1) < 0)
        return NULL;
    return s;
}

/* The OS id of @node: its own os:, its image's, else what a build: recipe implies
 * (*ret_implied). New string in *ret (NULL: none). 0 or -ENOMEM. */
static int node_os_id(const Lab *lab, const LabNode *node, char **ret, bool *ret_implied)
{
    const char *boot = lab_disk_image(node, 0);
    const LabImage *img = boot ? lab_find_image(lab, boot) : NULL;
    *ret_implied = false;
    *ret = NULL;
    if (node->os || (img && img->os)) {
        *ret = strdup(node->os ? node->os : img->os);
        return *ret ? 0 : -ENOMEM;
    }
    if (img && img->kind == LAB_IMAGE_BUILD && img->source) {
        *ret = recipe_os(img->source);
        *ret_implied = *ret != NULL;
    }
    return 0;
}

static bool streq_ok(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int storage_node_disks(const Lab *lab, const LabNode *node, const HvCaps *caps, size_t n_caps,
                       NodeDisks *ret, Error *err)
{
    NodeDisks d = {0};
    _cleanup_free_ char *os_id = NULL;
    bool implied, wants_ide = false;
    const HvCaps *hc = NULL;
    int r;

    if (!(d.node = strdup(node->name)) || node_os_id(lab, node, &os_id, &implied) < 0) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto fail;
    }
    if (os_id) {
        Error lerr = ERROR_INIT;
        r = os_facts_lookup(os_id, &d.os, &lerr);
        if (r == 0) {
            d.has_os = true;
        } else if (!(r == -ENOENT && implied)) {
            /* an id a recipe's name implies is a guess: unknown, it means no OS known */
            error_set(err, r, "node '%s': %s", node->name, lerr.message);
            error_clear(&lerr);
            goto fail;
        }
        error_clear(&lerr);
    }

    for (size_t i = 0; i < node->n_disks; i++)
        wants_ide = wants_ide || streq_ok(node->disks[i].bus, "ide");
    if ((r = storage_machine_choose(d.has_os ? &d.os : NULL, node->machine, wants_ide, &d.machine,
                                    err)) < 0)
        goto fail;
    for (size_t i = 0; i < n_caps && !hc; i++)
        if (streq_ok(caps[i].requested, d.machine.machine) ||
            streq_ok(caps[i].machine, d.machine.machine))
            hc = &caps[i];
    d.caps_known = hc != NULL;

    size_t n = node->n_disks ? node->n_disks : 1;
    if (!(d.disks = calloc(n, sizeof(*d.disks)))) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const LabDisk *ld = node->n_disks ? &node->disks[i] : NULL;
        DiskPlan *p = &d.disks[i];
        BusRequest req = {
                .os = d.has_os ? &d.os : NULL,
                .machine = d.machine.machine,
                .caps = hc,
                .bus = ld ? ld->bus : NULL,
                .vmware_controller = ld ? ld->controller : NULL,
                .n_disks = n,
        };
        d.n_disks = i + 1;
        p->index = i;
        p->size_bytes = ld ? ld->size_bytes : 0;
        p->loc = ld ? ld->loc : node->loc;
        if (!(p->serial = storage_disk_serial(node->name, i))) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto fail;
        }
        if ((r = storage_bus_choose(&req, &p->choice, err)) < 0) {
            error_prefix(err, "node '%s', disk %zu", node->name, i);
            goto fail;
        }
    }
    *ret = d;
    return 0;

fail:
    node_disks_clear(&d);
    return r;
}

void node_disks_clear(NodeDisks *d)
{
    if (!d)
        return;
    free(d->node);
    os_facts_clear(&d->os);
    machine_choice_clear(&d->machine);
    for (size_t i = 0; i < d->n_disks; i++) {
        free(d->disks[i].serial);
        bus_choice_clear(&d->disks[i].choice);
    }
    free(d->disks);
    *d = (NodeDisks){0};
}

static bool loc_eq(LabLoc a, LabLoc b)
{
    return a.line == b.line && a.col == b.col;
}

/* Insert a diagnostic in file order. 0 or -ENOMEM. */
static int diags_add(LabDiags *diags, const char *file, LabLoc loc, const char *message)
{
    if (!diags->file && file && !(diags->file = strdup(file)))
        return -ENOMEM;
    LabDiag *items = reallocarray(diags->items, diags->n + 1, sizeof(*items));
    if (!items)
        return -ENOMEM;
    diags->items = items;
    char *m = strdup(message);
    if (!m)
        return -ENOMEM;
    size_t at = diags->n;
    while (at > 0 && (items[at - 1].loc.line > loc.line ||
                      (items[at - 1].loc.line == loc.line && items[at - 1].loc.col > loc.col)))
        at--;
    memmove(&items[at + 1], &items[at], (diags->n - at) * sizeof(*items));
    items[at] = (LabDiag){loc, m};
    diags->n++;
    return 0;
}

typedef struct OsCheck {
    LabLoc *seen;
    size_t n_seen;
    bool db_failed; /* osinfo-db itself failed: said once */
} OsCheck;

/* Check one os: value at @loc; 1 when a diagnostic was added, 0 when none, -ENOMEM. */
static int check_one_os(const Lab *lab, OsCheck *oc, const char *id, LabLoc loc, LabDiags *diags)
{
    for (size_t i = 0; i < oc->n_seen; i++)
        if (loc_eq(oc->seen[i], loc))
            return 0; /* the nodes of one entry with count: share the line */
    LabLoc *seen = reallocarray(oc->seen, oc->n_seen + 1, sizeof(*seen));
    if (!seen)
        return -ENOMEM;
    oc->seen = seen;
    oc->seen[oc->n_seen++] = loc;
    if (oc->db_failed)
        return 0;

    OsFacts f = {0};
    Error err = ERROR_INIT;
    int r = os_facts_lookup(id, &f, &err);
    os_facts_clear(&f);
    if (r == -ENOMEM) {
        error_clear(&err);
        return -ENOMEM;
    }
    if (r < 0) {
        oc->db_failed = r != -ENOENT;
        r = diags_add(diags, lab->file, loc, err.message);
        error_clear(&err);
        return r < 0 ? r : 1;
    }
    return 0;
}

size_t storage_lab_check(const Lab *lab, LabDiags *diags)
{
    OsCheck oc = {0};
    size_t added = 0;
    int r = 0;

    for (size_t i = 0; i < lab->n_images && r >= 0; i++) {
        const LabImage *img = &lab->images[i];
        if (img->os && (r = check_one_os(lab, &oc, img->os, img->os_loc, diags)) > 0)
            added++;
        if (r >= 0 && img->kind == LAB_IMAGE_BUILD && img->source &&
            !image_recipe_known(img->source)) {
            _cleanup_free_ char *known = image_recipe_names();
            _cleanup_free_ char *msg = NULL;
            if (!known || asprintf(&msg,
                                   "image '%s': unknown build recipe '%s'; the known recipes "
                                   "are %s",
                                   img->name, img->source, known) < 0)
                r = -ENOMEM;
            else if ((r = diags_add(diags, lab->file, img->loc, msg)) == 0)
                added++;
        }
    }
    for (size_t i = 0; i < lab->n_nodes && r >= 0; i++) {
        const LabNode *n = &lab->nodes[i];
        if (n->os && (r = check_one_os(lab, &oc, n->os, n->os_loc, diags)) > 0)
            added++;
    }
    free(oc.seen);
    return added;
}
