/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: The 'kubernetes' section.
 */
#include "parser.h"

/* ---- kubernetes ------------------------------------------------------------------------- */

static bool version_is_valid(const char *s)
{
    int parts = 0;
    while (*s) {
        size_t n = strspn(s, "0123456789");
        if (n == 0)
            return false;
        parts++;
        s += n;
        if (*s == '.' && s[1])
            s++;
        else if (*s)
            return false;
    }
    return parts == 2 || parts == 3;
}

/* An apt source URL: http(s), no whitespace or characters that end a sources.list field. */
static bool url_is_apt(const char *s)
{
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return false;
    if (strlen(s) < 9 || strlen(s) > 1024)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '[' || *s == ']' || *s == '"' || *s == '\'' ||
            *s == '\\' || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

void parse_kubernetes(Ctx *c, const YNode *m)
{
    static const char *const keys[] = {"version",          "pod_subnet", "service_subnet",
                                       "bootstrap",        "repository", "repository_key",
                                       "install_packages", NULL};
    LabKubernetes *k = &c->lab->kubernetes;
    const YNode *v;
    const char *s;

    if (!y_want_map(c, m, "'kubernetes'",
                    "a mapping with 'version', 'pod_subnet', 'service_subnet' and 'bootstrap'"))
        return;
    k->present = true;
    k->loc = m->loc;
    map_check_keys(c, m, keys, "in the kubernetes settings");
    /* YAML reads 1.31 as a float; the scalar text as written is what we want */
    if ((v = map_get(m, "version")) && (s = y_str(c, v, "kubernetes 'version'"))) {
        if (!version_is_valid(s))
            diag(c, v->loc,
                 "kubernetes version '%s' must be MAJOR.MINOR or MAJOR.MINOR.PATCH, such as '1.31'",
                 s);
        else
            k->version = xstrdup(s);
    }
    if ((v = map_get(m, "pod_subnet"))) {
        c->k8s_pod_loc = v->loc;
        k->has_pod_subnet = y_cidr(c, v, "pod_subnet", &k->pod_subnet);
    }
    if ((v = map_get(m, "service_subnet"))) {
        c->k8s_service_loc = v->loc;
        k->has_service_subnet = y_cidr(c, v, "service_subnet", &k->service_subnet);
    }
    if ((v = map_get(m, "bootstrap"))) {
        c->k8s_bootstrap_loc = v->loc;
        (void)y_bool(c, v, "kubernetes 'bootstrap'", &k->bootstrap);
    }
    if ((v = map_get(m, "repository")) && (s = y_str(c, v, "kubernetes 'repository'"))) {
        if (!url_is_apt(s))
            diag(c, v->loc,
                 "kubernetes repository '%s' must be an http:// or https:// URL without spaces", s);
        else
            k->repository = xstrdup(s);
    }
    if ((v = map_get(m, "repository_key")) && (s = y_str(c, v, "kubernetes 'repository_key'"))) {
        if (!streq(s, "none") && !url_is_apt(s))
            diag(c, v->loc,
                 "kubernetes repository_key '%s' must be an http:// or https:// URL, or 'none' "
                 "(the repository is trusted without a key)",
                 s);
        else
            k->repository_key = xstrdup(s);
    }
    if ((v = map_get(m, "install_packages"))) {
        static const char *const names[] = {"auto", "true", "false", NULL};
        int r = y_enum(c, v, "kubernetes install_packages", names);
        if (r >= 0)
            k->install_packages = (LabInstallPackages)r;
    }
}
