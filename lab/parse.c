/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file (format v1): YAML -> Lab, with every problem collected and located.
 *
 * The parts (see parse-internal.h) build a tree of libfyaml's events, read each section with
 * typed readers that keep going after a bad value, then check across sections, so that a
 * file's problems are all reported at once. This file holds the top level and the entry points.
 */
#include "kvmlab/lab.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "parser.h"

/* ---- the lab ---------------------------------------------------------------------------- */

static void check_lab_name(Ctx *c, const YNode *v)
{
    const char *s = y_str(c, v, "the lab name");
    if (!s)
        return;
    if (!name_is_simple(s))
        diag(c, v->loc,
             "lab name '%s' must start with a lower-case letter and contain only lower-case "
             "letters, digits and '-'",
             s);
    else if (strlen(s) > LAB_NAME_MAX)
        diag(c, v->loc,
             "lab name '%s' is longer than %d characters; it prefixes every object the lab makes",
             s, LAB_NAME_MAX);
    /* kept even when invalid, so derived MACs and messages still have a name */
    c->lab->name = xstrdup(s);
}

static void parse_lab(Ctx *c, const YNode *root)
{
    static const char *const keys[] = {"lab",   "connect",    "networks", "images",
                                       "nodes", "kubernetes", NULL};
    const YNode *v;

    if (!root || y_is_null(root)) {
        diag(c, (LabLoc){1, 1}, "the lab file is empty; it needs at least 'lab', the lab's name");
        return;
    }
    if (root->type != Y_MAP) {
        diag_type(c, root, "the lab file", "a mapping with at least the key 'lab'");
        return;
    }
    map_check_keys(c, root, keys, "in the lab");

    if (!(v = map_get(root, "lab")))
        diag(c, root->loc, "the lab file needs 'lab', the lab's name");
    else
        check_lab_name(c, v);

    const char *s;
    if ((v = map_get(root, "connect")) && (s = y_str(c, v, "'connect'"))) {
        if (!streq(s, "sandbox") && !strstr(s, "://"))
            diag(c, v->loc,
                 "connect '%s' must be 'sandbox' or a libvirt URI such as 'qemu:///system'", s);
        else
            c->lab->connect = xstrdup(s);
    }

    /* fixed order, whatever the file's: nodes refer to networks and images */
    v = map_get(root, "networks");
    if (y_want_map(c, v, "'networks'", "a mapping from network names to networks"))
        for (size_t i = 0; i < v->n_pairs; i++)
            if (!v->pairs[i].skip)
                parse_network(c, &v->pairs[i]);
    v = map_get(root, "images");
    if (y_want_map(c, v, "'images'", "a mapping from image names to images"))
        for (size_t i = 0; i < v->n_pairs; i++)
            if (!v->pairs[i].skip)
                parse_image(c, &v->pairs[i]);
    if ((v = map_get(root, "kubernetes")))
        parse_kubernetes(c, v);
    v = map_get(root, "nodes");
    if (y_want_seq(c, v, "'nodes'", "a list of nodes"))
        for (size_t i = 0; i < v->n_items; i++)
            parse_node(c, v->items[i]);

    check_overlaps(c);
    check_forwards(c);
    check_duplicates(c);
    check_kubernetes(c);
    check_static_space(c);
}

static void fy_diag_discard(struct fy_diag *d, void *user, const char *buf, size_t len)
{
    /* errors are collected instead: libfyaml must not write to our stderr */
    (void)d;
    (void)user;
    (void)buf;
    (void)len;
}

static void ctx_clear(Ctx *c)
{
    for (size_t i = 0; i < c->n_diags; i++)
        free(c->diags[i].message);
    free(c->diags);
    for (size_t i = 0; i < c->n_ynodes; i++) {
        if (!c->ynodes[i]->shared) {
            free(c->ynodes[i]->text);
            free(c->ynodes[i]->items);
            free(c->ynodes[i]->pairs);
        }
        free(c->ynodes[i]);
    }
    free(c->ynodes);
    for (size_t i = 0; i < c->n_anchors; i++)
        free(c->anchors[i].name);
    free(c->anchors);
    free(c->net_aux);
    for (size_t i = 0; i < c->n_entries; i++)
        free(c->entries[i].label);
    free(c->entries);
    free(c->forwards);
    for (size_t i = 0; i < c->n_macs; i++)
        free(c->macs[i].owner);
    free(c->macs);
    for (size_t i = 0; i < c->n_ips; i++)
        free(c->ips[i].owner);
    free(c->ips);
    lab_free(c->lab);
}

/* Stable sort by position, so problems read top to bottom; unlocated ones go last. */
static void diags_sort(LabDiag *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        LabDiag d = v[i];
        size_t j = i;
        while (j > 0) {
            LabLoc a = v[j - 1].loc, b = d.loc;
            bool after = a.line == 0 ? b.line != 0 : b.line != 0 && loc_cmp(a, b) > 0;
            if (!after)
                break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = d;
    }
}

/* As lab_load_file(), from memory; @name is used in diagnostics and as Lab.file. @ret may be
 * NULL to only validate. */
int lab_load_string(const char *name, const char *text, size_t len, Lab **ret, LabDiags *diags,
                    Error *err)
{
    Ctx c = {0};
    struct fy_diag_cfg dcfg;
    struct fy_diag *fdiag;
    struct fy_parser *fyp;
    YNode *root = NULL;
    int r = 0;

    if (!name || !text)
        return error_set(err, -EINVAL, "No lab file given");
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = fy_diag_discard;
    dcfg.colorize = false;
    fdiag = fy_diag_create(&dcfg);
    if (!fdiag)
        return error_set(err, -ENOMEM, "Cannot set up the YAML parser for '%s'", name);
    fy_diag_set_collect_errors(fdiag, true);
    struct fy_parse_cfg cfg = {
            .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2,
            .diag = fdiag,
    };
    fyp = fy_parser_create(&cfg);
    if (!fyp || fy_parser_set_string(fyp, text, len) < 0) {
        r = error_set(err, -ENOMEM, "Cannot set up the YAML parser for '%s'", name);
        goto finish;
    }

    c.lab = xcalloc(1, sizeof(*c.lab));
    c.lab->file = xstrdup(name);
    if (y_build(&c, fyp, &root) < 0) {
        void *iter = NULL;
        struct fy_diag_error *e;
        bool any = false;
        while ((e = fy_diag_errors_iterate(fdiag, &iter))) {
            if (e->type < FYET_ERROR)
                continue;
            LabLoc loc = {e->line > 0 ? e->line : 0, e->column > 0 ? e->column : 0};
            diag(&c, loc, "invalid YAML: %s", e->msg ? e->msg : "syntax error");
            any = true;
        }
        if (!any)
            diag(&c, c.last_loc, "invalid YAML");
    } else {
        parse_lab(&c, root);
    }

    if (c.n_diags > 0) {
        diags_sort(c.diags, c.n_diags);
        if (diags) {
            lab_diags_clear(diags);
            diags->file = xstrdup(name);
            diags->items = steal_pointer(&c.diags);
            diags->n = c.n_diags;
            c.n_diags = 0;
        }
        r = -EINVAL;
    } else if (ret) {
        *ret = steal_pointer(&c.lab);
    }

finish:
    ctx_clear(&c);
    fy_parser_destroy(fyp);
    fy_diag_destroy(fdiag);
    return r;
}

/* Read the whole file at @path; -errno with @err set when it cannot be read. */
static int read_file(const char *path, char **ret, size_t *ret_len, Error *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return error_set_errno(err, -errno, "Cannot open lab file '%s'", path);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        int r = -errno;
        fclose(f);
        return error_set_errno(err, r, "Cannot read lab file '%s'", path);
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    int r = ferror(f) ? -EIO : 0;
    fclose(f);
    if (fclose(m) != 0 && r == 0)
        r = -ENOMEM;
    if (r < 0) {
        free(buf);
        return error_set_errno(err, r, "Cannot read lab file '%s'", path);
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* Parse and validate the lab file at @path; see lab.h. */
int lab_load_file(const char *path, Lab **ret, LabDiags *diags, Error *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;

    if (!path)
        return error_set(err, -EINVAL, "No lab file given");
    int r = read_file(path, &text, &len, err);
    if (r < 0)
        return r;
    return lab_load_string(path, text, len, ret, diags, err);
}
