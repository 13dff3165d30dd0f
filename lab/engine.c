/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's pure part (diff) and the ordering and rollback of apply. */
#include "kvmlab/engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/spectext.h"

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

const char *resource_kind_to_string(ResourceKind k)
{
    switch (k) {
    case RESOURCE_NETWORK:
        return "network";
    case RESOURCE_PORTFWD:
        return "nat";
    case RESOURCE_KIND_MAX:
        break;
    }
    return "?";
}

void resource_clear(Resource *r)
{
    if (!r)
        return;
    free(r->key);
    free(r->name);
    free(r->hash);
    free(r->spec);
    free(r->note);
    free(r->bridge);
    if (r->data && r->data_free)
        r->data_free(r->data);
    memset(r, 0, sizeof(*r));
}

void observed_clear(Observed *o)
{
    if (!o)
        return;
    free(o->name);
    free(o->lab);
    free(o->key);
    free(o->hash);
    free(o->spec);
    free(o->bridge);
    memset(o, 0, sizeof(*o));
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

static const Resource *find_want(const Plan *p, ResourceKind k, const char *name)
{
    for (size_t i = 0; i < p->n_want; i++)
        if (p->want[i].kind == k && strcmp(p->want[i].name, name) == 0)
            return &p->want[i];
    return NULL;
}

static bool owned(const Plan *p, const Observed *o)
{
    return o->lab && strcmp(o->lab, p->lab) == 0;
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

int engine_diff(Plan *p, Error *err)
{
    int r;
    /* objects of ours that the file no longer wants go first: they may free names/subnets */
    for (size_t i = 0; i < p->n_have; i++) {
        const Observed *o = &p->have[i];
        if (!owned(p, o) || find_want(p, o->kind, o->name))
            continue;
        r = push_action(p, ACTION_DELETE, o->kind, NULL, o,
                        fmt("'%s' is no longer in the lab file", o->key ? o->key : o->name));
        if (r < 0)
            return error_set(err, r, "Out of memory");
    }
    for (size_t i = 0; i < p->n_want; i++) {
        const Resource *w = &p->want[i];
        const Observed *o = NULL;
        for (size_t j = 0; j < p->n_have; j++)
            if (p->have[j].kind == w->kind && strcmp(p->have[j].name, w->name) == 0)
                o = &p->have[j];
        r = check_clash(p, w, err);
        if (r < 0)
            return r;
        if (!o) {
            r = push_action(p, ACTION_CREATE, w->kind, w, NULL,
                            fmt("'%s' does not exist%s%s", w->key, w->note ? "; " : "",
                                w->note ? w->note : ""));
        } else if (o->hash && w->hash && strcmp(o->hash, w->hash) == 0) {
            if (!o->active)
                r = push_action(p, ACTION_START, w->kind, w, o,
                                fmt("'%s' is defined but not running", w->key));
            else
                r = push_action(p, ACTION_NONE, w->kind, w, o, fmt("'%s' is up to date", w->key));
        } else {
            bool live_only = false;
            _cleanup_free_ char *changes = engine_spec_changes(o->spec, w->spec, &live_only);
            /* a different hash over the same text (an older kvmlab's hash): nothing to update
             * in place, so make the object anew */
            if (!changes || !*changes)
                live_only = false;
            if (live_only && o->active)
                r = push_action(p, ACTION_UPDATE, w->kind, w, o,
                                fmt("changed: %s", changes ? changes : "?"));
            else
                r = push_action(p, ACTION_RECREATE, w->kind, w, o,
                                fmt("changed: %s%s", changes && *changes ? changes : "spec",
                                    live_only ? " (not running)" : " (needs a new object)"));
        }
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

int engine_apply(const Plan *plan, const EngineBackend *backends, size_t n_backends,
                 EngineProgressFn progress, void *userdata, Error *err)
{
    const Resource **created = calloc(plan->n_actions + 1, sizeof(*created));
    size_t n_created = 0;
    int r = 0;

    if (!created)
        return error_set(err, -ENOMEM, "Out of memory");
    for (size_t i = 0; i < plan->n_actions; i++) {
        const Action *a = &plan->actions[i];
        const EngineBackend *be = backend_for(backends, n_backends, a->kind);
        if (a->type == ACTION_NONE)
            continue;
        if (interrupt_pending()) {
            /* a safe point: the steps before are whole, the rollback below undoes them */
            r = error_set(err, -EINTR, "Interrupted by %s before %s %s '%s'",
                          interrupt_signal_name(), action_type_to_string(a->type),
                          resource_kind_to_string(a->kind),
                          a->want ? a->want->name : a->have->name);
            break;
        }
        if (!be || !be->create || !be->start || !be->update || !be->remove) {
            r = error_set(err, -ENOTSUP, "No backend can make %s resources on this host",
                          resource_kind_to_string(a->kind));
            break;
        }
        if (progress)
            progress(a, 0, userdata);
        switch (a->type) {
        case ACTION_CREATE:
            r = be->create(be->ctx, a->want, err);
            if (r >= 0)
                created[n_created++] = a->want;
            break;
        case ACTION_START:
            r = be->start(be->ctx, a->have, err);
            break;
        case ACTION_UPDATE:
            r = be->update(be->ctx, a->want, a->have, err);
            break;
        case ACTION_RECREATE:
            if (be->recreate) {
                r = be->recreate(be->ctx, a->want, a->have, err);
            } else {
                r = be->remove(be->ctx, a->have, err);
                if (r >= 0)
                    r = be->create(be->ctx, a->want, err);
            }
            break;
        case ACTION_DELETE:
            r = be->remove(be->ctx, a->have, err);
            break;
        case ACTION_NONE:
            break;
        }
        if (r < 0) {
            if (!error_is_set(err))
                error_set_errno(err, r, "Cannot %s %s '%s'", action_type_to_string(a->type),
                                resource_kind_to_string(a->kind),
                                a->want ? a->want->name : a->have->name);
            break;
        }
        r = 0;
        if (progress)
            progress(a, 1, userdata);
    }
    if (r < 0) {
        /* undo what this run created, newest first; the first error stays in @err */
        while (n_created > 0) {
            const Resource *w = created[--n_created];
            const EngineBackend *be = backend_for(backends, n_backends, w->kind);
            /* what this run made is exactly what it wanted */
            Observed o = {.kind = w->kind,
                          .name = w->name,
                          .lab = plan->lab,
                          .key = w->key,
                          .hash = w->hash,
                          .spec = w->spec,
                          .bridge = w->bridge,
                          .has_subnet = w->has_subnet,
                          .subnet = w->subnet,
                          .active = true};
            be->remove(be->ctx, &o, NULL);
        }
    }
    free(created);
    return r;
}
