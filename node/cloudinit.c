/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NoCloud seed of one node: meta-data, network-config v2 and user-data, rendered from the
 * templates (templates/README.md lists the names each one gets). Every value from the lab reaches
 * a template already quoted for where it goes: *_yaml as a YAML double-quoted scalar, *_sh as a
 * shell single-quoted word; addresses are formatted here and need no quoting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/node.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(TplVars *, tpl_vars_free)

/* Whether @s is valid UTF-8 (a YAML stream must be). */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80             ? 0
                    : (*p & 0xe0) == 0xc0 ? 1
                    : (*p & 0xf0) == 0xe0 ? 2
                    : (*p & 0xf8) == 0xf0 ? 3
                                          : -1;
        if (extra < 0 || (extra == 1 && *p < 0xc2))
            return false;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* @s as a YAML double-quoted scalar (YAML 1.1 and 1.2 read it alike). New string or NULL. */
static char *yaml_quote(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\x%02x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* @s as one shell word in single quotes ('' for empty). New string or NULL. */
static char *sh_quote(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int set_yaml(TplVars *v, const char *name, const char *value)
{
    _cleanup_free_ char *q = yaml_quote(value ? value : "");
    return q ? tpl_vars_set(v, name, q) : -ENOMEM;
}

static int set_sh(TplVars *v, const char *name, const char *value)
{
    _cleanup_free_ char *q = sh_quote(value ? value : "");
    return q ? tpl_vars_set(v, name, q) : -ENOMEM;
}

static int set_ip(TplVars *v, const char *name, uint32_t ip)
{
    char buf[IPV4_STRLEN];
    return tpl_vars_set(v, name, ip ? addr_ipv4_format(ip, buf) : "");
}

/* A host name that /etc/hosts and a shell comparison take as it is. */
static bool hostname_valid(const char *s)
{
    if (!s || !*s || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.' || *s == '_'))
            return false;
    return true;
}

const char *node_sandbox_image(const char *version)
{
    /* kubeadm's pause image per minor version (its constants.PauseVersion) */
    unsigned major = 0, minor = 0;
    if (!version || sscanf(version, "%u.%u", &major, &minor) != 2 || major != 1)
        return "registry.k8s.io/pause:3.10";
    if (minor >= 31)
        return "registry.k8s.io/pause:3.10";
    if (minor >= 26)
        return "registry.k8s.io/pause:3.9";
    if (minor == 25)
        return "registry.k8s.io/pause:3.8";
    if (minor == 24)
        return "registry.k8s.io/pause:3.7";
    return "registry.k8s.io/pause:3.6";
}

/* Load template @file (the lab's directory first) and render it with @vars. */
static int render_file(const SeedInput *in, const char *file, const TplVars *vars, char **ret,
                       Error *err)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *path = NULL;
    int r = tpl_load(in->templates_dir, file, &text, &path, err);
    if (r < 0)
        return r;
    return tpl_render(path, text, vars, ret, err);
}

static const char *install_packages_str(LabInstallPackages p)
{
    switch (p) {
    case LAB_INSTALL_TRUE:
        return "true";
    case LAB_INSTALL_FALSE:
        return "false";
    case LAB_INSTALL_AUTO:
        break;
    }
    return "auto";
}

static const char *role_str(LabRole r)
{
    switch (r) {
    case LAB_ROLE_CONTROL_PLANE:
        return "control-plane";
    case LAB_ROLE_WORKER:
        return "worker";
    case LAB_ROLE_NONE:
        break;
    }
    return "none";
}

/* What makes no seed: a missing value the templates need, or one no file can carry. */
static int input_check(const SeedInput *in, Error *err)
{
    if (!hostname_valid(in->node))
        return error_set(err, -EINVAL, "'%s' cannot be a host name", in->node ? in->node : "");
    if (!in->instance_id || !*in->instance_id || !utf8_valid(in->instance_id))
        return error_set(err, -EINVAL, "Node '%s' has no valid instance id", in->node);
    if (!in->ssh_pubkey || !*in->ssh_pubkey || strpbrk(in->ssh_pubkey, "\r\n") ||
        !utf8_valid(in->ssh_pubkey))
        return error_set(err, -EINVAL, "The SSH key for node '%s' is not one OpenSSH line",
                         in->node);
    for (size_t i = 0; i < in->n_hosts; i++)
        if (!hostname_valid(in->hosts[i].name))
            return error_set(err, -EINVAL, "'%s' cannot be a host name in /etc/hosts",
                             in->hosts[i].name ? in->hosts[i].name : "");
    for (size_t i = 0; i < in->n_nics; i++)
        if (!in->nics[i].dhcp && !in->nics[i].ip)
            return error_set(err, -EINVAL, "NIC %zu of node '%s' is static but has no address", i,
                             in->node);
    if (in->role == LAB_ROLE_NONE)
        return 0;
    unsigned major, minor;
    if (!in->k8s_version || sscanf(in->k8s_version, "%u.%u", &major, &minor) != 2)
        return error_set(err, -EINVAL, "Node '%s' has a role but no Kubernetes version MAJOR.MINOR",
                         in->node);
    if (!in->bootstrap)
        return 0;
    if (!in->token || !in->ca_hash || !in->control_plane_ip)
        return error_set(err, -EINVAL,
                         "Bootstrapping node '%s' needs the token, the CA hash and the control "
                         "plane's address",
                         in->node);
    if (in->role == LAB_ROLE_CONTROL_PLANE) {
        if (in->control_plane && strcmp(in->control_plane, in->node) != 0)
            return error_set(err, -EINVAL,
                             "Only the first control plane '%s' can be bootstrapped, not '%s'",
                             in->control_plane, in->node);
        if (!in->ca_cert_pem || !in->ca_key_pem)
            return error_set(err, -EINVAL,
                             "Bootstrapping control plane '%s' needs the cluster CA and its key",
                             in->node);
    }
    return 0;
}

static int vars_meta_data(const SeedInput *in, TplVars *v)
{
    int r;
    if ((r = set_yaml(v, "instance_id_yaml", in->instance_id)) < 0 ||
        (r = set_yaml(v, "node_yaml", in->node)) < 0)
        return r;
    return 0;
}

static int vars_network(const SeedInput *in, TplVars *v)
{
    int r;
    /* an empty list still defines the name: a seed with no NIC has an empty ethernets */
    if ((r = tpl_vars_set_bool(v, "nics", false)) < 0)
        return r;
    for (size_t i = 0; i < in->n_nics; i++) {
        const SeedNic *nic = &in->nics[i];
        TplVars *item;
        char mac[MAC_STRLEN], ip[IPV4_STRLEN], ifname[32], address[CIDR_STRLEN + 4];
        snprintf(ifname, sizeof(ifname), "eth%zu", i);
        snprintf(address, sizeof(address), "%s/%u", addr_ipv4_format(nic->ip, ip),
                 nic->prefix ? nic->prefix : 24);
        if ((r = tpl_vars_add_item(v, "nics", &item)) < 0 ||
            (r = tpl_vars_set(item, "ifname", ifname)) < 0 ||
            (r = set_yaml(item, "mac_yaml", addr_mac_format(&nic->mac, mac))) < 0 ||
            (r = tpl_vars_set_bool(item, "dhcp", nic->dhcp)) < 0 ||
            (r = tpl_vars_set(item, "address", address)) < 0 ||
            (r = set_ip(item, "gateway", nic->dhcp ? 0 : nic->gateway)) < 0 ||
            (r = set_ip(item, "dns", nic->dhcp ? 0 : nic->dns)) < 0)
            return r;
    }
    return 0;
}

static int vars_report(const SeedInput *in, TplVars *v)
{
    int r;
    if ((r = set_sh(v, "node_sh", in->node)) < 0 ||
        (r = tpl_vars_set(v, "role", role_str(in->role))) < 0 ||
        (r = tpl_vars_set_bool(v, "bootstrap", in->role != LAB_ROLE_NONE && in->bootstrap)) < 0 ||
        (r = tpl_vars_set(v, "install_packages", install_packages_str(in->install_packages))) < 0)
        return r;
    return 0;
}

static int vars_k8s(const SeedInput *in, TplVars *v)
{
    const char *ver = in->k8s_version;
    unsigned major = 0, minor = 0;
    int r;

    /* pkgs.k8s.io has one repository per minor version */
    if (sscanf(ver, "%u.%u", &major, &minor) != 2)
        return -EINVAL;
    bool patch = strchr(strchr(ver, '.') + 1, '.') != NULL;
    _cleanup_free_ char *pin = NULL, *repo = NULL, *key = NULL;
    if (asprintf(&pin, "%s%s", ver, patch ? "-*" : ".*") < 0)
        return -ENOMEM;
    if (in->k8s_repository)
        repo = strdup(in->k8s_repository);
    else if (asprintf(&repo, "https://pkgs.k8s.io/core:/stable:/v%u.%u/deb/", major, minor) < 0)
        repo = NULL;
    if (!repo)
        return -ENOMEM;
    if (in->k8s_repository_key && strcmp(in->k8s_repository_key, "none") == 0)
        key = strdup("");
    else if (in->k8s_repository_key)
        key = strdup(in->k8s_repository_key);
    else if (asprintf(&key, "%s%sRelease.key", repo,
                      repo[0] && repo[strlen(repo) - 1] == '/' ? "" : "/") < 0)
        key = NULL;
    if (!key)
        return -ENOMEM;

    bool bs = in->bootstrap;
    if ((r = set_sh(v, "node_sh", in->node)) < 0 ||
        (r = tpl_vars_set(v, "role", role_str(in->role))) < 0 ||
        (r = set_sh(v, "version_sh", ver)) < 0 || (r = set_sh(v, "pin_sh", pin)) < 0 ||
        (r = set_sh(v, "repository_sh", repo)) < 0 ||
        (r = set_sh(v, "repository_key_sh", key)) < 0 ||
        (r = tpl_vars_set(v, "install_packages", install_packages_str(in->install_packages))) < 0 ||
        (r = tpl_vars_set_bool(v, "bootstrap", bs)) < 0 ||
        (r = set_sh(v, "token_sh", bs ? in->token : "")) < 0 ||
        (r = set_sh(v, "ca_hash_sh", bs ? in->ca_hash : "")) < 0 ||
        (r = set_ip(v, "control_plane_ip", bs ? in->control_plane_ip : 0)) < 0 ||
        (r = set_sh(v, "pod_subnet_sh", in->pod_subnet)) < 0 ||
        (r = set_sh(v, "service_subnet_sh", in->service_subnet)) < 0)
        return r;
    return 0;
}

static int vars_user_data(const SeedInput *in, TplVars *v, Error *err)
{
    bool k8s = in->role != LAB_ROLE_NONE;
    _cleanup_(tpl_vars_freep) TplVars *rv = tpl_vars_new();
    _cleanup_(tpl_vars_freep) TplVars *cv = tpl_vars_new();
    _cleanup_(tpl_vars_freep) TplVars *kv = tpl_vars_new();
    _cleanup_free_ char *report = NULL, *containerd = NULL, *k8s_script = NULL;
    int r = -ENOMEM;

    if (!rv || !cv || !kv)
        goto oom;
    if ((r = set_yaml(v, "node_yaml", in->node)) < 0 ||
        (r = set_yaml(v, "ssh_pubkey_yaml", in->ssh_pubkey)) < 0 ||
        (r = tpl_vars_set_bool(v, "kubernetes", k8s)) < 0 ||
        (r = tpl_vars_set_bool(v, "hosts", false)) < 0)
        goto oom;
    for (size_t i = 0; i < in->n_hosts; i++) {
        TplVars *item;
        if (!in->hosts[i].ip)
            continue; /* not known yet: the node finds it through DNS, if at all */
        if ((r = tpl_vars_add_item(v, "hosts", &item)) < 0 ||
            (r = set_ip(item, "ip", in->hosts[i].ip)) < 0 ||
            (r = tpl_vars_set(item, "name", in->hosts[i].name)) < 0)
            goto oom;
    }

    if ((r = vars_report(in, rv)) < 0)
        goto oom;
    if ((r = render_file(in, "kvmlab-report.sh", rv, &report, err)) < 0)
        return r;
    if ((r = tpl_vars_set(v, "report_script", report)) < 0)
        goto oom;

    /* a plain VM renders no Kubernetes file, so a lab's templates need not carry them */
    bool cp_bootstrap = k8s && in->bootstrap && in->role == LAB_ROLE_CONTROL_PLANE;
    if (k8s) {
        if ((r = tpl_vars_set(cv, "sandbox_image", node_sandbox_image(in->k8s_version))) < 0)
            goto oom;
        if ((r = render_file(in, "containerd-config.toml", cv, &containerd, err)) < 0)
            return r;
        if ((r = vars_k8s(in, kv)) < 0)
            goto oom;
        if ((r = render_file(in, "kvmlab-k8s.sh", kv, &k8s_script, err)) < 0)
            return r;
    }
    /* only the control plane's seed carries the CA (and its key): workers get the hash */
    if ((r = tpl_vars_set(v, "containerd_config", containerd)) < 0 ||
        (r = tpl_vars_set(v, "k8s_script", k8s_script)) < 0 ||
        (r = tpl_vars_set(v, "ca_cert", cp_bootstrap ? in->ca_cert_pem : "")) < 0 ||
        (r = tpl_vars_set(v, "ca_key", cp_bootstrap ? in->ca_key_pem : "")) < 0)
        goto oom;
    return 0;
oom:
    return error_set(err, r, "Out of memory rendering the seed of node '%s'", in->node);
}

int node_seed_render(const SeedInput *in, SeedFiles *ret, Error *err)
{
    _cleanup_(tpl_vars_freep) TplVars *mv = tpl_vars_new();
    _cleanup_(tpl_vars_freep) TplVars *nv = tpl_vars_new();
    _cleanup_(tpl_vars_freep) TplVars *uv = tpl_vars_new();
    SeedFiles f = {0};
    int r;

    if ((r = input_check(in, err)) < 0)
        return r;
    if (!mv || !nv || !uv || vars_meta_data(in, mv) < 0 || vars_network(in, nv) < 0)
        return error_set(err, -ENOMEM, "Out of memory rendering the seed of node '%s'", in->node);
    if ((r = vars_user_data(in, uv, err)) < 0)
        return r;
    if ((r = render_file(in, "meta-data.yaml", mv, &f.meta_data, err)) < 0 ||
        (r = render_file(in, "network-config.yaml", nv, &f.network_config, err)) < 0 ||
        (r = render_file(in, "user-data.yaml", uv, &f.user_data, err)) < 0) {
        seed_files_clear(&f);
        return r;
    }
    *ret = f;
    return 0;
}

void seed_files_clear(SeedFiles *f)
{
    if (!f)
        return;
    free(f->meta_data);
    free(f->network_config);
    free(f->user_data);
    *f = (SeedFiles){0};
}
