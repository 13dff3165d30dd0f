/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: The 'images' section.
 */
#include <ctype.h>

#include "kvmlab/cleanup.h"
#include "parser.h"

static bool name_is_image(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return false;
    return true;
}

/* ---- images ----------------------------------------------------------------------------- */

static bool sha256_is_valid(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

void parse_image(Ctx *c, const YPair *ip)
{
    static const char *const keys[] = {"build", "path", "url", "sha256", "os", NULL};
    static const char *const sources[] = {"build", "path", "url"};
    Lab *lab = c->lab;
    LabImage *img = ARRAY_PUSH(lab->images, lab->n_images);
    const YNode *m = ip->value;

    img->name = xstrdup(ip->key->text);
    img->loc = ip->key->loc;
    if (!name_is_image(img->name))
        diag(c, ip->key->loc,
             "image name '%s' must start with a lower-case letter or digit and contain only "
             "lower-case letters, digits, '.', '_' and '-'",
             img->name);

    _cleanup_free_ char *what = xasprintf("image '%s'", img->name);
    _cleanup_free_ char *where = xasprintf("in image '%s'", img->name);
    if (m->type != Y_MAP) {
        diag_type(c, m, what, "a mapping with one of 'build', 'path' or 'url'");
        return;
    }
    map_check_keys(c, m, keys, where);

    const YPair *src = NULL;
    for (size_t i = 0; i < m->n_pairs; i++) {
        const YPair *p = &m->pairs[i];
        for (size_t k = 0; !p->skip && k < ELEMENTSOF(sources); k++) {
            if (!streq(p->key->text, sources[k]))
                continue;
            if (src) {
                diag(c, p->key->loc, "image '%s' has both '%s' and '%s'; give exactly one source",
                     img->name, src->key->text, p->key->text);
                continue;
            }
            src = p;
            img->kind = (LabImageKind)k;
        }
    }
    if (!src) {
        diag(c, m->loc, "image '%s' needs a source: 'build', 'path' or 'url'", img->name);
    } else {
        _cleanup_free_ char *swhat = xasprintf("image '%s'", src->key->text);
        const char *s = y_str(c, src->value, swhat);
        if (s && img->kind == LAB_IMAGE_URL && strncmp(s, "http://", 7) != 0 &&
            strncmp(s, "https://", 8) != 0 && strncmp(s, "file://", 7) != 0)
            diag(c, src->value->loc,
                 "image URL '%s' must start with 'http://', 'https://' or 'file://'", s);
        else if (s)
            img->source = xstrdup(s);
    }

    const YPair *sp = map_pair(m, "sha256");
    if (sp && src && img->kind == LAB_IMAGE_BUILD) {
        diag(c, sp->key->loc, "'sha256' applies to 'url' and 'path' images, not to built ones");
    } else if (sp) {
        const char *s = y_str(c, sp->value, "'sha256'");
        if (s && !sha256_is_valid(s)) {
            diag(c, sp->value->loc, "sha256 '%s' must be 64 hexadecimal digits", s);
        } else if (s) {
            img->sha256 = xstrdup(s);
            for (char *q = img->sha256; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        }
    } else if (src && img->kind == LAB_IMAGE_URL) {
        diag(c, src->key->loc,
             "image '%s' comes from a URL and needs 'sha256' to verify the download", img->name);
    }

    const YNode *os = map_get(m, "os");
    if (os) {
        img->os_loc = os->loc;
        check_os(c, os, &img->os);
    }
}
