/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Life cycle of the engine's resource and observation records. */
#include "kvmlab/resource.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *resource_kind_to_string(ResourceKind k)
{
    switch (k) {
    case RESOURCE_NETWORK:
        return "network";
    case RESOURCE_PORTFWD:
        return "nat";
    case RESOURCE_POOL:
        return "pool";
    case RESOURCE_IMAGE:
        return "image";
    case RESOURCE_DOMAIN:
        return "node";
    case RESOURCE_VOLUME:
        return "volume";
    case RESOURCE_BRIDGE:
        return "bridge";
    case RESOURCE_FIREWALL:
        return "firewall";
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
    free(o->live_spec);
    free(o->definition);
    free(o->bridge);
    memset(o, 0, sizeof(*o));
}

static int dup_field(const char *s, char **ret)
{
    *ret = NULL;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int observed_copy(const Observed *o, Observed *ret)
{
    Observed c = *o;
    int r = 0;
    r |= dup_field(o->name, &c.name);
    r |= dup_field(o->lab, &c.lab);
    r |= dup_field(o->key, &c.key);
    r |= dup_field(o->hash, &c.hash);
    r |= dup_field(o->spec, &c.spec);
    r |= dup_field(o->live_spec, &c.live_spec);
    r |= dup_field(o->definition, &c.definition);
    r |= dup_field(o->bridge, &c.bridge);
    if (r < 0) {
        observed_clear(&c);
        return -ENOMEM;
    }
    *ret = c;
    return 0;
}

Observed resource_as_observed(const Resource *r, const char *lab)
{
    return (Observed){.kind = r->kind,
                      .name = r->name,
                      .lab = (char *)lab,
                      .key = r->key,
                      .hash = r->hash,
                      .spec = r->spec,
                      .live_spec = r->spec,
                      .bridge = r->bridge,
                      .has_subnet = r->has_subnet,
                      .subnet = r->subnet,
                      .active = true,
                      .autostart = true};
}
