/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Node rendering: the template language (tpl_*), the seed of each kind of node
 * (node_seed_render) against golden files in tests/data/seed/ accepted by the real consumers
 * (every user-data by `cloud-init schema`, Debian's cloud-init 22.4; network-config and
 * user-data read back by libfyaml; the embedded scripts by `sh -n` and `bash -n`, their values
 * by the shell itself), and the in-guest report parser on hand-written console logs.
 *
 * Regenerate the golden files only by hand, then read the diff line by line:
 *   KVMLAB_REGENERATE=1 BUILD/tests/unit/test-node-render && git diff tests/data/seed
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "config.h"
#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/node.h"
#include "kvmlab/spawn.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct fy_document *, fy_document_destroy)
DEFINE_TRIVIAL_CLEANUP_FUNC(TplVars *, tpl_vars_free)

/* ---- the template language ------------------------------------------------------------- */

static char *render_ok(const char *tpl, const TplVars *v)
{
    Error err = ERROR_INIT;
    char *out = NULL;
    int r = tpl_render("t.txt", tpl, v, &out, &err);
    if (r < 0)
        fail_msg("tpl_render: %s", err.message);
    error_clear(&err);
    return out;
}

/* Render @tpl expecting an error with exactly @message. */
static void render_fails(const char *tpl, const TplVars *v, const char *message)
{
    Error err = ERROR_INIT;
    char *out = NULL;
    assert_int_equal(tpl_render("t.txt", tpl, v, &out, &err), -EINVAL);
    assert_null(out);
    assert_non_null(err.message);
    assert_string_equal(err.message, message);
    error_clear(&err);
}

static void test_tpl_values(void **state)
{
    (void)state;
    _cleanup_(tpl_vars_freep) TplVars *v = tpl_vars_new();
    TplVars *item;
    assert_int_equal(tpl_vars_set(v, "name", "first"), 0);
    assert_int_equal(tpl_vars_set(v, "name", "web-1"), 0); /* the last value wins */
    assert_int_equal(tpl_vars_set(v, "empty", ""), 0);
    assert_int_equal(tpl_vars_set_bool(v, "yes", true), 0);
    assert_int_equal(tpl_vars_set_bool(v, "no", false), 0);
    assert_int_equal(tpl_vars_add_item(v, "hosts", &item), 0);
    assert_int_equal(tpl_vars_set(item, "ip", "10.0.0.1"), 0);
    assert_int_equal(tpl_vars_add_item(v, "hosts", &item), 0);
    assert_int_equal(tpl_vars_set(item, "ip", "10.0.0.2"), 0);
    assert_int_equal(tpl_vars_set(item, "name", "shadow"), 0);

    _cleanup_free_ char *a = render_ok("host {{name}} {{ name }}!\n", v);
    assert_string_equal(a, "host web-1 web-1!\n");
    /* verbatim: no HTML escaping as in mustache */
    assert_int_equal(tpl_vars_set(v, "raw", "<a & \"b\">"), 0);
    _cleanup_free_ char *b = render_ok("{{raw}}", v);
    assert_string_equal(b, "<a & \"b\">");
    /* sections: booleans, strings, lists (the item's names first, the outer ones visible) */
    _cleanup_free_ char *c = render_ok("{{#yes}}Y{{/yes}}{{#no}}N{{/no}}{{^no}}n{{/no}}"
                                       "{{#empty}}E{{/empty}}{{^empty}}e{{/empty}}"
                                       "{{#name}}[{{name}}]{{/name}}",
                                       v);
    assert_string_equal(c, "Yne[web-1]");
    _cleanup_free_ char *d =
            render_ok("{{#hosts}}{{ip}}={{name}};{{/hosts}}{{^hosts}}none{{/hosts}}", v);
    assert_string_equal(d, "10.0.0.1=web-1;10.0.0.2=shadow;");
    _cleanup_free_ char *e = render_ok("a{{! a comment {with braces} }}b", v);
    assert_string_equal(e, "ab");
}

static void test_tpl_lines(void **state)
{
    (void)state;
    _cleanup_(tpl_vars_freep) TplVars *v = tpl_vars_new();
    TplVars *item;
    assert_int_equal(tpl_vars_set_bool(v, "on", true), 0);
    assert_int_equal(tpl_vars_set_bool(v, "off", false), 0);
    assert_int_equal(tpl_vars_set(v, "script", "#!/bin/sh\n\necho 'hi'\n"), 0);
    assert_int_equal(tpl_vars_set(v, "pem", "-----BEGIN X-----\nAAAA\n-----END X-----"), 0);
    assert_int_equal(tpl_vars_set(v, "empty", ""), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tpl_vars_add_item(v, "l", &item), 0);
        assert_int_equal(tpl_vars_set(item, "x", i ? "two" : "one"), 0);
    }
    /* tags alone on their line take the line; tags among text do not */
    _cleanup_free_ char *a = render_ok("top:\n"
                                       "  {{#on}}  \n"
                                       "  a: 1\n"
                                       "{{/on}}\n"
                                       "{{#off}}\n"
                                       "  b: 2\n"
                                       "\t{{/off}}\n"
                                       "{{! gone }}\n"
                                       "  list:\n"
                                       "{{#l}}\n"
                                       "    - {{x}}\n"
                                       "{{/l}}\n"
                                       "x{{#on}}\n"
                                       "{{/on}}y\n",
                                       v);
    assert_string_equal(a, "top:\n  a: 1\n  list:\n    - one\n    - two\nx\ny\n");
    /* a text alone on its line: each line indented, empty lines left empty, one newline */
    _cleanup_free_ char *b = render_ok("content: |\n"
                                       "  {{script}}\n"
                                       "pem: |\n"
                                       "    {{pem}}\n"
                                       "    {{empty}}\n"
                                       "end: {{pem}}\n",
                                       v);
    assert_string_equal(b, "content: |\n"
                           "  #!/bin/sh\n"
                           "\n"
                           "  echo 'hi'\n"
                           "pem: |\n"
                           "    -----BEGIN X-----\n"
                           "    AAAA\n"
                           "    -----END X-----\n"
                           "end: -----BEGIN X-----\nAAAA\n-----END X-----\n");
}

static void test_tpl_errors(void **state)
{
    (void)state;
    _cleanup_(tpl_vars_freep) TplVars *v = tpl_vars_new();
    TplVars *item;
    assert_int_equal(tpl_vars_set_bool(v, "on", true), 0);
    assert_int_equal(tpl_vars_set(v, "s", "x"), 0);
    assert_int_equal(tpl_vars_add_item(v, "l", &item), 0);

    render_fails("a\nb {{nope}}\n", v, "t.txt:2: 'nope' is not defined");
    render_fails("{{#on}}\n{{#l}}\n{{/l}}\n{{missing}}\n{{/on}}\n", v,
                 "t.txt:4: 'missing' is not defined");
    render_fails("\n\n{{#on}}\nx\n", v, "t.txt:3: section 'on' is never closed");
    render_fails("{{#on}}\n{{/l}}\n", v, "t.txt:2: '{{/l}}' closes section 'on'");
    render_fails("x\n{{/on}}\n", v, "t.txt:2: '{{/on}}' closes a section that is not open");
    render_fails("{{> partial}}", v, "t.txt:1: unsupported tag '{{> partial}}'");
    render_fails("{{{s}}}", v, "t.txt:1: unsupported tag '{{{s}}'");
    render_fails("{{&s}}", v, "t.txt:1: unsupported tag '{{&s}}'");
    render_fails("{{=<% %>=}}", v, "t.txt:1: unsupported tag '{{=<% %>=}}'");
    render_fails("\n{{ }}", v, "t.txt:2: tag '{{ }}' has no name");
    render_fails("{{a b}}", v, "t.txt:1: 'a b' is not a valid name");
    render_fails("x\ny {{s", v, "t.txt:2: '{{' without its '}}'");
    render_fails("{{on}}", v, "t.txt:1: 'on' is a boolean, not a text");
    render_fails("{{l}}", v, "t.txt:1: 'l' is a list, not a text");
    /* a syntax error where nothing would render is still one */
    render_fails("{{^on}}{{#x}}{{/on}}", v, "t.txt:1: '{{/on}}' closes section 'x'");
}

static void write_file(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *p = fs_path_join(dir, name);
    Error err = ERROR_INIT;
    assert_int_equal(fs_write_atomic(p, text, 0644, &err), 0);
}

static void test_tpl_load(void **state)
{
    (void)state;
    char over[] = "/tmp/kvr-tpl-over-XXXXXX", src[] = "/tmp/kvr-tpl-src-XXXXXX";
    assert_non_null(mkdtemp(over));
    assert_non_null(mkdtemp(src));
    write_file(over, "a.yaml", "from the lab\n");
    write_file(src, "a.yaml", "from the tree\n");
    write_file(src, "b.yaml", "only in the tree\n");
    _cleanup_free_ char *old =
            getenv("KVMLAB_TEMPLATES") ? strdup(getenv("KVMLAB_TEMPLATES")) : NULL;
    setenv("KVMLAB_TEMPLATES", src, 1);

    Error err = ERROR_INIT;
    char *text = NULL, *path = NULL;
    assert_int_equal(tpl_load(over, "a.yaml", &text, &path, &err), 0);
    assert_string_equal(text, "from the lab\n");
    _cleanup_free_ char *want = fs_path_join(over, "a.yaml");
    assert_string_equal(path, want);
    free(text);
    free(path);
    assert_int_equal(tpl_load(over, "b.yaml", &text, NULL, &err), 0);
    assert_string_equal(text, "only in the tree\n");
    free(text);
    assert_int_equal(tpl_load(NULL, "a.yaml", &text, NULL, &err), 0);
    assert_string_equal(text, "from the tree\n");
    free(text);

    text = NULL;
    assert_int_equal(tpl_load(over, "c.yaml", &text, NULL, &err), -ENOENT);
    assert_null(text);
    _cleanup_free_ char *msg = NULL;
    assert_true(asprintf(&msg, "Template 'c.yaml' is in none of '%s' or '%s'", over, src) > 0);
    assert_string_equal(err.message, msg);
    error_clear(&err);
    assert_int_equal(tpl_load(over, "../a.yaml", &text, NULL, &err), -EINVAL);
    error_clear(&err);

    /* the templates the tree ships are found, every one */
    setenv("KVMLAB_TEMPLATES", old ? old : KVMLAB_SOURCE_ROOT "/templates", 1);
    static const char *const shipped[] = {"meta-data.yaml", "network-config.yaml",
                                          "user-data.yaml", "kvmlab-report.sh",
                                          "kvmlab-k8s.sh",  "containerd-config.toml"};
    for (size_t i = 0; i < ELEMENTSOF(shipped); i++) {
        assert_int_equal(tpl_load(NULL, shipped[i], &text, NULL, &err), 0);
        free(text);
    }

    assert_int_equal(fs_rm_rf(over, &err), 0);
    assert_int_equal(fs_rm_rf(src, &err), 0);
}

/* ---- the pause image ------------------------------------------------------------------- */

static void test_sandbox_image(void **state)
{
    (void)state;
    /* kubeadm's constants.PauseVersion of each release (kubernetes/cmd/kubeadm/app/constants) */
    assert_string_equal(node_sandbox_image("1.23"), "registry.k8s.io/pause:3.6");
    assert_string_equal(node_sandbox_image("1.24"), "registry.k8s.io/pause:3.7");
    assert_string_equal(node_sandbox_image("1.25.4"), "registry.k8s.io/pause:3.8");
    assert_string_equal(node_sandbox_image("1.27"), "registry.k8s.io/pause:3.9");
    assert_string_equal(node_sandbox_image("1.30.2"), "registry.k8s.io/pause:3.9");
    assert_string_equal(node_sandbox_image("1.31"), "registry.k8s.io/pause:3.10");
    assert_string_equal(node_sandbox_image("1.33"), "registry.k8s.io/pause:3.10");
}

/* ---- seeds ------------------------------------------------------------------------------ */

#define KEY                                                                                        \
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0b3JrZWQtZXhhbXBsZS1rZXktZm9yLXRlc3Rz kvmlab@demo"
#define TOKEN   "abcdef.0123456789abcdef"
#define CA_HASH "sha256:5f0c9ba4a8f8b7e6d4c2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0"
/* shaped like PEM; nothing here reads it as a certificate */
#define CA_CERT                                                                                    \
    "-----BEGIN CERTIFICATE-----\n"                                                                \
    "MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"                           \
    "cm5ldGVzMB4XDTI0MDEwMTAwMDAwMFoXDTM0MDEwMTAwMDAwMFowFTETMBEGA1UE\n"                           \
    "-----END CERTIFICATE-----\n"
#define CA_KEY                                                                                     \
    "-----BEGIN PRIVATE KEY-----\n"                                                                \
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDQ3yW5u1bY6FzV\n"                           \
    "-----END PRIVATE KEY-----\n"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const SeedHost hosts[] = {
        {"cp-1", IP(10, 20, 0, 10)},
        {"w-1", IP(10, 20, 0, 11)},
        {"w-2", 0}, /* no address known: left out of /etc/hosts */
        {"vm-1", IP(10, 20, 0, 12)},
};

static const SeedNic nic_dhcp[] = {
        {{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}}, true, IP(10, 20, 0, 10), 24, 0, 0},
};

static const SeedNic nic_static[] = {
        {{{0x52, 0x54, 0x00, 0x00, 0x00, 0x01}}, true, 0, 24, 0, 0},
        {{{0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF}},
         false,
         IP(192, 168, 50, 7),
         24,
         IP(192, 168, 50, 1),
         IP(192, 168, 50, 2)},
        {{{0x52, 0x54, 0x00, 0x00, 0x00, 0x03}}, false, IP(172, 16, 9, 3), 16, 0, 0},
};

typedef struct SeedCase {
    const char *name; /* tests/data/seed/<name>.{meta-data,network-config,user-data} */
    SeedInput in;
} SeedCase;

#define BASE(node_)                                                                                \
    .lab = "demo", .node = node_, .instance_id = "demo-" node_ "-1", .ssh_pubkey = KEY,            \
    .nics = nic_dhcp, .n_nics = ELEMENTSOF(nic_dhcp), .hosts = hosts, .n_hosts = ELEMENTSOF(hosts)

static SeedCase cases[] = {
        {"plain-vm", {BASE("vm-1")}},
        {"control-plane",
         {BASE("cp-1"), .role = LAB_ROLE_CONTROL_PLANE, .k8s_version = "1.31",
          .install_packages = LAB_INSTALL_AUTO}},
        {"worker", {BASE("w-1"), .role = LAB_ROLE_WORKER, .k8s_version = "1.30.4"}},
        {"bootstrap-control-plane",
         {BASE("cp-1"), .role = LAB_ROLE_CONTROL_PLANE, .k8s_version = "1.31", .bootstrap = true,
          .token = TOKEN, .ca_cert_pem = CA_CERT, .ca_key_pem = CA_KEY, .ca_hash = CA_HASH,
          .control_plane_ip = IP(10, 20, 0, 10), .control_plane = "cp-1",
          .pod_subnet = "10.244.0.0/16", .service_subnet = "10.96.0.0/12"}},
        /* the caller hands the CA over: the worker's seed must not carry it */
        {"bootstrap-worker",
         {BASE("w-1"), .role = LAB_ROLE_WORKER, .k8s_version = "1.31", .bootstrap = true,
          .token = TOKEN, .ca_cert_pem = CA_CERT, .ca_key_pem = CA_KEY, .ca_hash = CA_HASH,
          .control_plane_ip = IP(10, 20, 0, 10), .control_plane = "cp-1"}},
        {"static-nic",
         {.lab = "demo",
          .node = "vm-1",
          .instance_id = "demo-vm-1-2",
          .ssh_pubkey = KEY,
          .nics = nic_static,
          .n_nics = ELEMENTSOF(nic_static),
          .hosts = hosts,
          .n_hosts = ELEMENTSOF(hosts)}},
        {"install-packages-true",
         {BASE("w-1"), .role = LAB_ROLE_WORKER, .k8s_version = "1.29",
          .install_packages = LAB_INSTALL_TRUE}},
        {"install-packages-false",
         {BASE("w-1"), .role = LAB_ROLE_WORKER, .k8s_version = "1.29",
          .install_packages = LAB_INSTALL_FALSE}},
        {"custom-repository",
         {BASE("w-1"), .role = LAB_ROLE_WORKER, .k8s_version = "1.31",
          .k8s_repository = "http://10.20.0.1:8080/k8s/", .k8s_repository_key = "none"}},
        {"lab-templates",
         {BASE("cp-1"), .role = LAB_ROLE_CONTROL_PLANE, .k8s_version = "1.31",
          .templates_dir = NULL /* set at run time */}},
};

static char *tmp_write(const char *text, const char *suffix)
{
    char *path = NULL;
    assert_true(asprintf(&path, "/tmp/kvr-render-XXXXXX%s", suffix) > 0);
    int fd = mkstemps(path, (int)strlen(suffix));
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Run @argv; fail the test, naming @package, when it cannot run or exits non-zero. */
static char *run_ok(const char *const *argv, const char *package)
{
    Error err = ERROR_INIT;
    SpawnResult res = {0};
    int r = spawn_run(argv, NULL, &res, &err);
    if (r < 0)
        fail_msg("%s (install %s): %s", argv[0], package, err.message);
    if (res.status != 0) {
        _cleanup_free_ char *cmd = spawn_argv_join(argv);
        fail_msg("'%s' exited %d:\n%s%s", cmd, res.status, res.out, res.err);
    }
    char *out = steal_pointer(&res.out);
    spawn_result_clear(&res);
    return out;
}

static void seed_of(const SeedCase *c, SeedFiles *f)
{
    Error err = ERROR_INIT;
    int r = node_seed_render(&c->in, f, &err);
    if (r < 0)
        fail_msg("%s: %s", c->name, err.message);
}

static struct fy_document *yaml_of(const char *name, const char *text)
{
    struct fy_document *d = fy_document_build_from_string(NULL, text, FY_NT);
    if (!d)
        fail_msg("%s does not parse as YAML", name);
    return d;
}

/* The scalar at @path in @d, or NULL. */
static const char *yaml_get(struct fy_document *d, const char *path)
{
    struct fy_node *n = fy_node_by_path(fy_document_root(d), path, FY_NT, FYNWF_DONT_FOLLOW);
    return n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar0(n) : NULL;
}

/* The content of write_files entry @path in user-data @d, or NULL. */
static const char *write_file_content(struct fy_document *d, const char *path)
{
    struct fy_node *wf =
            fy_node_by_path(fy_document_root(d), "/write_files", FY_NT, FYNWF_DONT_FOLLOW);
    for (int i = 0; wf && i < fy_node_sequence_item_count(wf); i++) {
        struct fy_node *e = fy_node_sequence_get_by_index(wf, i);
        struct fy_node *p = fy_node_by_path(e, "/path", FY_NT, FYNWF_DONT_FOLLOW);
        if (p && strcmp(fy_node_get_scalar0(p), path) == 0) {
            struct fy_node *c = fy_node_by_path(e, "/content", FY_NT, FYNWF_DONT_FOLLOW);
            return c ? fy_node_get_scalar0(c) : NULL;
        }
    }
    return NULL;
}

static void setup_lab_templates(void)
{
    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        if (strcmp(cases[i].name, "lab-templates") == 0 && !cases[i].in.templates_dir)
            cases[i].in.templates_dir = golden_path("seed/lab-templates");
}

static void test_seed_golden(void **state)
{
    (void)state;
    setup_lab_templates();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const SeedCase *c = &cases[i];
        SeedFiles f = {0}, again = {0};
        seed_of(c, &f);
        seed_of(c, &again);
        assert_string_equal(f.user_data, again.user_data);
        const struct {
            const char *ext, *text;
        } files[] = {{"meta-data", f.meta_data},
                     {"network-config", f.network_config},
                     {"user-data", f.user_data}};
        for (size_t k = 0; k < ELEMENTSOF(files); k++) {
            _cleanup_free_ char *rel = NULL;
            assert_true(asprintf(&rel, "seed/%s.%s", c->name, files[k].ext) > 0);
            if (golden_check(rel, files[k].text) != 0)
                fail_msg("%s differs from its golden file", rel);
        }
        seed_files_clear(&f);
        seed_files_clear(&again);
    }
}

/* Every user-data is valid cloud-config to cloud-init itself. */
static void test_seed_schema(void **state)
{
    (void)state;
    setup_lab_templates();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        SeedFiles f = {0};
        seed_of(&cases[i], &f);
        assert_true(strncmp(f.user_data, "#cloud-config\n", 14) == 0);
        _cleanup_free_ char *path = tmp_write(f.user_data, ".yaml");
        const char *argv[] = {"cloud-init", "schema", "--config-file", path, NULL};
        _cleanup_free_ char *out = run_ok(argv, "cloud-init");
        if (!strstr(out, "Valid cloud-config"))
            fail_msg("%s: cloud-init schema said: %s", cases[i].name, out);
        unlink(path);
        seed_files_clear(&f);
    }
}

/* network-config and meta-data read back as YAML give what the node was given. */
static void test_seed_network(void **state)
{
    (void)state;
    setup_lab_templates();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const SeedCase *c = &cases[i];
        SeedFiles f = {0};
        seed_of(c, &f);
        _cleanup_(fy_document_destroyp) struct fy_document *md = yaml_of("meta-data", f.meta_data);
        assert_string_equal(yaml_get(md, "/instance-id"), c->in.instance_id);
        assert_string_equal(yaml_get(md, "/local-hostname"), c->in.node);

        _cleanup_(fy_document_destroyp) struct fy_document *nd =
                yaml_of("network-config", f.network_config);
        assert_string_equal(yaml_get(nd, "/version"), "2");
        struct fy_node *eth =
                fy_node_by_path(fy_document_root(nd), "/ethernets", FY_NT, FYNWF_DONT_FOLLOW);
        assert_non_null(eth);
        assert_int_equal(fy_node_mapping_item_count(eth), (int)c->in.n_nics);
        seed_files_clear(&f);
    }

    /* the static case in detail, against addresses written out by hand */
    SeedFiles f = {0};
    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        if (strcmp(cases[i].name, "static-nic") == 0)
            seed_of(&cases[i], &f);
    _cleanup_(fy_document_destroyp) struct fy_document *nd =
            yaml_of("network-config", f.network_config);
    assert_string_equal(yaml_get(nd, "/ethernets/eth0/match/macaddress"), "52:54:00:00:00:01");
    assert_string_equal(yaml_get(nd, "/ethernets/eth0/set-name"), "eth0");
    assert_string_equal(yaml_get(nd, "/ethernets/eth0/dhcp4"), "true");
    assert_null(yaml_get(nd, "/ethernets/eth0/addresses/0"));
    assert_string_equal(yaml_get(nd, "/ethernets/eth1/match/macaddress"), "52:54:00:ab:cd:ef");
    assert_string_equal(yaml_get(nd, "/ethernets/eth1/dhcp4"), "false");
    assert_string_equal(yaml_get(nd, "/ethernets/eth1/addresses/0"), "192.168.50.7/24");
    assert_string_equal(yaml_get(nd, "/ethernets/eth1/gateway4"), "192.168.50.1");
    assert_string_equal(yaml_get(nd, "/ethernets/eth1/nameservers/addresses/0"), "192.168.50.2");
    assert_string_equal(yaml_get(nd, "/ethernets/eth2/addresses/0"), "172.16.9.3/16");
    assert_null(yaml_get(nd, "/ethernets/eth2/gateway4"));
    assert_null(fy_node_by_path(fy_document_root(nd), "/ethernets/eth2/nameservers", FY_NT,
                                FYNWF_DONT_FOLLOW));
    seed_files_clear(&f);
}

static const SeedCase *case_named(const char *name)
{
    setup_lab_templates();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    fail_msg("no case '%s'", name);
    return NULL;
}

/* What user-data writes, read back as YAML: the secrets only where they belong. */
static void test_seed_user_data(void **state)
{
    (void)state;
    SeedFiles f = {0};

    seed_of(case_named("plain-vm"), &f);
    {
        _cleanup_(fy_document_destroyp) struct fy_document *d = yaml_of("user-data", f.user_data);
        assert_string_equal(yaml_get(d, "/hostname"), "vm-1");
        assert_string_equal(yaml_get(d, "/users/0/name"), "kvmlab");
        assert_string_equal(yaml_get(d, "/users/0/sudo"), "ALL=(ALL) NOPASSWD:ALL");
        assert_string_equal(yaml_get(d, "/users/0/ssh_authorized_keys/0"), KEY);
        assert_string_equal(write_file_content(d, "/etc/hosts"),
                            "127.0.0.1 localhost\n"
                            "::1 localhost ip6-localhost ip6-loopback\n"
                            "10.20.0.10 cp-1\n"
                            "10.20.0.11 w-1\n"
                            "10.20.0.12 vm-1\n");
        assert_non_null(write_file_content(d, "/usr/local/sbin/kvmlab-report"));
        assert_null(write_file_content(d, "/usr/local/sbin/kvmlab-k8s"));
        assert_null(write_file_content(d, "/etc/containerd/config.toml"));
        assert_null(fy_node_by_path(fy_document_root(d), "/mounts", FY_NT, FYNWF_DONT_FOLLOW));
    }
    seed_files_clear(&f);

    seed_of(case_named("bootstrap-control-plane"), &f);
    {
        _cleanup_(fy_document_destroyp) struct fy_document *d = yaml_of("user-data", f.user_data);
        assert_string_equal(write_file_content(d, "/etc/kubernetes/pki/ca.crt"), CA_CERT);
        assert_string_equal(write_file_content(d, "/etc/kubernetes/pki/ca.key"), CA_KEY);
        assert_string_equal(yaml_get(d, "/mounts/0/0"), "swap");
        assert_null(yaml_get(d, "/mounts/0/1"));
        const char *toml = write_file_content(d, "/etc/containerd/config.toml");
        assert_non_null(toml);
        assert_non_null(strstr(toml, "\n  sandbox_image = \"registry.k8s.io/pause:3.10\"\n"));
        assert_non_null(strstr(toml, "\n  SystemdCgroup = true\n"));
    }
    seed_files_clear(&f);

    seed_of(case_named("bootstrap-worker"), &f);
    assert_null(strstr(f.user_data, "PRIVATE KEY"));
    assert_null(strstr(f.user_data, "CERTIFICATE"));
    assert_non_null(strstr(f.user_data, CA_HASH));
    seed_files_clear(&f);

    /* a value the lab could hold, with every character YAML or the shell treat specially */
    SeedInput in = case_named("custom-repository")->in;
    in.ssh_pubkey = "ssh-ed25519 AAAA \"quoted\" back\\slash #hash: colon 'single' \t tab é";
    in.instance_id = "id: \"x\" \\ y";
    in.k8s_repository = "http://10.0.0.1/it's $HOME `x` \"q\"/";
    Error err = ERROR_INIT;
    assert_int_equal(node_seed_render(&in, &f, &err), 0);
    {
        _cleanup_(fy_document_destroyp) struct fy_document *d = yaml_of("user-data", f.user_data);
        assert_string_equal(yaml_get(d, "/users/0/ssh_authorized_keys/0"), in.ssh_pubkey);
        _cleanup_(fy_document_destroyp) struct fy_document *md = yaml_of("meta-data", f.meta_data);
        assert_string_equal(yaml_get(md, "/instance-id"), in.instance_id);
        /* the shell reads the script's values back as they were given */
        const char *script = write_file_content(d, "/usr/local/sbin/kvmlab-k8s");
        assert_non_null(script);
        _cleanup_free_ char *path = tmp_write(script, ".sh");
        const char *argv[] = {"sh",
                              "-c",
                              "eval \"$(sed -n '/^NODE=/,/^CRI_SOCKET=/p' \"$1\")\"; "
                              "printf '%s|%s|%s|%s|%s' \"$NODE\" \"$REPOSITORY\" "
                              "\"$REPOSITORY_KEY\" \"$PIN\" \"$INSTALL_PACKAGES\"",
                              "sh",
                              path,
                              NULL};
        _cleanup_free_ char *out = run_ok(argv, "dash");
        assert_string_equal(out, "w-1|http://10.0.0.1/it's $HOME `x` \"q\"/||1.31.*|auto");
        unlink(path);
        _cleanup_free_ char *tpath = tmp_write(f.user_data, ".yaml");
        const char *sargv[] = {"cloud-init", "schema", "--config-file", tpath, NULL};
        free(run_ok(sargv, "cloud-init"));
        unlink(tpath);
    }
    seed_files_clear(&f);
}

/* The embedded scripts are valid shell for dash and bash. */
static void test_seed_scripts(void **state)
{
    (void)state;
    static const char *const names[] = {"plain-vm", "bootstrap-control-plane", "bootstrap-worker",
                                        "custom-repository", "install-packages-false"};
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        SeedFiles f = {0};
        seed_of(case_named(names[i]), &f);
        _cleanup_(fy_document_destroyp) struct fy_document *d = yaml_of("user-data", f.user_data);
        const char *scripts[] = {write_file_content(d, "/usr/local/sbin/kvmlab-report"),
                                 write_file_content(d, "/usr/local/sbin/kvmlab-k8s")};
        assert_non_null(scripts[0]);
        assert_true(strcmp(names[i], "plain-vm") == 0 || scripts[1]);
        for (size_t k = 0; k < ELEMENTSOF(scripts); k++) {
            if (!scripts[k])
                continue;
            assert_true(strncmp(scripts[k], "#!/bin/sh\n", 10) == 0);
            _cleanup_free_ char *path = tmp_write(scripts[k], ".sh");
            const char *sh[] = {"sh", "-n", path, NULL};
            const char *bash[] = {"bash", "-n", path, NULL};
            free(run_ok(sh, "dash"));
            free(run_ok(bash, "bash"));
            unlink(path);
        }
        seed_files_clear(&f);
    }
}

static void seed_fails(const SeedInput *in, int code, const char *message)
{
    SeedFiles f = {0};
    Error err = ERROR_INIT;
    assert_int_equal(node_seed_render(in, &f, &err), code);
    assert_null(f.user_data);
    assert_non_null(err.message);
    assert_string_equal(err.message, message);
    error_clear(&err);
}

static void test_seed_errors(void **state)
{
    (void)state;
    SeedInput in = case_named("bootstrap-control-plane")->in;
    in.ca_key_pem = NULL;
    seed_fails(&in, -EINVAL, "Bootstrapping control plane 'cp-1' needs the cluster CA and its key");
    in = case_named("bootstrap-worker")->in;
    in.token = NULL;
    seed_fails(&in, -EINVAL,
               "Bootstrapping node 'w-1' needs the token, the CA hash and the control plane's "
               "address");
    in = case_named("worker")->in;
    in.k8s_version = "latest";
    seed_fails(&in, -EINVAL, "Node 'w-1' has a role but no Kubernetes version MAJOR.MINOR");
    in = case_named("plain-vm")->in;
    in.ssh_pubkey = "ssh-ed25519 AAAA\nssh-rsa BBBB";
    seed_fails(&in, -EINVAL, "The SSH key for node 'vm-1' is not one OpenSSH line");
    in = case_named("plain-vm")->in;
    in.node = "vm 1";
    seed_fails(&in, -EINVAL, "'vm 1' cannot be a host name");
    in = case_named("plain-vm")->in;
    SeedNic bad = nic_static[1];
    bad.ip = 0;
    in.nics = &bad;
    in.n_nics = 1;
    seed_fails(&in, -EINVAL, "NIC 0 of node 'vm-1' is static but has no address");

    /* a lab template that is broken names its file and line */
    char dir[] = "/tmp/kvr-tpl-bad-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "meta-data.yaml", "instance-id: {{instance_id_yaml}}\nx: {{nope}}\n");
    in = case_named("plain-vm")->in;
    in.templates_dir = dir;
    _cleanup_free_ char *msg = NULL;
    assert_true(asprintf(&msg, "%s/meta-data.yaml:2: 'nope' is not defined", dir) > 0);
    seed_fails(&in, -EINVAL, msg);
    Error err = ERROR_INIT;
    assert_int_equal(fs_rm_rf(dir, &err), 0);
}

/* ---- the report ------------------------------------------------------------------------- */

static const NodeCheck *check_named(const NodeReport *r, const char *name)
{
    for (size_t i = 0; i < r->n_checks; i++)
        if (strcmp(r->checks[i].check, name) == 0)
            return &r->checks[i];
    return NULL;
}

static void parse(const char *log, NodeReport *r)
{
    assert_int_equal(node_report_parse(log, strlen(log), r), 0);
}

static void test_report_two_boots(void **state)
{
    (void)state;
    const char *log =
            "[    0.000000] Linux version 6.1.0-18-amd64\r\n"
            "KVMLAB-REPORT: begin boot=1111\r\n"
            "KVMLAB-REPORT: cloud_init=error\r\n"
            "KVMLAB-REPORT: hostname=localhost\r\n"
            "KVMLAB-REPORT: check=hostname ok=0 detail=the hostname is 'localhost', not 'cp-1'\r\n"
            "KVMLAB-REPORT: end\r\n"
            "[   61.2] reboot: Restarting system\r\n"
            "[    0.000000] Linux version 6.1.0-18-amd64\r\n"
            "KVMLAB-REPORT: begin boot=2222\r\n"
            "KVMLAB-REPORT: cloud_init=done\r\n"
            "KVMLAB-REPORT: hostname=cp-1\r\n"
            "KVMLAB-REPORT: product_uuid=6a0f3c2e-0000-4000-8000-00000000cafe\r\n"
            "KVMLAB-REPORT: mac=52:54:00:AB:cd:01\r\n"
            "KVMLAB-REPORT: mac=52:54:00:ab:cd:02\r\n"
            "KVMLAB-REPORT: address=10.20.0.10\r\n"
            "KVMLAB-REPORT: address=192.168.50.7\r\n"
            "KVMLAB-REPORT: future_key=whatever\r\n"
            "KVMLAB-REPORT: check=swap ok=1 detail=no swap active or in /etc/fstab\r\n"
            "KVMLAB-REPORT: check=packages ok=warn detail=skipped: cannot download "
            "https://pkgs.k8s.io/core:/stable:/v1.31/deb/Release.key\r\n"
            "KVMLAB-REPORT: check=ports ok=0 detail=in use: 6443 ok=1 detail=x\r\n"
            "KVMLAB-REPORT: check=cpus ok=1\r\n"
            "KVMLAB-REPORT: end\r\n";
    NodeReport r = {0};
    parse(log, &r);
    assert_true(r.found);
    assert_string_equal(r.boot_id, "2222");
    assert_string_equal(r.cloud_init, "done");
    assert_string_equal(r.hostname, "cp-1");
    assert_string_equal(r.product_uuid, "6a0f3c2e-0000-4000-8000-00000000cafe");
    assert_int_equal(r.n_macs, 2);
    assert_string_equal(r.macs[0], "52:54:00:ab:cd:01");
    assert_string_equal(r.macs[1], "52:54:00:ab:cd:02");
    assert_int_equal(r.n_addresses, 2);
    assert_string_equal(r.addresses[1], "192.168.50.7");
    assert_int_equal(r.n_checks, 4);
    const NodeCheck *c = check_named(&r, "swap");
    assert_true(c && c->ok && !c->warn);
    assert_string_equal(c->detail, "no swap active or in /etc/fstab");
    c = check_named(&r, "packages");
    assert_true(c && c->ok && c->warn);
    assert_string_equal(c->detail,
                        "skipped: cannot download https://pkgs.k8s.io/core:/stable:/v1.31/deb/"
                        "Release.key");
    c = check_named(&r, "ports");
    assert_true(c && !c->ok && !c->warn);
    assert_string_equal(c->detail, "in use: 6443 ok=1 detail=x");
    c = check_named(&r, "cpus");
    assert_true(c && c->ok);
    assert_string_equal(c->detail, "");
    assert_null(check_named(&r, "hostname")); /* that was the first boot's */
    node_report_clear(&r);
    assert_false(r.found);
    assert_null(r.macs);
}

static void test_report_partial(void **state)
{
    (void)state;
    NodeReport r = {0};

    /* nothing yet, then a report still being written */
    parse("", &r);
    assert_false(r.found);
    parse("[    1.0] Booting\nKVMLAB-REPORT: begin boot=1\nKVMLAB-REPORT: cloud_init=done\n"
          "KVMLAB-REPORT: hostname=cp-1\nKVMLAB-REPORT: e",
          &r);
    assert_false(r.found);
    assert_null(r.hostname);

    /* the first boot reported, the second has begun: the first is stale */
    const char *rebooting = "KVMLAB-REPORT: begin boot=1\nKVMLAB-REPORT: hostname=a\n"
                            "KVMLAB-REPORT: end\nKVMLAB-REPORT: begin boot=2\n"
                            "KVMLAB-REPORT: hostname=b\n";
    parse(rebooting, &r);
    assert_false(r.found);
    assert_null(r.hostname);

    /* the same boot reporting again (the service restarted by hand): the done one stands */
    const char *again = "KVMLAB-REPORT: begin boot=1\nKVMLAB-REPORT: hostname=a\n"
                        "KVMLAB-REPORT: end\nKVMLAB-REPORT: begin boot=1\n";
    parse(again, &r);
    assert_true(r.found);
    assert_string_equal(r.hostname, "a");
    node_report_clear(&r);

    /* a block cut short, then a whole one: the whole one, without the cut one's lines */
    const char *cut = "KVMLAB-REPORT: begin boot=1\nKVMLAB-REPORT: mac=52:54:00:00:00:09\n"
                      "KVMLAB-REPORT: begin boot=2\nKVMLAB-REPORT: mac=52:54:00:00:00:01\n"
                      "KVMLAB-REPORT: end\n";
    parse(cut, &r);
    assert_true(r.found);
    assert_int_equal(r.n_macs, 1);
    assert_string_equal(r.macs[0], "52:54:00:00:00:01");
    node_report_clear(&r);

    /* an end without its begin is nothing */
    parse("KVMLAB-REPORT: hostname=x\nKVMLAB-REPORT: end\n", &r);
    assert_false(r.found);
}

static void test_report_noise(void **state)
{
    (void)state;
    /* CRLF and bare CR, kernel messages before the marker on its line, garbage, NUL bytes,
     * a log without a final newline, malformed checks */
    static const char log[] =
            "\x1b[0m\x00\xff\xfe garbage KVMLAB-REPORT \r\n"
            "KVMLAB-REPORT: begin boot=abc-def \r\r\n"
            "[   33.1] br_netfilter: loaded KVMLAB-REPORT: hostname=w-1\r\n"
            "KVMLAB-REPORT: cloud_init=not run\r\n"
            "KVMLAB-REPORT: mac=52:54:00:00:00:\x00"
            "01\r\n"
            "KVMLAB-REPORT: check=\r\n"
            "KVMLAB-REPORT: check=swap\r\n"
            "KVMLAB-REPORT: check=swap ok=maybe detail=x\r\n"
            "KVMLAB-REPORT: check=swap ok=1detail=x\r\n"
            "KVMLAB-REPORT: check=modules ok=0 detail=not loaded: br_netfilter\r\n"
            "KVMLAB-REPORT:end\r\n"
            "KVMLAB-REPORT: endless\r\n"
            "KVMLAB-REPORT: end";
    NodeReport r = {0};
    assert_int_equal(node_report_parse(log, sizeof(log) - 1, &r), 0);
    assert_true(r.found);
    assert_string_equal(r.boot_id, "abc-def");
    assert_string_equal(r.hostname, "w-1");
    assert_string_equal(r.cloud_init, "not run");
    assert_int_equal(r.n_macs, 0);
    assert_int_equal(r.n_checks, 1);
    assert_string_equal(r.checks[0].check, "modules");
    assert_false(r.checks[0].ok);
    assert_string_equal(r.checks[0].detail, "not loaded: br_netfilter");
    node_report_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tpl_values),     cmocka_unit_test(test_tpl_lines),
            cmocka_unit_test(test_tpl_errors),     cmocka_unit_test(test_tpl_load),
            cmocka_unit_test(test_sandbox_image),  cmocka_unit_test(test_seed_golden),
            cmocka_unit_test(test_seed_schema),    cmocka_unit_test(test_seed_network),
            cmocka_unit_test(test_seed_user_data), cmocka_unit_test(test_seed_scripts),
            cmocka_unit_test(test_seed_errors),    cmocka_unit_test(test_report_two_boots),
            cmocka_unit_test(test_report_partial), cmocka_unit_test(test_report_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
