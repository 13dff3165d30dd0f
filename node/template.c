/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small, strict mustache subset for the files in templates/: {{name}}, {{#name}}, {{^name}},
 * {{/name}}, {{! comment }}. The template is parsed into a tree first (so a syntax error anywhere
 * is reported, even in a section that would not be rendered), then rendered with a scope stack.
 *
 * As in mustache, a section, inverted-section, closing or comment tag alone on its line takes
 * the whole line with it. Beyond mustache, a {{name}} alone on its line (only blanks before and
 * after it) indents every line of its value as far as the tag and ends with one newline: that is
 * how a multi-line text (a script, a PEM file) goes into a YAML block scalar.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/node.h"

typedef enum TplKind {
    TPL_STRING,
    TPL_BOOL,
    TPL_LIST,
} TplKind;

typedef struct TplVar {
    char *name;
    TplKind kind;
    char *str;
    bool b;
    TplVars **items;
    size_t n_items;
} TplVar;

struct TplVars {
    TplVar *vars;
    size_t n;
};

static void tpl_var_clear(TplVar *x)
{
    free(x->str);
    x->str = NULL;
    for (size_t i = 0; i < x->n_items; i++)
        tpl_vars_free(x->items[i]);
    free(x->items);
    x->items = NULL;
    x->n_items = 0;
}

TplVars *tpl_vars_new(void)
{
    return calloc(1, sizeof(TplVars));
}

void tpl_vars_free(TplVars *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        tpl_var_clear(&v->vars[i]);
        free(v->vars[i].name);
    }
    free(v->vars);
    free(v);
}

static const TplVar *vars_find(const TplVars *v, const char *name, size_t len)
{
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->vars[i].name) == len && memcmp(v->vars[i].name, name, len) == 0)
            return &v->vars[i];
    return NULL;
}

/* The entry for @name, made when missing. NULL on OOM. */
static TplVar *vars_slot(TplVars *v, const char *name)
{
    TplVar *x = (TplVar *)vars_find(v, name, strlen(name));
    if (x)
        return x;
    TplVar *nv = reallocarray(v->vars, v->n + 1, sizeof(TplVar));
    if (!nv)
        return NULL;
    v->vars = nv;
    x = &v->vars[v->n];
    *x = (TplVar){.name = strdup(name)};
    if (!x->name)
        return NULL;
    v->n++;
    return x;
}

int tpl_vars_set(TplVars *v, const char *name, const char *value)
{
    _cleanup_free_ char *s = strdup(value ? value : "");
    if (!s)
        return -ENOMEM;
    TplVar *x = vars_slot(v, name);
    if (!x)
        return -ENOMEM;
    tpl_var_clear(x);
    x->kind = TPL_STRING;
    x->str = steal_pointer(&s);
    return 0;
}

int tpl_vars_set_bool(TplVars *v, const char *name, bool value)
{
    TplVar *x = vars_slot(v, name);
    if (!x)
        return -ENOMEM;
    tpl_var_clear(x);
    x->kind = TPL_BOOL;
    x->b = value;
    return 0;
}

int tpl_vars_add_item(TplVars *v, const char *name, TplVars **ret)
{
    TplVar *x = vars_slot(v, name);
    if (!x)
        return -ENOMEM;
    if (x->kind != TPL_LIST) {
        tpl_var_clear(x);
        x->kind = TPL_LIST;
    }
    TplVars **ni = reallocarray(x->items, x->n_items + 1, sizeof(TplVars *));
    if (!ni)
        return -ENOMEM;
    x->items = ni;
    TplVars *item = tpl_vars_new();
    if (!item)
        return -ENOMEM;
    x->items[x->n_items++] = item;
    *ret = item;
    return 0;
}

/* ---- parsing ------------------------------------------------------------------------------ */

typedef enum NodeKind {
    NODE_TEXT,
    NODE_VAR,
    NODE_SECTION,
    NODE_INVERTED,
} NodeKind;

typedef struct TplNode {
    NodeKind kind;
    const char *text; /* TEXT: the bytes; others: the name */
    size_t len;
    unsigned line;
    bool standalone;    /* VAR alone on its line */
    const char *indent; /* VAR standalone: the blanks before it */
    size_t indent_len;
    struct TplNode *children;
    size_t n_children;
} TplNode;

typedef struct Parser {
    const char *name; /* the template's name, for errors */
    const char *start;
    const char *p;
    Error *err;
} Parser;

static void nodes_free(TplNode *n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        nodes_free(n[i].children, n[i].n_children);
    free(n);
}

static unsigned line_at(const char *start, const char *p)
{
    unsigned line = 1;
    for (const char *q = start; q < p; q++)
        line += *q == '\n';
    return line;
}

static int nodes_push(TplNode **nodes, size_t *n, const TplNode *node)
{
    TplNode *nn = reallocarray(*nodes, *n + 1, sizeof(TplNode));
    if (!nn)
        return -ENOMEM;
    *nodes = nn;
    nn[(*n)++] = *node;
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/*
 * Parse nodes up to the end of the text (@close NULL) or up to {{/close}}. On success *ret holds
 * the nodes and the parser stands after the closing tag (and its line when standalone).
 */
static int parse_nodes(Parser *ps, const char *close, size_t close_len, unsigned open_line,
                       TplNode **ret, size_t *ret_n)
{
    TplNode *nodes = NULL;
    size_t n = 0;
    int r;

    for (;;) {
        const char *tag = strstr(ps->p, "{{");
        const char *text_end = tag ? tag : ps->p + strlen(ps->p);

        if (!tag) {
            if (close) {
                r = error_set(ps->err, -EINVAL, "%s:%u: section '%.*s' is never closed", ps->name,
                              open_line, (int)close_len, close);
                goto fail;
            }
            if (text_end > ps->p) {
                TplNode t = {.kind = NODE_TEXT, .text = ps->p, .len = (size_t)(text_end - ps->p)};
                if ((r = nodes_push(&nodes, &n, &t)) < 0)
                    goto fail_oom;
            }
            ps->p = text_end;
            break;
        }

        unsigned line = line_at(ps->start, tag);
        const char *end = strstr(tag + 2, "}}");
        if (!end) {
            r = error_set(ps->err, -EINVAL, "%s:%u: '{{' without its '}}'", ps->name, line);
            goto fail;
        }
        char sigil = tag[2];
        const char *b = tag + 2;
        if (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!')
            b++;
        else if (!name_char(sigil) && !is_blank(sigil)) {
            r = error_set(ps->err, -EINVAL, "%s:%u: unsupported tag '%.*s'", ps->name, line,
                          (int)(end + 2 - tag), tag);
            goto fail;
        }
        const char *e = end;
        if (sigil != '!') {
            while (b < e && is_blank(*b))
                b++;
            while (e > b && is_blank(e[-1]))
                e--;
            if (b == e) {
                r = error_set(ps->err, -EINVAL, "%s:%u: tag '%.*s' has no name", ps->name, line,
                              (int)(end + 2 - tag), tag);
                goto fail;
            }
            for (const char *q = b; q < e; q++)
                if (!name_char(*q)) {
                    r = error_set(ps->err, -EINVAL, "%s:%u: '%.*s' is not a valid name", ps->name,
                                  line, (int)(e - b), b);
                    goto fail;
                }
        }

        /* Alone on its line? Then the blanks before it and its line end go with it. */
        const char *ls = tag;
        while (ls > ps->start && is_blank(ls[-1]))
            ls--;
        const char *le = end + 2;
        while (is_blank(*le))
            le++;
        /* a {{name}} at the very end without a newline stays verbatim */
        bool is_var = sigil != '#' && sigil != '^' && sigil != '/' && sigil != '!';
        bool standalone =
                (ls == ps->start || ls[-1] == '\n') && (*le == '\n' || (*le == 0 && !is_var));
        const char *after = end + 2;
        if (standalone) {
            text_end = ls < ps->p ? ps->p : ls;
            after = *le == '\n' ? le + 1 : le;
        }
        if (text_end > ps->p) {
            TplNode t = {.kind = NODE_TEXT, .text = ps->p, .len = (size_t)(text_end - ps->p)};
            if ((r = nodes_push(&nodes, &n, &t)) < 0)
                goto fail_oom;
        }
        ps->p = after;

        switch (sigil) {
        case '!':
            break;
        case '/':
            if (!close || (size_t)(e - b) != close_len || memcmp(b, close, close_len) != 0) {
                if (close)
                    r = error_set(ps->err, -EINVAL, "%s:%u: '{{/%.*s}}' closes section '%.*s'",
                                  ps->name, line, (int)(e - b), b, (int)close_len, close);
                else
                    r = error_set(ps->err, -EINVAL,
                                  "%s:%u: '{{/%.*s}}' closes a section that is not open", ps->name,
                                  line, (int)(e - b), b);
                goto fail;
            }
            *ret = nodes;
            *ret_n = n;
            return 0;
        case '#':
        case '^': {
            TplNode s = {.kind = sigil == '#' ? NODE_SECTION : NODE_INVERTED,
                         .text = b,
                         .len = (size_t)(e - b),
                         .line = line};
            if ((r = parse_nodes(ps, b, (size_t)(e - b), line, &s.children, &s.n_children)) < 0)
                goto fail;
            if ((r = nodes_push(&nodes, &n, &s)) < 0) {
                nodes_free(s.children, s.n_children);
                goto fail_oom;
            }
            break;
        }
        default: {
            TplNode v = {.kind = NODE_VAR,
                         .text = b,
                         .len = (size_t)(e - b),
                         .line = line,
                         .standalone = standalone,
                         .indent = ls,
                         .indent_len = (size_t)(tag - ls)};
            if ((r = nodes_push(&nodes, &n, &v)) < 0)
                goto fail_oom;
        }
        }
    }
    *ret = nodes;
    *ret_n = n;
    return 0;

fail_oom:
    r = error_set(ps->err, -ENOMEM, "Out of memory rendering %s", ps->name);
fail:
    nodes_free(nodes, n);
    return r;
}

/* ---- rendering ---------------------------------------------------------------------------- */

typedef struct Scope {
    const TplVars *vars;
    const struct Scope *up;
} Scope;

static const TplVar *scope_find(const Scope *s, const char *name, size_t len)
{
    for (; s; s = s->up) {
        const TplVar *x = vars_find(s->vars, name, len);
        if (x)
            return x;
    }
    return NULL;
}

static void put_indented(FILE *f, const char *indent, size_t indent_len, const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len > 0) {
            fwrite(indent, 1, indent_len, f);
            fwrite(s, 1, len, f);
        }
        fputc('\n', f);
        s += len + (nl ? 1 : 0);
    }
}

static int render_nodes(const char *tpl_name, const TplNode *nodes, size_t n, const Scope *scope,
                        FILE *f, Error *err)
{
    for (size_t i = 0; i < n; i++) {
        const TplNode *node = &nodes[i];
        if (node->kind == NODE_TEXT) {
            fwrite(node->text, 1, node->len, f);
            continue;
        }
        const TplVar *x = scope_find(scope, node->text, node->len);
        if (!x)
            return error_set(err, -EINVAL, "%s:%u: '%.*s' is not defined", tpl_name, node->line,
                             (int)node->len, node->text);
        if (node->kind == NODE_VAR) {
            if (x->kind != TPL_STRING)
                return error_set(err, -EINVAL, "%s:%u: '%.*s' is a %s, not a text", tpl_name,
                                 node->line, (int)node->len, node->text,
                                 x->kind == TPL_BOOL ? "boolean" : "list");
            if (node->standalone)
                put_indented(f, node->indent, node->indent_len, x->str);
            else
                fputs(x->str, f);
            continue;
        }
        bool inverted = node->kind == NODE_INVERTED;
        if (x->kind == TPL_LIST && !inverted) {
            for (size_t k = 0; k < x->n_items; k++) {
                Scope inner = {x->items[k], scope};
                int r = render_nodes(tpl_name, node->children, node->n_children, &inner, f, err);
                if (r < 0)
                    return r;
            }
            continue;
        }
        bool on = x->kind == TPL_LIST ? x->n_items > 0 : x->kind == TPL_BOOL ? x->b : *x->str != 0;
        if (on != inverted) {
            int r = render_nodes(tpl_name, node->children, node->n_children, scope, f, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int tpl_render(const char *tpl_name, const char *tpl, const TplVars *vars, char **ret, Error *err)
{
    Parser ps = {.name = tpl_name, .start = tpl, .p = tpl, .err = err};
    TplNode *nodes = NULL;
    size_t n = 0;
    int r = parse_nodes(&ps, NULL, 0, 0, &nodes, &n);
    if (r < 0)
        return r;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        nodes_free(nodes, n);
        return error_set(err, -ENOMEM, "Out of memory rendering %s", tpl_name);
    }
    Scope top = {vars, NULL};
    r = render_nodes(tpl_name, nodes, n, &top, f, err);
    nodes_free(nodes, n);
    if (fclose(f) != 0 && r >= 0)
        r = error_set(err, -ENOMEM, "Out of memory rendering %s", tpl_name);
    if (r < 0) {
        free(buf);
        return r;
    }
    *ret = buf;
    return 0;
}

/* ---- loading ------------------------------------------------------------------------------ */

int tpl_load(const char *override_dir, const char *file, char **ret, char **ret_path, Error *err)
{
    if (!*file || strchr(file, '/'))
        return error_set(err, -EINVAL, "'%s' is not a template file name", file);

    /* The lab's directory, then $KVMLAB_TEMPLATES (a source tree, as `kvmlab init` reads it)
     * or else the installed data and, before `meson install`, the source tree. */
    const char *env = getenv("KVMLAB_TEMPLATES");
    const char *dirs[3];
    size_t n_dirs = 0;
    if (override_dir && *override_dir)
        dirs[n_dirs++] = override_dir;
    if (env && *env)
        dirs[n_dirs++] = env;
    else {
        dirs[n_dirs++] = KVMLAB_DATADIR "/templates";
        dirs[n_dirs++] = KVMLAB_SOURCE_ROOT "/templates";
    }

    for (size_t i = 0; i < n_dirs; i++) {
        _cleanup_free_ char *path = fs_path_join(dirs[i], file);
        if (!path)
            return error_set(err, -ENOMEM, "Out of memory loading template '%s'", file);
        if (access(path, F_OK) < 0)
            continue;
        char *text = NULL;
        int r = fs_read_all(path, &text, NULL, err);
        if (r < 0)
            return r;
        *ret = text;
        if (ret_path)
            *ret_path = steal_pointer(&path);
        return 0;
    }
    _cleanup_free_ char *where = NULL;
    for (size_t i = 0; i < n_dirs; i++) {
        char *w = NULL;
        if (asprintf(&w, "%s%s'%s'", where ? where : "",
                     i == 0           ? ""
                     : i + 1 < n_dirs ? ", "
                                      : " or ",
                     dirs[i]) < 0)
            return error_set(err, -ENOMEM, "Out of memory loading template '%s'", file);
        free(where);
        where = w;
    }
    return error_set(err, -ENOENT, "Template '%s' is in none of %s", file, where);
}
