/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "kvmlab/error.h"

/*
 * Small readers shared by the modules that read libvirt XML back (vmnet/netxml.c,
 * node/domxml.c): header-only, so util/ stays free of libxml2.
 */

/* Whether @n is element @name in namespace URI @ns (NULL: no namespace). */
static inline bool xml_node_is(const xmlNode *n, const char *ns, const char *name)
{
    if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST name))
        return false;
    if (!ns)
        return n->ns == NULL;
    return n->ns && n->ns->href && xmlStrEqual(n->ns->href, BAD_CAST ns);
}

/* The text of @n into *ret (replacing it: a repeated element's last one wins, as libvirt's
 * parsers do). 0 or -ENOMEM with @err set. */
static inline int xml_text_dup(const xmlNode *n, char **ret, Error *err)
{
    xmlChar *c = xmlNodeGetContent(n);
    if (!c)
        return error_set(err, -ENOMEM, "Out of memory");
    free(*ret);
    *ret = strdup((const char *)c);
    xmlFree(c);
    return *ret ? 0 : error_set(err, -ENOMEM, "Out of memory");
}
