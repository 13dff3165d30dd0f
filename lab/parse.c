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
#include <fcntl.h>
#include <setjmp.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    static const char *const keys[] = {"lab",        "connect",  "pool",   "accel",
                                       "templates",  "networks", "images", "nodes",
                                       "kubernetes", "firewall", NULL};
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

    if ((v = map_get(root, "pool")) && (s = y_str(c, v, "'pool'"))) {
        /* the directory of the lab's storage pool; a relative one is the lab file's */
        if (!*s || strchr(s, '\n') || strstr(s, "/../") || strncmp(s, "../", 3) == 0 ||
            streq(s, "..") || (strlen(s) >= 3 && streq(s + strlen(s) - 3, "/..")))
            diag(c, v->loc, "pool '%s' must be a directory path without '..' components", s);
        else if (s[0] == '~')
            diag(c, v->loc,
                 "pool '%s' starts with '~', which kvmlab does not expand; give the full path", s);
        else if (streq(s, "/"))
            diag(c, v->loc, "pool '/' is the root directory; give a directory of its own");
        else {
            c->lab->pool = xstrdup(s);
            c->lab->pool_loc = v->loc;
        }
    }

    if ((v = map_get(root, "accel")))
        c->lab->accel = parse_accel(c, v);
    if ((v = map_get(root, "firewall"))) {
        static const char *const names[] = {"warn", "allow", NULL};
        int f = y_enum(c, v, "firewall", names);
        if (f >= 0)
            c->lab->firewall = (LabFirewall)f;
    }
    if ((v = map_get(root, "templates")) && (s = y_str(c, v, "'templates'"))) {
        /* a directory whose files override the installed templates of the same name */
        if (!*s || strchr(s, '\n'))
            diag(c, v->loc, "templates '%s' must be a directory path", s);
        else if (s[0] == '~')
            diag(c, v->loc,
                 "templates '%s' starts with '~', which kvmlab does not expand; give the full path",
                 s);
        else {
            c->lab->templates = xstrdup(s);
            c->lab->templates_loc = v->loc;
        }
    }

    /* fixed order, whatever the file's: nodes refer to networks and images */
    v = map_get(root, "networks");
    if (y_want_map(c, v, "'networks'", "a mapping from network names to networks"))
        for (size_t i = 0; i < v->n_pairs && !c->stop; i++) {
            if (v->pairs[i].skip)
                continue;
            if (c->lab->n_networks == LAB_NETWORKS_MAX) {
                diag(c, v->pairs[i].key->loc,
                     "network '%s' is one too many: a lab has at most %d networks",
                     v->pairs[i].key->text, LAB_NETWORKS_MAX);
                c->networks_full = true;
                break;
            }
            parse_network(c, &v->pairs[i]);
        }
    v = map_get(root, "images");
    if (y_want_map(c, v, "'images'", "a mapping from image names to images"))
        for (size_t i = 0; i < v->n_pairs && !c->stop; i++)
            if (!v->pairs[i].skip)
                parse_image(c, &v->pairs[i]);
    if ((v = map_get(root, "kubernetes")))
        parse_kubernetes(c, v);
    reserve_bridge_macs(c);
    v = map_get(root, "nodes");
    if (y_want_seq(c, v, "'nodes'", "a list of nodes"))
        for (size_t i = 0; i < v->n_items && !c->stop && !c->nodes_full; i++)
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
    index_clear(&c->anchor_index);
    free(c->net_aux);
    for (size_t i = 0; i < c->n_entries; i++)
        free(c->entries[i].label);
    free(c->entries);
    free(c->forwards);
    for (size_t i = 0; i < c->n_macs; i++)
        free(c->macs[i].owner);
    free(c->macs);
    free(c->derived);
    for (size_t i = 0; i < c->n_bridge_keys; i++)
        free(c->bridge_keys[i]);
    free(c->bridge_keys);
    index_clear(&c->derived_index);
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

/*
 * The offset of the first byte of @text that is not part of well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or @len when all of it is. libfyaml
 * must never see such text: "%\xff" at the start of a line makes it loop forever.
 */
static size_t utf8_invalid_at(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            n = 2, cp = b & 0x1f, min = 0x80;
        } else if ((b & 0xf0) == 0xe0) {
            n = 3, cp = b & 0x0f, min = 0x800;
        } else if ((b & 0xf8) == 0xf0) {
            n = 4, cp = b & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i < n)
            return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n;
    }
    return len;
}

/* LINE:COL of byte @off of @text, counting columns in characters as libfyaml does. */
static LabLoc loc_of_offset(const char *text, size_t off)
{
    LabLoc loc = {1, 1};
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            loc.line++;
            loc.col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            loc.col++;
        }
    }
    return loc;
}

/* Problems with the text as a whole, found before libfyaml sees it; false when there are. */
static bool text_check(Ctx *c, const char *text, size_t len)
{
    if (len > LAB_FILE_MAX_BYTES) {
        diag(c, (LabLoc){1, 1}, "the lab file is larger than %u MiB, the most a lab file may be",
             LAB_FILE_MAX_BYTES >> 20);
        return false;
    }
    size_t bad = utf8_invalid_at(text, len);
    if (bad < len) {
        diag(c, loc_of_offset(text, bad),
             "the lab file is not valid UTF-8: byte 0x%02x cannot start or continue a character "
             "here",
             (unsigned char)text[bad]);
        return false;
    }
    return true;
}

/* As lab_load_file(), from memory; @name is used in diagnostics and as Lab.file. @ret may be
 * NULL to only validate. */
int lab_load_string(const char *name, const char *text, size_t len, Lab **ret, LabDiags *diags,
                    Error *err)
{
    /* on the heap: it changes after setjmp() and is used after a longjmp() back */
    Ctx *c = NULL;
    struct fy_diag_cfg dcfg;
    struct fy_diag *fdiag;
    struct fy_parser *volatile fyp = NULL;
    YNode *root = NULL;
    jmp_buf oom;
    volatile int r = 0;

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
    c = calloc(1, sizeof(*c));
    if (!c) {
        fy_diag_destroy(fdiag);
        return error_set(err, -ENOMEM, "Out of memory while reading lab file '%s'", name);
    }

    /* every allocation of the parser jumps back here when it fails (parse-diag.c): what was
     * built so far is in @c and freed below; a few temporaries of the failing step leak */
    if (setjmp(oom)) {
        parse_oom_target(NULL);
        r = error_set(err, -ENOMEM, "Out of memory while reading lab file '%s'", name);
        goto finish;
    }
    parse_oom_target(&oom);

    c->lab = xcalloc(1, sizeof(*c->lab));
    c->lab->file = xstrdup(name);
    c->text = text;
    c->text_len = len;
    if (!text_check(c, text, len))
        goto report;

    struct fy_parse_cfg cfg = {
            .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2,
            .diag = fdiag,
    };
    fyp = fy_parser_create(&cfg);
    if (!fyp || fy_parser_set_string(fyp, text, len) < 0) {
        parse_oom_target(NULL);
        r = error_set(err, -ENOMEM, "Cannot set up the YAML parser for '%s'", name);
        goto finish;
    }

    if (y_build(c, fyp, &root) < 0) {
        void *iter = NULL;
        struct fy_diag_error *e;
        bool any = false;
        while ((e = fy_diag_errors_iterate(fdiag, &iter))) {
            if (e->type < FYET_ERROR)
                continue;
            LabLoc loc = {e->line > 0 ? e->line : 0, e->column > 0 ? e->column : 0};
            diag(c, loc, "invalid YAML: %s", e->msg ? e->msg : "syntax error");
            any = true;
        }
        if (!any)
            diag(c, c->last_loc, "invalid YAML");
    } else {
        parse_lab(c, root);
    }

report:
    if (c->n_diags > 0) {
        diags_sort(c->diags, c->n_diags);
        if (diags) {
            lab_diags_clear(diags);
            diags->file = xstrdup(name);
            diags->items = steal_pointer(&c->diags);
            diags->n = c->n_diags;
            c->n_diags = 0;
        }
        r = -EINVAL;
    } else if (ret) {
        *ret = steal_pointer(&c->lab);
    }
    parse_oom_target(NULL);

finish:
    ctx_clear(c);
    free(c);
    if (fyp)
        fy_parser_destroy(fyp);
    fy_diag_destroy(fdiag);
    return r;
}

/*
 * Read at most LAB_FILE_MAX_BYTES + 1 bytes of the file at @path, so that a larger file (or
 * /dev/zero) is refused by its size rather than read without end. -errno with @err set when it
 * cannot be read.
 */
static int read_file(const char *path, char **ret, size_t *ret_len, Error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;

    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot open lab file '%s'", path);
    /* read() on a directory fails with EISDIR only on some file systems; ask first */
    if (fstat(fd, &st) < 0)
        return error_set_errno(err, -errno, "Cannot read lab file '%s'", path);
    if (S_ISDIR(st.st_mode))
        return error_set_errno(err, -EISDIR, "Cannot read lab file '%s'", path);

    size_t cap = LAB_FILE_MAX_BYTES + 1, len = 0;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return error_set_errno(err, -ENOMEM, "Cannot read lab file '%s'", path);
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, -errno, "Cannot read lab file '%s'", path);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    *ret = steal_pointer(&buf);
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
