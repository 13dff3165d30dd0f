/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lab's secrets. Tokens against a POSIX regular expression; the cluster CA read back by the
 * openssl command line (its text form, `openssl verify`, the key matching the certificate, the
 * validity, kubeadm's discovery hash computed by openssl and sha256sum); lab_secrets_load's
 * files, modes, stable values, and recovery from a half-written state; the SSH key checked with
 * `ssh-keygen -y`.
 */
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlab/fsutil.h"
#include "kvmlab/node.h"
#include "kvmlab/spawn.h"

static char root[] = "/tmp/kvmlab-secrets-XXXXXX";

static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
    static char ring[32][4096];
    static unsigned next;
    char *b = ring[next++ % 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 4096, fmt, ap);
    va_end(ap);
    return b;
}

/* Run @argv (a tool of Debian package @pkg); its exit status, stdout in *out (may be NULL). */
static int run(const char *pkg, const char *const *argv, char **out)
{
    SpawnResult res = {0};
    SpawnOpts o = {.timeout_ms = 30000};
    assert_int_equal(spawn_run(argv, &o, &res, NULL), 0);
    if (res.status == 127)
        fail_msg("%s is missing: install the Debian package '%s'", argv[0], pkg);
    if (out) {
        *out = res.out;
        res.out = NULL;
    }
    int st = res.status;
    spawn_result_clear(&res);
    return st;
}

static char *run_ok(const char *pkg, const char *const *argv)
{
    char *out = NULL;
    int st = run(pkg, argv, &out);
    if (st != 0)
        fail_msg("%s %s failed with status %d", argv[0], argv[1], st);
    return out;
}

static char *read_file(const char *path)
{
    char *s = NULL;
    assert_int_equal(fs_read_all(path, &s, NULL, NULL), 0);
    return s;
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The names in @dir, sorted, joined by spaces. */
static char *dir_list(const char *dir)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    assert_true(n >= 0);
    char *s = calloc(1, 4096);
    for (int i = 0; i < n; i++) {
        if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
            if (*s)
                strcat(s, " ");
            strcat(s, ents[i]->d_name);
        }
        free(ents[i]);
    }
    free(ents);
    return s;
}

/* ---- tokens ---------------------------------------------------------------------------- */

static void test_token(void **state)
{
    (void)state;
    regex_t re;
    assert_int_equal(regcomp(&re, "^[a-z0-9]{6}\\.[a-z0-9]{16}$", REG_EXTENDED | REG_NOSUB), 0);
    char *tokens[100];
    for (int i = 0; i < 100; i++) {
        Error err = ERROR_INIT;
        assert_int_equal(node_token_new(&tokens[i], &err), 0);
        assert_int_equal(regexec(&re, tokens[i], 0, NULL, 0), 0);
        assert_true(node_token_valid(tokens[i]));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(tokens[i], tokens[j]);
    }
    for (int i = 0; i < 100; i++)
        free(tokens[i]);
    regfree(&re);

    /* kubeadm's own example token, and near misses. */
    assert_true(node_token_valid("abcdef.0123456789abcdef"));
    const char *bad[] = {"",
                         "abcdef0123456789abcdef",
                         "abcdef.0123456789abcde",
                         "abcdef.0123456789abcdef0",
                         "abcde.0123456789abcdefg",
                         "Abcdef.0123456789abcdef",
                         "abcdef.0123456789abcdeF",
                         "abcdef-0123456789abcdef",
                         "abcdef.0123456789abcde\n",
                         "abc_ef.0123456789abcdef"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(node_token_valid(bad[i]));
    assert_false(node_token_valid(NULL));
}

/* ---- the CA ---------------------------------------------------------------------------- */

/* kubeadm's discovery hash of certificate file @crt as its documentation computes it, one
 * spawn at a time through files: openssl x509 -pubkey | openssl pkey -pubin -outform der |
 * sha256sum. */
static char *openssl_ca_hash(const char *crt, const char *tag)
{
    const char *x[] = {"openssl", "x509", "-in", crt, "-pubkey", "-noout", NULL};
    char *pub = run_ok("openssl", x);
    const char *pem = P("%s/%s-pub.pem", root, tag), *der = P("%s/%s-pub.der", root, tag);
    assert_int_equal(fs_write_atomic(pem, pub, 0600, NULL), 0);
    free(pub);
    const char *k[] = {"openssl",  "pkey", "-pubin", "-in", pem,
                       "-outform", "der",  "-out",   der,   NULL};
    free(run_ok("openssl", k));
    const char *s[] = {"sha256sum", der, NULL};
    char *sum = run_ok("coreutils", s);
    assert_true(strlen(sum) > 64 && sum[64] == ' ');
    char *h = NULL;
    assert_true(asprintf(&h, "sha256:%.64s", sum) > 0);
    free(sum);
    return h;
}

static void test_ca(void **state)
{
    (void)state;
    char *cert = NULL, *key = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(node_ca_new(&cert, &key, &err), 0);
    const char *crt = P("%s/ca.crt", root), *kf = P("%s/ca.key", root);
    assert_int_equal(fs_write_atomic(crt, cert, 0600, NULL), 0);
    assert_int_equal(fs_write_atomic(kf, key, 0600, NULL), 0);

    const char *t[] = {"openssl", "x509", "-in", crt, "-noout", "-text", NULL};
    char *text = run_ok("openssl", t);
    const char *want[] = {
            "Version: 3 (0x2)",
            "Signature Algorithm: sha256WithRSAEncryption",
            "Issuer: CN = kubernetes\n",
            "Subject: CN = kubernetes\n",
            "Public-Key: (2048 bit)",
            "X509v3 Basic Constraints: critical\n                CA:TRUE\n",
            "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment, "
            "Certificate Sign\n",
            "X509v3 Subject Key Identifier:",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(text, want[i]))
            fail_msg("'%s' not in:\n%s", want[i], text);
    free(text);

    const char *v[] = {"openssl", "verify", "-CAfile", crt, crt, NULL};
    char *ok = run_ok("openssl", v);
    assert_string_equal(ok, P("%s: OK\n", crt));
    free(ok);

    /* The key is the certificate's. */
    const char *kp[] = {"openssl", "pkey", "-in", kf, "-pubout", NULL};
    const char *cp[] = {"openssl", "x509", "-in", crt, "-pubkey", "-noout", NULL};
    char *kpub = run_ok("openssl", kp), *cpub = run_ok("openssl", cp);
    assert_non_null(strstr(kpub, "-----BEGIN PUBLIC KEY-----"));
    assert_string_equal(kpub, cpub);
    free(kpub);
    free(cpub);

    /* Valid from five minutes ago for ten years: not expiring within 3650 days, expired within
     * 3654 (ten calendar years hold two or three leap days). */
    const char *sd[] = {"openssl", "x509", "-in", crt, "-noout", "-startdate", NULL};
    char *start = run_ok("openssl", sd);
    struct tm tm = {0};
    assert_non_null(strptime(start, "notBefore=%b %d %H:%M:%S %Y GMT", &tm));
    long ago = (long)(time(NULL) - timegm(&tm));
    assert_true(ago >= 300 && ago < 300 + 60);
    free(start);
    const char *c1[] = {"openssl", "x509", "-in", crt, "-noout", "-checkend", "315360000", NULL};
    const char *c2[] = {"openssl", "x509", "-in", crt, "-noout", "-checkend", "315705600", NULL};
    assert_int_equal(run("openssl", c1, NULL), 0);
    assert_int_equal(run("openssl", c2, NULL), 1);

    char *h = NULL;
    assert_int_equal(node_ca_hash(cert, &h, &err), 0);
    char *want_h = openssl_ca_hash(crt, "one");
    assert_string_equal(h, want_h);
    free(h);
    free(want_h);

    /* A second CA: another key, another serial. */
    char *cert2 = NULL, *key2 = NULL;
    assert_int_equal(node_ca_new(&cert2, &key2, &err), 0);
    const char *crt2 = P("%s/ca2.crt", root);
    assert_int_equal(fs_write_atomic(crt2, cert2, 0600, NULL), 0);
    const char *s1[] = {"openssl", "x509", "-in", crt, "-noout", "-serial", NULL};
    const char *s2[] = {"openssl", "x509", "-in", crt2, "-noout", "-serial", NULL};
    char *ser1 = run_ok("openssl", s1), *ser2 = run_ok("openssl", s2);
    assert_true(strlen(ser1) > strlen("serial=") + 16);
    assert_string_not_equal(ser1, ser2);
    assert_int_equal(node_ca_hash(cert2, &h, &err), 0);
    want_h = openssl_ca_hash(crt2, "two");
    assert_string_equal(h, want_h);
    free(h);
    free(want_h);
    free(ser1);
    free(ser2);

    assert_int_equal(node_ca_hash("-----BEGIN CERTIFICATE-----\nnope\n", &h, &err), -EINVAL);
    assert_non_null(err.message);
    error_clear(&err);
    free(cert);
    free(key);
    free(cert2);
    free(key2);
}

/* ---- lab_secrets_load ------------------------------------------------------------------ */

static void assert_same(const LabSecrets *a, const LabSecrets *b)
{
    assert_string_equal(a->token, b->token);
    assert_string_equal(a->ca_cert_pem, b->ca_cert_pem);
    assert_string_equal(a->ca_key_pem, b->ca_key_pem);
    assert_string_equal(a->ca_hash, b->ca_hash);
    assert_string_equal(a->ssh_key_path, b->ssh_key_path);
    assert_string_equal(a->ssh_pubkey, b->ssh_pubkey);
}

/* The key pair in @dir is whole: ssh-keygen derives the .pub line from the private key. */
static void assert_ssh_pair(const char *dir, const LabSecrets *s)
{
    const char *key = P("%s/id_ed25519", dir);
    assert_string_equal(s->ssh_key_path, key);
    assert_int_equal(file_mode(key), 0600);
    mode_t pm = file_mode(P("%s/id_ed25519.pub", dir));
    assert_true(pm == 0600 || pm == 0644);
    const char *y[] = {"ssh-keygen", "-y", "-f", key, NULL};
    char *derived = run_ok("openssh-client", y);
    char *pub = read_file(P("%s/id_ed25519.pub", dir));
    assert_string_equal(derived, pub);
    assert_string_equal(P("%s\n", s->ssh_pubkey), pub);
    assert_int_equal(strncmp(s->ssh_pubkey, "ssh-ed25519 ", 12), 0);
    size_t n = strlen(s->ssh_pubkey);
    assert_string_equal(s->ssh_pubkey + n - 7, " kvmlab");
    free(derived);
    free(pub);
}

static void test_load(void **state)
{
    (void)state;
    const char *dir = P("%s/labs/demo/secrets", root);
    LabSecrets a = {0}, b = {0};
    Error err = ERROR_INIT;
    assert_int_equal(lab_secrets_load(dir, true, &a, &err), 0);
    assert_null(err.message);
    assert_int_equal(file_mode(dir), 0700);
    char *names = dir_list(dir);
    assert_string_equal(names, "ca.crt ca.key id_ed25519 id_ed25519.pub token");
    free(names);
    const char *secret[] = {"token", "ca.crt", "ca.key"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(file_mode(P("%s/%s", dir, secret[i])), 0600);

    assert_true(node_token_valid(a.token));
    char *tok = read_file(P("%s/token", dir));
    assert_string_equal(tok, P("%s\n", a.token));
    free(tok);
    char *crt = read_file(P("%s/ca.crt", dir)), *key = read_file(P("%s/ca.key", dir));
    assert_string_equal(crt, a.ca_cert_pem);
    assert_string_equal(key, a.ca_key_pem);
    free(crt);
    free(key);
    char *want_h = openssl_ca_hash(P("%s/ca.crt", dir), "load");
    assert_string_equal(a.ca_hash, want_h);
    free(want_h);
    const char *v[] = {"openssl",           "verify", "-CAfile", P("%s/ca.crt", dir),
                       P("%s/ca.crt", dir), NULL};
    free(run_ok("openssl", v));
    assert_ssh_pair(dir, &a);

    /* Read back, not made again. */
    assert_int_equal(lab_secrets_load(dir, true, &b, &err), 0);
    assert_same(&a, &b);
    lab_secrets_clear(&b);

    /* A crash between the two renames of the SSH key leaves the private key alone: the public
     * half comes back from it, the same line. */
    assert_int_equal(unlink(P("%s/id_ed25519.pub", dir)), 0);
    assert_int_equal(lab_secrets_load(dir, true, &b, &err), 0);
    assert_same(&a, &b);
    assert_ssh_pair(dir, &b);
    lab_secrets_clear(&b);

    /* A key without its certificate (a crash between the two writes): a new CA. */
    assert_int_equal(unlink(P("%s/ca.crt", dir)), 0);
    assert_int_equal(lab_secrets_load(dir, true, &b, &err), 0);
    assert_string_equal(a.token, b.token);
    assert_string_equal(a.ssh_pubkey, b.ssh_pubkey);
    assert_string_not_equal(a.ca_cert_pem, b.ca_cert_pem);
    assert_string_not_equal(a.ca_hash, b.ca_hash);
    lab_secrets_clear(&b);

    /* A certificate without its key is refused, not replaced (nodes may trust it). */
    assert_int_equal(unlink(P("%s/ca.key", dir)), 0);
    assert_int_equal(lab_secrets_load(dir, true, &b, &err), -ENOENT);
    assert_non_null(strstr(err.message, "ca.key"));
    error_clear(&err);
    assert_false(exists(P("%s/ca.key", dir)));
    lab_secrets_clear(&a);
}

static void test_load_no_bootstrap(void **state)
{
    (void)state;
    const char *dir = P("%s/plain", root);
    LabSecrets a = {0}, b = {0};
    Error err = ERROR_INIT;
    assert_int_equal(lab_secrets_load(dir, false, &a, &err), 0);
    assert_null(a.ca_cert_pem);
    assert_null(a.ca_key_pem);
    assert_null(a.ca_hash);
    assert_true(node_token_valid(a.token));
    char *names = dir_list(dir);
    assert_string_equal(names, "id_ed25519 id_ed25519.pub token");
    free(names);
    assert_ssh_pair(dir, &a);

    /* Turning bootstrap on later adds a CA and keeps the rest. */
    assert_int_equal(lab_secrets_load(dir, true, &b, &err), 0);
    assert_non_null(b.ca_cert_pem);
    assert_string_equal(a.token, b.token);
    assert_string_equal(a.ssh_pubkey, b.ssh_pubkey);
    names = dir_list(dir);
    assert_string_equal(names, "ca.crt ca.key id_ed25519 id_ed25519.pub token");
    free(names);
    lab_secrets_clear(&a);
    lab_secrets_clear(&b);
    lab_secrets_clear(&b); /* twice is fine */
}

/* A broken token file is an error that names the file, never its content. */
static void test_bad_token(void **state)
{
    (void)state;
    const char *dir = P("%s/bad", root);
    assert_int_equal(fs_mkdir_p(dir, 0700, NULL), 0);
    assert_int_equal(fs_write_atomic(P("%s/token", dir), "SeCrEt.notatoken\n", 0600, NULL), 0);
    LabSecrets s = {0};
    Error err = ERROR_INIT;
    assert_int_equal(lab_secrets_load(dir, true, &s, &err), -EINVAL);
    assert_non_null(strstr(err.message, "token"));
    assert_null(strstr(err.message, "SeCrEt"));
    assert_null(s.token);
    error_clear(&err);

    /* A file where the directory should be. */
    const char *f = P("%s/file", root);
    assert_int_equal(fs_write_atomic(f, "x", 0600, NULL), 0);
    assert_int_equal(lab_secrets_load(f, false, &s, &err), -ENOTDIR);
    error_clear(&err);
}

static int group_setup(void **state)
{
    (void)state;
    return mkdtemp(root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return fs_rm_rf(root, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_token),     cmocka_unit_test(test_ca),
            cmocka_unit_test(test_load),      cmocka_unit_test(test_load_no_bootstrap),
            cmocka_unit_test(test_bad_token),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
