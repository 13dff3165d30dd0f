/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's pure part (diff) and the ordering and rollback of apply. */
#include "kvmlab/engine.h"
#include "kvmlab/hostlink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/node.h"
#include "kvmlab/spectext.h"
#include "kvmlab/storage.h"
#include "kvmlab/vmnet.h"

const char *action_type_to_string(ActionType t)
{
    switch (t) {
    case ACTION_NONE:
        return "unchanged";
    case ACTION_CREATE:
        return "create";
    case ACTION_START:
        return "start";
    case ACTION_UPDATE:
        return "update in place";
    case ACTION_RECREATE:
        return "recreate";
    case ACTION_DELETE:
        return "delete";
    }
    return "?";
}

void host_state_clear(HostState *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_objects; i++)
        observed_clear(&h->objects[i]);
    for (size_t i = 0; i < h->n_lab_bridges; i++)
        free(h->lab_bridges[i]);
    free(h->objects);
    free(h->host_nets);
    free(h->lab_nets);
    free(h->lab_bridges);
    free(h->uri);
    for (size_t i = 0; i < h->n_images; i++)
        image_info_clear(&h->images[i]);
    free(h->images);
    free(h->state_root);
    free(h->volume_record);
    disk_source_list_free(h->disk_sources, h->n_disk_sources);
    for (size_t i = 0; i < h->n_caps; i++)
        hv_caps_clear(&h->caps[i]);
    free(h->caps);
    if (h->secrets)
        lab_secrets_clear(h->secrets);
    free(h->secrets);
    free(h->bridge_refusal);
    for (size_t i = 0; i < h->n_links; i++)
        host_link_info_clear(&h->links[i]);
    free(h->links);
    free(h->ruleset);
    memset(h, 0, sizeof(*h));
}

void plan_free(Plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_want; i++)
        resource_clear(&p->want[i]);
    for (size_t i = 0; i < p->n_have; i++)
        observed_clear(&p->have[i]);
    for (size_t i = 0; i < p->n_actions; i++)
        free(p->actions[i].reason);
    free(p->want);
    free(p->have);
    for (size_t i = 0; i < p->n_notes; i++)
        free(p->notes[i]);
    free(p->notes);
    free(p->actions);
    free(p->lab);
    free(p);
}

size_t plan_changes(const Plan *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].type != ACTION_NONE)
            n++;
    return n;
}

/* The values of every "KEY=" line of @spec, in order, one per line, as a new string. Specs list
 * repeated keys (one line per host) in a canonical order, so comparing these strings compares the
 * sets. */
static char *collect_values(const char *spec, const char *key)
{
    char **v = NULL;
    size_t n = spec_text_values(spec, key, &v), len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *out = calloc(1, len);
    for (size_t i = 0; out && i < n; i++) {
        strcat(out, v[i]);
        strcat(out, "\n");
    }
    spec_text_values_free(v, n);
    return out;
}

static int add_key(char ***keys, size_t *n, const char *start, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*keys)[i]) == len && strncmp((*keys)[i], start, len) == 0)
            return 0;
    char **k = realloc(*keys, (*n + 1) * sizeof(char *));
    if (!k)
        return -ENOMEM;
    *keys = k;
    k[*n] = strndup(start, len);
    if (!k[*n])
        return -ENOMEM;
    (*n)++;
    return 0;
}

static void collect_keys(const char *spec, char ***keys, size_t *n)
{
    for (const char *p = spec ? spec : ""; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', l);
        if (eq)
            add_key(keys, n, p, (size_t)(eq - p));
        p += l + (nl ? 1 : 0);
    }
}

char *engine_spec_changes(const char *old_spec, const char *new_spec, bool *ret_live_only)
{
    char **keys = NULL;
    size_t n = 0;
    char *out = NULL;
    size_t len = 0;
    bool live_only = true;

    collect_keys(old_spec, &keys, &n);
    collect_keys(new_spec, &keys, &n);
    FILE *f = open_memstream(&out, &len);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *a = collect_values(old_spec, keys[i]);
        _cleanup_free_ char *b = collect_values(new_spec, keys[i]);
        if (strcmp(a ? a : "", b ? b : "") != 0) {
            const char *shown = strncmp(keys[i], "live.", 5) == 0 ? keys[i] + 5 : keys[i];
            fprintf(f, "%s%s", first ? "" : ", ", shown);
            first = 0;
            if (strncmp(keys[i], "live.", 5) != 0)
                live_only = false;
        }
        free(keys[i]);
    }
    free(keys);
    fclose(f);
    if (ret_live_only)
        *ret_live_only = live_only;
    return out;
}

static int push_action(Plan *p, ActionType t, ResourceKind kind, const Resource *want,
                       const Observed *have, char *reason)
{
    Action *a = realloc(p->actions, (p->n_actions + 1) * sizeof(*a));
    if (!a) {
        free(reason);
        return -ENOMEM;
    }
    p->actions = a;
    a[p->n_actions++] = (Action){t, kind, want, have, reason};
    return 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* The object of ours that @w describes: same kind and lab-file key (the name may be one an
 * earlier kvmlab gave it), or else the same name. */
static bool owned(const Plan *p, const Observed *o)
{
    return o->lab && strcmp(o->lab, p->lab) == 0;
}

static bool matches(const Plan *p, const Observed *o, const Resource *w)
{
    if (o->kind != w->kind || !owned(p, o))
        return false;
    if (o->key && w->key)
        return strcmp(o->key, w->key) == 0;
    return strcmp(o->name, w->name) == 0;
}

static const Observed *find_have(const Plan *p, const Resource *w)
{
    for (size_t i = 0; i < p->n_have; i++)
        if (matches(p, &p->have[i], w))
            return &p->have[i];
    return NULL;
}

static bool wanted(const Plan *p, const Observed *o)
{
    for (size_t i = 0; i < p->n_want; i++)
        if (matches(p, o, &p->want[i]))
            return true;
    return false;
}

/* A desired resource must not take over what is not ours. */
static int check_clash(const Plan *p, const Resource *w, Error *err)
{
    char a[CIDR_STRLEN], b[CIDR_STRLEN];
    for (size_t i = 0; i < p->n_have; i++) {
        const Observed *o = &p->have[i];
        if (o->kind != w->kind || owned(p, o))
            continue;
        const char *whose = o->lab ? "lab '" : "";
        const char *who = o->lab ? o->lab : "no kvmlab lab";
        const char *close = o->lab ? "'" : "";
        if (strcmp(o->name, w->name) == 0)
            return error_set(err, -EEXIST,
                             "Cannot create %s '%s' for '%s': a %s of that name already exists "
                             "and belongs to %s%s%s; remove or rename it",
                             resource_kind_to_string(w->kind), w->name, w->key,
                             resource_kind_to_string(w->kind), whose, who, close);
        if (w->bridge && o->bridge && strcmp(o->bridge, w->bridge) == 0)
            return error_set(err, -EEXIST,
                             "Cannot create %s '%s' for '%s': bridge '%s' is already used by "
                             "'%s', which belongs to %s%s%s",
                             resource_kind_to_string(w->kind), w->name, w->key, w->bridge, o->name,
                             whose, who, close);
        if (w->has_subnet && o->has_subnet && addr_net_overlaps(&w->subnet, &o->subnet))
            return error_set(err, -EEXIST,
                             "Cannot create %s '%s' for '%s': subnet '%s' overlaps '%s' of '%s', "
                             "which belongs to %s%s%s",
                             resource_kind_to_string(w->kind), w->name, w->key,
                             addr_cidr_format(&w->subnet, a), addr_cidr_format(&o->subnet, b),
                             o->name, whose, who, close);
    }
    return 0;
}

static bool strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static char *default_phrase(const char *key, const char *have, const char *want)
{
    const char *k = strncmp(key, "live.", 5) == 0 ? key + 5 : key;
    if (!have)
        return fmt("%s %s added", k, want);
    if (!want)
        return fmt("%s %s missing", k, have);
    return fmt("%s %s, want %s", k, have, want);
}

/* One phrase per differing fact between @have and @want, "; "-separated: the reason of a drift.
 * A key with one value on each side is one change; repeated keys (one reservation per line) are
 * compared as sets, each value missing or added on its own. */
static char *drift_phrases(const char *have, const char *want, DriftPhraseFn phrase)
{
    char **keys = NULL;
    size_t n = 0, len = 0;
    char *out = NULL;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    if (!phrase)
        phrase = default_phrase;
    collect_keys(have, &keys, &n);
    collect_keys(want, &keys, &n);
    for (size_t i = 0; i < n; i++) {
        char **hv = NULL, **wv = NULL;
        size_t nh = spec_text_values(have, keys[i], &hv);
        size_t nw = spec_text_values(want, keys[i], &wv);
        if (nh <= 1 && nw <= 1) {
            const char *h = nh ? hv[0] : NULL, *w = nw ? wv[0] : NULL;
            if (!(h && w && strcmp(h, w) == 0)) {
                _cleanup_free_ char *t = phrase(keys[i], h, w);
                fprintf(f, "%s%s", ftell(f) ? "; " : "", t ? t : keys[i]);
            }
        } else {
            for (size_t j = 0; j < nh; j++) {
                if (strv_has(wv, nw, hv[j]))
                    continue;
                _cleanup_free_ char *t = phrase(keys[i], hv[j], NULL);
                fprintf(f, "%s%s", ftell(f) ? "; " : "", t ? t : keys[i]);
            }
            for (size_t j = 0; j < nw; j++) {
                if (strv_has(hv, nh, wv[j]))
                    continue;
                _cleanup_free_ char *t = phrase(keys[i], NULL, wv[j]);
                fprintf(f, "%s%s", ftell(f) ? "; " : "", t ? t : keys[i]);
            }
        }
        spec_text_values_free(hv, nh);
        spec_text_values_free(wv, nw);
        free(keys[i]);
    }
    free(keys);
    fclose(f);
    return out;
}

/* How each kind words a drifted fact; NULL: the engine's own words. */
static DriftPhraseFn phrase_for(ResourceKind k)
{
    switch (k) {
    case RESOURCE_NETWORK:
    case RESOURCE_PORTFWD:
    case RESOURCE_BRIDGE:
        return vmnet_spec_drift_phrase;
    case RESOURCE_FIREWALL:
    case RESOURCE_POOL:
    case RESOURCE_IMAGE:
    case RESOURCE_VOLUME:
    case RESOURCE_DOMAIN:
    case RESOURCE_KIND_MAX:
        break;
    }
    return NULL;
}

/* The action for an object of ours that @w describes. */
static int diff_one(Plan *p, const Resource *w, const Observed *o)
{
    const char *live = o->live_spec ? o->live_spec : o->spec;
    bool live_only = false;
    _cleanup_free_ char *drifted = NULL;
    _cleanup_free_ char *changes = engine_spec_changes(live, w->spec, &live_only);
    if (!changes)
        return -ENOMEM;
    /* drift: the live object is not what kvmlab made (a hand edit, an older formatter) and not
     * what the file wants either */
    bool same_record = o->hash && w->hash && strcmp(o->hash, w->hash) == 0;
    bool drift = false;
    if (o->live_spec && o->spec && *changes) {
        _cleanup_free_ char *made = engine_spec_changes(o->spec, o->live_spec, NULL);
        drift = made && *made;
    } else if (o->live_spec && !o->spec && *changes) {
        /* only a hash recorded (the NAT table's comment): the file did not change since the
         * object was made, yet the object differs */
        drift = same_record;
    }

    if (!o->spec && !o->live_spec) {
        /* the backend records only a hash: compare that */
        free(changes);
        changes = strdup(same_record ? "" : "spec");
        if (!changes)
            return -ENOMEM;
        live_only = false;
    }

    if (!*changes && same_record) {
        if (!o->active && !w->passive)
            return push_action(p, ACTION_START, w->kind, w, o,
                               fmt("'%s' is defined but not running", w->key));
        return push_action(p, ACTION_NONE, w->kind, w, o, fmt("'%s' is up to date", w->key));
    }
    if (!*changes) {
        /* the object does what the file wants, only its record (metadata) is an older kvmlab's */
        return push_action(p, o->active ? ACTION_UPDATE : ACTION_RECREATE, w->kind, w, o,
                           fmt("'%s' has an older kvmlab's record; it is rewritten", w->key));
    }
    if (drift) {
        drifted = drift_phrases(live, w->spec, phrase_for(w->kind));
        if (!drifted)
            return -ENOMEM;
    }
    ActionType t = live_only && o->active ? ACTION_UPDATE : ACTION_RECREATE;
    const char *why = t == ACTION_UPDATE ? ""
                      : live_only        ? " (not running)"
                                         : " (needs a new object)";
    int r = push_action(p, t, w->kind, w, o,
                        drift ? fmt("drift: %s%s", drifted, why)
                              : fmt("changed: %s%s", changes, why));
    if (r >= 0 && drift)
        p->actions[p->n_actions - 1].drift = true;
    return r;
}

/* Two desired resources must not claim the same name, bridge or addresses either (a planner
 * bug or a state no file should reach: refused before anything changes). */
static int check_wanted(const Plan *p, Error *err)
{
    char a[CIDR_STRLEN], b[CIDR_STRLEN];
    for (size_t i = 0; i < p->n_want; i++) {
        const Resource *x = &p->want[i];
        for (size_t j = i + 1; j < p->n_want; j++) {
            const Resource *y = &p->want[j];
            if (x->kind != y->kind)
                continue;
            if (strcmp(x->name, y->name) == 0)
                return error_set(err, -EEXIST, "'%s' and '%s' would both be %s '%s'", x->key,
                                 y->key, resource_kind_to_string(x->kind), x->name);
            if (x->bridge && y->bridge && strcmp(x->bridge, y->bridge) == 0)
                return error_set(err, -EEXIST, "'%s' and '%s' would both use bridge '%s'", x->key,
                                 y->key, x->bridge);
            if (x->has_subnet && y->has_subnet && addr_net_overlaps(&x->subnet, &y->subnet))
                return error_set(err, -EEXIST, "'%s' (%s) and '%s' (%s) would overlap", x->key,
                                 addr_cidr_format(&x->subnet, a), y->key,
                                 addr_cidr_format(&y->subnet, b));
        }
    }
    return 0;
}

static bool kind_holds_data(ResourceKind k)
{
    return k == RESOURCE_VOLUME || k == RESOURCE_POOL || k == RESOURCE_IMAGE;
}

static int diff_wanted(Plan *p, Error *err);

int engine_diff(Plan *p, Error *err)
{
    int r = check_wanted(p, err);
    if (r < 0)
        return r;
    /* objects of ours that the file no longer wants go first: they may free names/subnets;
     * but while `up` makes things, deleting storage (data that no undo brings back) waits until
     * everything else worked (in observed order: volumes, then pools, then images) */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; pass == 0 && i < p->n_have; i++) {
            const Observed *o = &p->have[i];
            if (!owned(p, o) || wanted(p, o) || (p->n_want > 0 && kind_holds_data(o->kind)))
                continue;
            r = push_action(p, ACTION_DELETE, o->kind, NULL, o,
                            fmt("'%s' is no longer in the lab file", o->key ? o->key : o->name));
            if (r < 0)
                return error_set(err, r, "Out of memory");
        }
        if (pass == 0)
            continue;
        r = diff_wanted(p, err);
        if (r < 0)
            return r;
        for (size_t i = 0; p->n_want > 0 && i < p->n_have; i++) {
            const Observed *o = &p->have[i];
            if (!owned(p, o) || wanted(p, o) || !kind_holds_data(o->kind))
                continue;
            r = push_action(p, ACTION_DELETE, o->kind, NULL, o,
                            fmt("'%s' is no longer in the lab file", o->key ? o->key : o->name));
            if (r < 0)
                return error_set(err, r, "Out of memory");
        }
    }
    return 0;
}

/* The actions of every desired resource, in order. */
static int diff_wanted(Plan *p, Error *err)
{
    int r;
    for (size_t i = 0; i < p->n_want; i++) {
        const Resource *w = &p->want[i];
        const Observed *o = find_have(p, w);
        r = check_clash(p, w, err);
        if (r < 0)
            return r;
        bool storage =
                w->kind == RESOURCE_POOL || w->kind == RESOURCE_IMAGE || w->kind == RESOURCE_VOLUME;
        if (!o && storage && w->note)
            /* the planner's own words say what the new object is */
            r = push_action(p, ACTION_CREATE, w->kind, w, NULL, fmt("%s", w->note));
        else if (!o)
            r = push_action(p, ACTION_CREATE, w->kind, w, NULL,
                            fmt("'%s' does not exist%s%s", w->key, w->note ? "; " : "",
                                w->note ? w->note : ""));
        else
            r = diff_one(p, w, o);
        if (r < 0)
            return error_set(err, r, "Out of memory");
    }
    return 0;
}

static const EngineBackend *backend_for(const EngineBackend *b, size_t n, ResourceKind k)
{
    for (size_t i = 0; i < n; i++)
        if (b[i].kind == k)
            return &b[i];
    return NULL;
}

static const char *action_object(const Action *a)
{
    return a->want ? a->want->name : a->have->name;
}

/* The inverse of action @a (@done, or failed half-way): a create that worked is removed,
 * anything else is put back from what observation saw. A create that failed is left alone: the
 * backend undoes its own half (a network defined but not started is undefined again), and what
 * carries that name now may be another lab's that appeared since observation. Failures are added
 * to @err after the first error. */
static void undo(const Plan *plan, const EngineBackend *be, const Action *a, bool done, Error *err)
{
    Error why = ERROR_INIT;
    int r;
    if (a->type == ACTION_CREATE && !done)
        return;
    if (a->type == ACTION_CREATE) {
        Observed o = resource_as_observed(a->want, plan->lab);
        r = be->remove(be->ctx, &o, &why);
    } else if (be->restore && a->have->definition) {
        r = be->restore(be->ctx, a->have, &why);
    } else {
        r = error_set(&why, -ENOTSUP, "its backend cannot restore it");
    }
    if (r < 0)
        error_append(err, "undoing the %s of %s '%s' failed too: %s",
                     action_type_to_string(a->type), resource_kind_to_string(a->kind),
                     action_object(a), why.message ? why.message : "unknown error");
    error_clear(&why);
}

static int apply_one(const EngineBackend *be, const Action *a, Error *err)
{
    switch (a->type) {
    case ACTION_CREATE:
        return be->create(be->ctx, a->want, err);
    case ACTION_START:
        return be->start(be->ctx, a->have, err);
    case ACTION_UPDATE:
        return be->update(be->ctx, a->want, a->have, err);
    case ACTION_RECREATE:
        if (be->recreate)
            return be->recreate(be->ctx, a->want, a->have, err);
        int r = be->remove(be->ctx, a->have, err);
        return r < 0 ? r : be->create(be->ctx, a->want, err);
    case ACTION_DELETE:
        return be->remove(be->ctx, a->have, err);
    case ACTION_NONE:
        break;
    }
    return 0;
}

int engine_apply(const Plan *plan, const EngineBackend *backends, size_t n_backends,
                 EngineProgressFn progress, void *userdata, Error *err)
{
    /* the journal: indexes of the actions begun, in order; undone newest first */
    size_t *journal = calloc(plan->n_actions + 1, sizeof(*journal));
    size_t n_journal = 0;
    bool failed_step = false; /* the newest journal entry is a step that failed */
    int r = 0;

    if (!journal)
        return error_set(err, -ENOMEM, "Out of memory");
    /* every backend must be there before anything changes */
    for (size_t i = 0; i < plan->n_actions; i++) {
        const Action *a = &plan->actions[i];
        const EngineBackend *be = backend_for(backends, n_backends, a->kind);
        if (a->type != ACTION_NONE &&
            (!be || !be->create || !be->start || !be->update || !be->remove)) {
            free(journal);
            return error_set(err, -ENOTSUP, "No backend can make %s resources on this host",
                             resource_kind_to_string(a->kind));
        }
    }
    for (size_t i = 0; i < plan->n_actions; i++) {
        const Action *a = &plan->actions[i];
        const EngineBackend *be = backend_for(backends, n_backends, a->kind);
        if (a->type == ACTION_NONE)
            continue;
        if (interrupt_pending()) {
            /* a safe point: the steps before are whole, the rollback below undoes them */
            r = error_set(err, -EINTR, "Interrupted by %s before %s %s '%s'",
                          interrupt_signal_name(), action_type_to_string(a->type),
                          resource_kind_to_string(a->kind), action_object(a));
            break;
        }
        if (progress)
            progress(a, 0, userdata);
        journal[n_journal++] = i;
        r = apply_one(be, a, err);
        failed_step = r < 0;
        if (r < 0) {
            if (!error_is_set(err))
                error_set_errno(err, r, "Cannot %s %s '%s'", action_type_to_string(a->type),
                                resource_kind_to_string(a->kind), action_object(a));
            break;
        }
        r = 0;
        if (progress)
            progress(a, 1, userdata);
    }
    if (r < 0) {
        /* put back what this run changed, the failed step first; the first error stays */
        bool done = !failed_step;
        while (n_journal > 0) {
            const Action *a = &plan->actions[journal[--n_journal]];
            undo(plan, backend_for(backends, n_backends, a->kind), a, done, err);
            done = true;
        }
    }
    free(journal);
    return r;
}

int engine_apply_each(const Plan *plan, const EngineBackend *backends, size_t n_backends,
                      EngineProgressFn progress, void *userdata, Error *err)
{
    int first = 0;
    for (size_t i = 0; i < plan->n_actions; i++) {
        const Action *a = &plan->actions[i];
        const EngineBackend *be = backend_for(backends, n_backends, a->kind);
        Error why = ERROR_INIT;
        int r;
        if (a->type == ACTION_NONE)
            continue;
        if (interrupt_pending()) {
            r = error_set(&why, -EINTR, "Interrupted by %s before %s %s '%s'",
                          interrupt_signal_name(), action_type_to_string(a->type),
                          resource_kind_to_string(a->kind), action_object(a));
        } else if (!be || !be->create || !be->start || !be->update || !be->remove) {
            r = error_set(&why, -ENOTSUP, "No backend can make %s resources on this host",
                          resource_kind_to_string(a->kind));
        } else {
            if (progress)
                progress(a, 0, userdata);
            r = apply_one(be, a, &why);
            if (r < 0) {
                if (!error_is_set(&why))
                    error_set_errno(&why, r, "Cannot %s %s '%s'", action_type_to_string(a->type),
                                    resource_kind_to_string(a->kind), action_object(a));
                undo(plan, be, a, false, &why); /* this step only: the others stand alone */
            } else if (progress) {
                progress(a, 1, userdata);
            }
        }
        if (r < 0 && first == 0) {
            first = r;
            if (err) {
                error_clear(err);
                *err = why;
                why = (Error)ERROR_INIT;
            }
        }
        error_clear(&why);
        if (r == -EINTR)
            break;
    }
    return first;
}
