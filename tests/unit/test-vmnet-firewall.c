/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host firewall awareness, pure side. The fixtures in tests/data/firewall/ are real listings
 * (nft 1.0.6 of what iptables-nft 1.8.9 made inside a namespace, reproducing Docker's and ufw's
 * rules; the allow rules there added by the real nft) and one written by hand after firewalld
 * 1.3's nftables layout (nft reads it and lists it back byte for byte). Expected findings are
 * written out here. Every allow text the scanner produces is then given to the real nft inside
 * an unprivileged user and network namespace, on top of the fixture's tables: `nft -c -f`
 * accepts it, loading it for real makes the scan come back clean, and the delete commands built
 * from that listing put the ruleset back as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/firewall.h"
#include "kvmlab/spawn.h"

static const char *const two_bridges[] = {"kvmbr0", "kvmbr1"};
static const FirewallLab web = {.lab = "web", .bridges = two_bridges, .n_bridges = 2};

typedef struct Want {
    FirewallKind kind;
    const char *who, *where, *bridge, *allow;
} Want;

static char *fixture(const char *name)
{
    _cleanup_free_ char *rel = NULL;
    assert_true(asprintf(&rel, "firewall/%s.ruleset", name) > 0);
    char *text = golden_read(rel);
    if (!text)
        fprintf(stderr, "missing fixture tests/data/%s\n", rel);
    assert_non_null(text);
    return text;
}

static void expect_findings(const char *what, const char *ruleset, int br_nf,
                            const FirewallLab *lab, const Want *want, size_t n_want)
{
    FirewallFinding *v = NULL;
    size_t n = 99;
    Error err = ERROR_INIT;
    int r = firewall_scan(ruleset, br_nf, lab, &v, &n, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", what, err.message);
    assert_int_equal(r, 0);
    if (n != n_want)
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%s: have [%d] %s | %s | %s\n%s", what, v[i].kind, v[i].who, v[i].where,
                    v[i].bridge, v[i].allow);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].allow, want[i].allow) != 0 || strcmp(v[i].where, want[i].where) != 0)
            fprintf(stderr, "%s #%zu: have where '%s' allow:\n%s", what, i, v[i].where, v[i].allow);
        assert_int_equal(v[i].kind, want[i].kind);
        assert_string_equal(v[i].who, want[i].who);
        assert_string_equal(v[i].where, want[i].where);
        assert_string_equal(v[i].bridge, want[i].bridge);
        assert_string_equal(v[i].allow, want[i].allow);
    }
    firewall_findings_free(v, n);
}

#define FWD_DOCKER(br)                                                                             \
    "insert rule ip filter DOCKER-USER iifname \"" br                                              \
    "\" accept comment \"kvmlab-allow lab=web\"\n"                                                 \
    "insert rule ip filter DOCKER-USER oifname \"" br                                              \
    "\" accept comment \"kvmlab-allow lab=web\"\n"
#define FWD(fam, tab, ch, br)                                                                      \
    "insert rule " fam " " tab " " ch " iifname \"" br                                             \
    "\" accept comment \"kvmlab-allow lab=web\"\n"                                                 \
    "insert rule " fam " " tab " " ch " oifname \"" br                                             \
    "\" accept comment \"kvmlab-allow lab=web\"\n"
#define INP(fam, tab, ch, br)                                                                      \
    "insert rule " fam " " tab " " ch " iifname \"" br                                             \
    "\" udp dport 67 accept comment \"kvmlab-allow lab=web\"\n"                                    \
    "insert rule " fam " " tab " " ch " iifname \"" br                                             \
    "\" udp dport 53 accept comment \"kvmlab-allow lab=web\"\n"                                    \
    "insert rule " fam " " tab " " ch " iifname \"" br                                             \
    "\" tcp dport 53 accept comment \"kvmlab-allow lab=web\"\n"
#define BRNF(br, chains)                                                                           \
    "net.bridge.bridge-nf-call-iptables = 1: frames bridged between the guests on '" br            \
    "' also pass " chains "; the forward allows cover them"

static const Want docker_want[] = {
        {FIREWALL_FORWARD_DROP, "Docker", "table ip filter chain FORWARD (policy drop)", "kvmbr0",
         FWD_DOCKER("kvmbr0")},
        {FIREWALL_FORWARD_DROP, "Docker", "table ip filter chain FORWARD (policy drop)", "kvmbr1",
         FWD_DOCKER("kvmbr1")},
        {FIREWALL_BR_NETFILTER, "br_netfilter", BRNF("kvmbr0", "table ip filter chain FORWARD"),
         "kvmbr0", FWD_DOCKER("kvmbr0")},
        {FIREWALL_BR_NETFILTER, "br_netfilter", BRNF("kvmbr1", "table ip filter chain FORWARD"),
         "kvmbr1", FWD_DOCKER("kvmbr1")},
};

static const Want ufw_want[] = {
        {FIREWALL_INPUT_DROP, "ufw", "table ip filter chain INPUT (policy drop)", "kvmbr0",
         INP("ip", "filter", "INPUT", "kvmbr0")},
        {FIREWALL_INPUT_DROP, "ufw", "table ip filter chain INPUT (policy drop)", "kvmbr1",
         INP("ip", "filter", "INPUT", "kvmbr1")},
        {FIREWALL_FORWARD_DROP, "ufw", "table ip filter chain FORWARD (policy drop)", "kvmbr0",
         FWD("ip", "filter", "FORWARD", "kvmbr0")},
        {FIREWALL_FORWARD_DROP, "ufw", "table ip filter chain FORWARD (policy drop)", "kvmbr1",
         FWD("ip", "filter", "FORWARD", "kvmbr1")},
};

#define FWD_REJECT "(last rule 'reject with icmpx admin-prohibited')"
static const Want firewalld_want[] = {
        {FIREWALL_INPUT_DROP, "firewalld", "table inet firewalld chain filter_INPUT " FWD_REJECT,
         "kvmbr0", INP("inet", "firewalld", "filter_INPUT", "kvmbr0")},
        {FIREWALL_INPUT_DROP, "firewalld", "table inet firewalld chain filter_INPUT " FWD_REJECT,
         "kvmbr1", INP("inet", "firewalld", "filter_INPUT", "kvmbr1")},
        {FIREWALL_FORWARD_DROP, "firewalld",
         "table inet firewalld chain filter_FORWARD " FWD_REJECT, "kvmbr0",
         FWD("inet", "firewalld", "filter_FORWARD", "kvmbr0")},
        {FIREWALL_FORWARD_DROP, "firewalld",
         "table inet firewalld chain filter_FORWARD " FWD_REJECT, "kvmbr1",
         FWD("inet", "firewalld", "filter_FORWARD", "kvmbr1")},
};

static const Want policy_want[] = {
        {FIREWALL_FORWARD_DROP, "an nftables table", "table ip filter chain FORWARD (policy drop)",
         "kvmbr0", FWD("ip", "filter", "FORWARD", "kvmbr0")},
        {FIREWALL_FORWARD_DROP, "an nftables table", "table ip filter chain FORWARD (policy drop)",
         "kvmbr1", FWD("ip", "filter", "FORWARD", "kvmbr1")},
        {FIREWALL_BR_NETFILTER, "br_netfilter", BRNF("kvmbr0", "table ip filter chain FORWARD"),
         "kvmbr0", FWD("ip", "filter", "FORWARD", "kvmbr0")},
        {FIREWALL_BR_NETFILTER, "br_netfilter", BRNF("kvmbr1", "table ip filter chain FORWARD"),
         "kvmbr1", FWD("ip", "filter", "FORWARD", "kvmbr1")},
};

static const struct {
    const char *name;
    const Want *want;
    size_t n_want;
} cases[] = {
        {"docker", docker_want, ELEMENTSOF(docker_want)},
        {"ufw", ufw_want, ELEMENTSOF(ufw_want)},
        {"firewalld", firewalld_want, ELEMENTSOF(firewalld_want)},
        {"forward-policy-drop", policy_want, ELEMENTSOF(policy_want)},
};

/* Docker's FORWARD policy drop: the allows go to the top of DOCKER-USER, which ends in return. */
static void test_docker(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("docker");
    expect_findings("docker", text, 1, &web, docker_want, 4);
    /* without br_netfilter, or when it is unknown, only the forward drops */
    expect_findings("docker br_nf=0", text, 0, &web, docker_want, 2);
    expect_findings("docker br_nf=-1", text, -1, &web, docker_want, 2);
}

/* ufw drops on input and forward by policy: one finding each, per bridge. ufw makes FORWARD
 * drop too, so with br_netfilter the forward finding is repeated for bridged frames. */
static void test_ufw(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("ufw");
    expect_findings("ufw", text, 0, &web, ufw_want, 4);
    const Want with_brnf[] = {
            ufw_want[0],
            ufw_want[1],
            ufw_want[2],
            ufw_want[3],
            {FIREWALL_BR_NETFILTER, "br_netfilter", BRNF("kvmbr0", "table ip filter chain FORWARD"),
             "kvmbr0", FWD("ip", "filter", "FORWARD", "kvmbr0")},
            {FIREWALL_BR_NETFILTER, "br_netfilter", BRNF("kvmbr1", "table ip filter chain FORWARD"),
             "kvmbr1", FWD("ip", "filter", "FORWARD", "kvmbr1")},
    };
    expect_findings("ufw br_nf=1", text, 1, &web, with_brnf, ELEMENTSOF(with_brnf));
}

/* firewalld accepts by policy and rejects by its last rule, in its own inet table. */
static void test_firewalld(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("firewalld");
    expect_findings("firewalld", text, 0, &web, firewalld_want, 4);
}

/* A bare `iptables -P FORWARD DROP`: no DOCKER-USER, the allows go into FORWARD itself. */
static void test_forward_policy(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("forward-policy-drop");
    expect_findings("forward-policy-drop", text, 1, &web, policy_want, 4);
    /* the same listing with handles reads the same */
    const char *handles = "table ip filter { # handle 7\n"
                          "\tchain FORWARD { # handle 1\n"
                          "\t\ttype filter hook forward priority filter; policy drop;\n"
                          "\t}\n"
                          "}\n";
    expect_findings("with handles", handles, 0, &web, policy_want, 2);
    /* a drop on another hook, or an ip6 table's, is not the lab's */
    const char *other = "table ip6 filter {\n"
                        "\tchain FORWARD {\n"
                        "\t\ttype filter hook forward priority filter; policy drop;\n"
                        "\t}\n"
                        "}\n"
                        "table ip filter {\n"
                        "\tchain OUTPUT {\n"
                        "\t\ttype filter hook output priority filter; policy drop;\n"
                        "\t}\n"
                        "\tchain FORWARD {\n"
                        "\t\ttype filter hook forward priority filter; policy accept;\n"
                        "\t\toifname \"docker0\" drop\n"
                        "\t}\n"
                        "}\n";
    expect_findings("other hooks", other, 1, &web, NULL, 0);
}

/* kvmlab's own tables never count; the same tables under another name do. */
static void test_kvmlab_only(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("kvmlab-only");
    expect_findings("kvmlab-only", text, 1, &web, NULL, 0);
    char *p = strstr(text, "table ip kvmlab-guard");
    assert_non_null(p);
    memcpy(p + strlen("table ip "), "klmvab", 6);
    const Want renamed[] = {
            {FIREWALL_FORWARD_DROP, "an nftables table",
             "table ip klmvab-guard chain forward (policy drop)", "kvmbr0",
             FWD("ip", "klmvab-guard", "forward", "kvmbr0")},
            {FIREWALL_INPUT_DROP, "an nftables table",
             "table ip klmvab-guard chain input (last rule 'reject')", "kvmbr0",
             INP("ip", "klmvab-guard", "input", "kvmbr0")},
    };
    const FirewallLab one = {.lab = "web", .bridges = two_bridges, .n_bridges = 1};
    expect_findings("renamed", text, 0, &one, renamed, ELEMENTSOF(renamed));
}

/* Allow rules the real nft added (Docker and ufw together): the lab that has them all has no
 * finding; a lab with some of them gets exactly the missing ones. */
static void test_already_allowed(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("docker-ufw-allowed");
    expect_findings("web", text, 1, &web, NULL, 0);

    static const char *const br9[] = {"kvmbr9"};
    const FirewallLab web2 = {.lab = "web2", .bridges = br9, .n_bridges = 1};
    const Want partial[] = {
            {FIREWALL_INPUT_DROP, "ufw", "table ip filter chain INPUT (policy drop)", "kvmbr9",
             "insert rule ip filter INPUT iifname \"kvmbr9\" udp dport 67 accept comment "
             "\"kvmlab-allow lab=web2\"\n"
             "insert rule ip filter INPUT iifname \"kvmbr9\" tcp dport 53 accept comment "
             "\"kvmlab-allow lab=web2\"\n"},
    };
    expect_findings("web2", text, 1, &web2, partial, 1);

    /* another lab's rules on the same bridge are not this lab's */
    static const char *const br0[] = {"kvmbr0"};
    const FirewallLab other = {.lab = "we", .bridges = br0, .n_bridges = 1};
    const Want fwd_we[] = {
            {FIREWALL_INPUT_DROP, "ufw", "table ip filter chain INPUT (policy drop)", "kvmbr0",
             "insert rule ip filter INPUT iifname \"kvmbr0\" udp dport 67 accept comment "
             "\"kvmlab-allow lab=we\"\n"
             "insert rule ip filter INPUT iifname \"kvmbr0\" udp dport 53 accept comment "
             "\"kvmlab-allow lab=we\"\n"
             "insert rule ip filter INPUT iifname \"kvmbr0\" tcp dport 53 accept comment "
             "\"kvmlab-allow lab=we\"\n"},
            {FIREWALL_FORWARD_DROP, "Docker", "table ip filter chain FORWARD (policy drop)",
             "kvmbr0",
             "insert rule ip filter DOCKER-USER iifname \"kvmbr0\" accept comment "
             "\"kvmlab-allow lab=we\"\n"
             "insert rule ip filter DOCKER-USER oifname \"kvmbr0\" accept comment "
             "\"kvmlab-allow lab=we\"\n"},
    };
    expect_findings("we", text, 0, &other, fwd_we, ELEMENTSOF(fwd_we));
}

/* Names that would break out of the nft text are refused; no bridges, no findings. */
static void test_refusals(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("docker");
    static const char *const bad[] = {"br\"0"};
    const FirewallLab l1 = {.lab = "web", .bridges = bad, .n_bridges = 1};
    const FirewallLab l2 = {.lab = "w b", .bridges = two_bridges, .n_bridges = 2};
    FirewallFinding *v = NULL;
    size_t n = 0;
    Error err = ERROR_INIT;
    assert_int_equal(firewall_scan(text, 0, &l1, &v, &n, &err), -EINVAL);
    assert_string_equal(err.message, "Bridge name 'br\"0' cannot be used in an nft rule");
    error_clear(&err);
    assert_int_equal(firewall_scan(text, 0, &l2, &v, &n, &err), -EINVAL);
    assert_string_equal(err.message, "Lab name 'w b' cannot be used in an nft comment");
    error_clear(&err);
    const FirewallLab none = {.lab = "web"};
    expect_findings("no bridges", text, 1, &none, NULL, 0);
    expect_findings("empty", "", 1, &web, NULL, 0);
}

/* The delete commands from a listing with handles (the real nft's): the lab's rules only. */
static void test_delete_build(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("docker-ufw-allowed");
    _cleanup_free_ char *a = firewall_allow_delete_build(text, "web");
    assert_non_null(a);
    assert_string_equal(a, "delete rule ip filter INPUT handle 122\n"
                           "delete rule ip filter INPUT handle 121\n"
                           "delete rule ip filter INPUT handle 120\n"
                           "delete rule ip filter INPUT handle 119\n"
                           "delete rule ip filter INPUT handle 118\n"
                           "delete rule ip filter INPUT handle 117\n"
                           "delete rule ip filter DOCKER-USER handle 114\n"
                           "delete rule ip filter DOCKER-USER handle 113\n"
                           "delete rule ip filter DOCKER-USER handle 112\n"
                           "delete rule ip filter DOCKER-USER handle 111\n");
    _cleanup_free_ char *b = firewall_allow_delete_build(text, "web2");
    assert_string_equal(b, "delete rule ip filter INPUT handle 123\n"
                           "delete rule ip filter DOCKER-USER handle 116\n"
                           "delete rule ip filter DOCKER-USER handle 115\n");
    _cleanup_free_ char *c = firewall_allow_delete_build(text, "we");
    assert_string_equal(c, "");
    /* without handles there is nothing to delete by */
    _cleanup_free_ char *plain = fixture("docker");
    _cleanup_free_ char *d = firewall_allow_delete_build(plain, "web");
    assert_string_equal(d, "");
}

/* The script of all findings: each command once, in order. */
static void test_allow_build(void **state)
{
    (void)state;
    _cleanup_free_ char *text = fixture("docker");
    FirewallFinding *v = NULL;
    size_t n = 0;
    Error err = ERROR_INIT;
    assert_int_equal(firewall_scan(text, 1, &web, &v, &n, &err), 0);
    assert_int_equal(n, 4);
    _cleanup_free_ char *s = firewall_allow_build(v, n);
    assert_string_equal(s, FWD_DOCKER("kvmbr0") FWD_DOCKER("kvmbr1"));
    firewall_findings_free(v, n);
    _cleanup_free_ char *e = firewall_allow_build(NULL, 0);
    assert_string_equal(e, "");
}

/* --- the real nft, in an unprivileged user and network namespace --- */

static const char *nft_path(void)
{
    static const char *const paths[] = {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"};
    for (size_t i = 0; i < ELEMENTSOF(paths); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int r = n == (ssize_t)strlen(text) ? 0 : -EIO;
    close(fd);
    return r;
}

static char *nft_list(struct nft_ctx *ctx, unsigned flags)
{
    nft_ctx_output_set_flags(ctx, flags);
    if (nft_run_cmd_from_buffer(ctx, "list ruleset") != 0)
        return NULL;
    return strdup(nft_ctx_get_output_buffer(ctx));
}

/*
 * In a child in a fresh user and network namespace: load @tables, list it (stateless, with
 * handles), add @allow, list again and scan that listing for @lab, delete what
 * firewall_allow_delete_build() makes of it, list a third time. The child reports one line per
 * fact over a pipe: "findings-after-allow=N", "allow-rules-listed=N" and "restored=0|1".
 */
static char *round_trip(const char *tables, const char *allow, const FirewallLab *lab)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return NULL;
    uid_t uid = getuid();
    gid_t gid = getgid();
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        char map[64];
        close(p[0]);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
            _exit(1);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") < 0 ||
            write_file("/proc/self/uid_map", map) < 0)
            _exit(2);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) < 0)
            _exit(3);
        struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
            _exit(4);
        nft_ctx_buffer_output(ctx);
        nft_ctx_buffer_error(ctx);
        unsigned keep = NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_STATELESS;
        if (nft_run_cmd_from_buffer(ctx, tables) != 0)
            _exit(5);
        char *before = nft_list(ctx, keep);
        if (!before || nft_run_cmd_from_buffer(ctx, allow) != 0) {
            fprintf(stderr, "%s", nft_ctx_get_error_buffer(ctx));
            _exit(6);
        }
        char *mid = nft_list(ctx, NFT_CTX_OUTPUT_HANDLE);
        FirewallFinding *v = NULL;
        size_t n = 0;
        Error err = ERROR_INIT;
        if (!mid || firewall_scan(mid, 1, lab, &v, &n, &err) < 0)
            _exit(7);
        char *del = firewall_allow_delete_build(mid, lab->lab);
        size_t listed = 0;
        for (const char *q = mid; (q = strstr(q, "comment \"kvmlab-allow lab=")); q++)
            listed++;
        if (!del || (*del && nft_run_cmd_from_buffer(ctx, del) != 0))
            _exit(8);
        char *after = nft_list(ctx, keep);
        if (!after)
            _exit(9);
        FILE *f = fdopen(p[1], "w");
        if (!f)
            _exit(10);
        fprintf(f, "findings-after-allow=%zu\nallow-rules-listed=%zu\nrestored=%d\n", n, listed,
                strcmp(before, after) == 0);
        if (strcmp(before, after) != 0)
            fprintf(stderr, "before:\n%s\nafter:\n%s\n", before, after);
        _exit(fclose(f) == 0 ? 0 : 11);
    }
    close(p[1]);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char chunk[4096];
    ssize_t n;
    while (f && (n = read(p[0], chunk, sizeof(chunk))) > 0)
        fwrite(chunk, 1, (size_t)n, f);
    close(p[0]);
    if (f)
        fclose(f);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "round trip in a user namespace failed (status %d)\n", status);
        free(buf);
        return NULL;
    }
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_nft_real(void **state)
{
    (void)state;
    /* scripts/setup.sh installs nftables: a missing nft is a failure, not a skip */
    assert_non_null(nft_path());
    char dir[] = "/tmp/kfw-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *tables = fixture(cases[i].name);
        FirewallFinding *v = NULL;
        size_t n = 0;
        Error err = ERROR_INIT;
        assert_int_equal(firewall_scan(tables, 1, &web, &v, &n, &err), 0);
        assert_true(n >= cases[i].n_want);
        _cleanup_free_ char *allow = firewall_allow_build(v, n);
        firewall_findings_free(v, n);
        assert_non_null(allow);

        /* nft -c -f: the fixture's tables, then the allow commands, checked as one script */
        _cleanup_free_ char *path = NULL, *script = NULL;
        assert_true(asprintf(&path, "%s/%s.nft", dir, cases[i].name) > 0);
        assert_true(asprintf(&script, "%s\n%s", tables, allow) > 0);
        assert_int_equal(write_file(path, script), 0);
        const char *argv[] = {"unshare", "--map-root-user", "--net", nft_path(), "-c", "-f", path,
                              NULL};
        SpawnResult res = {0};
        assert_int_equal(spawn_run(argv, &(SpawnOpts){.timeout_ms = 20000}, &res, &err), 0);
        if (res.status != 0)
            fprintf(stderr, "nft -c -f %s: %s\n", path, res.err);
        assert_int_equal(res.status, 0);
        spawn_result_clear(&res);
        unlink(path);

        /* loaded for real: nft lists every allow rule as the scanner expects it (no finding
         * left), and the delete commands put the ruleset back as it was */
        _cleanup_free_ char *report = round_trip(tables, allow, &web);
        assert_non_null(report);
        _cleanup_free_ char *want = NULL;
        assert_true(asprintf(&want, "findings-after-allow=0\nallow-rules-listed=%zu\nrestored=1\n",
                             count_lines(allow)) > 0);
        if (strcmp(report, want) != 0)
            fprintf(stderr, "%s: %s", cases[i].name, report);
        assert_string_equal(report, want);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_docker),      cmocka_unit_test(test_ufw),
            cmocka_unit_test(test_firewalld),   cmocka_unit_test(test_forward_policy),
            cmocka_unit_test(test_kvmlab_only), cmocka_unit_test(test_already_allowed),
            cmocka_unit_test(test_refusals),    cmocka_unit_test(test_delete_build),
            cmocka_unit_test(test_allow_build), cmocka_unit_test(test_nft_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
