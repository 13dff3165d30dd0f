/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lab's secrets: the kubeadm bootstrap token, the cluster CA (OpenSSL 3, EVP only) and its
 * discovery hash, and the SSH key kvmlab logs into its nodes with. None of their values ever
 * goes into an error message: messages name files, never contents.
 */
#include "kvmlab/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/spawn.h"

#define TOKEN_ALPHABET "abcdefghijklmnopqrstuvwxyz0123456789"
#define TOKEN_ID_LEN   6
#define TOKEN_SEC_LEN  16
#define CA_KEY_BITS    2048
#define CA_CN          "kubernetes"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)

/* Free a string that held a secret, wiping it first. */
static void secret_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char *, secret_free)
#define _cleanup_secret_ _cleanup_(secret_freep)

static int fill_random(void *buf, size_t n, Error *err)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return error_set_errno(err, -errno, "Cannot read the system's random source");
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int node_token_new(char **ret, Error *err)
{
    const size_t alpha = sizeof(TOKEN_ALPHABET) - 1; /* 36 */
    /* Rejection sampling keeps every character equally likely: bytes at or above the largest
     * multiple of 36 that fits in a byte (252) are thrown away. */
    const unsigned limit = 256 - 256 % alpha;
    char tok[TOKEN_ID_LEN + 1 + TOKEN_SEC_LEN + 1];
    size_t pos = 0;
    unsigned char buf[64];
    while (pos < sizeof(tok) - 1) {
        int r = fill_random(buf, sizeof(buf), err);
        if (r < 0)
            return r;
        for (size_t i = 0; i < sizeof(buf) && pos < sizeof(tok) - 1; i++) {
            if (pos == TOKEN_ID_LEN) {
                tok[pos++] = '.';
                continue;
            }
            if (buf[i] >= limit)
                continue;
            tok[pos++] = TOKEN_ALPHABET[buf[i] % alpha];
        }
    }
    tok[pos] = 0;
    OPENSSL_cleanse(buf, sizeof(buf));
    char *s = strdup(tok);
    OPENSSL_cleanse(tok, sizeof(tok));
    if (!s)
        return error_set(err, -ENOMEM, "Out of memory");
    *ret = s;
    return 0;
}

bool node_token_valid(const char *s)
{
    if (!s || strlen(s) != TOKEN_ID_LEN + 1 + TOKEN_SEC_LEN)
        return false;
    for (size_t i = 0; s[i]; i++) {
        if (i == TOKEN_ID_LEN) {
            if (s[i] != '.')
                return false;
        } else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) {
            return false;
        }
    }
    return true;
}

/* Fill @err with @what and OpenSSL's first queued reason (no secret ever lands in those), and
 * empty OpenSSL's queue so a later failure does not report this one. */
static int ssl_error(Error *err, const char *what)
{
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    if (e && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
        return error_set(err, -ENOMEM, "Out of memory");
    return error_set(err, -EIO, "%s: %s", what, reason ? reason : "OpenSSL failed");
}

/* The memory BIO's contents as a new string. */
static char *bio_strdup(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0)
        return NULL;
    return strndup(data, (size_t)n);
}

static int ca_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext =
            X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (!ext || !X509_add_ext(x, ext, -1))
        return -1;
    return 0;
}

/* The time @years from now (kubeadm's NotAfter is now plus ten calendar years). */
static time_t years_from_now(time_t now, int years)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_year += years;
    return timegm(&tm);
}

int node_ca_new(char **ret_cert_pem, char **ret_key_pem, Error *err)
{
    const char *what = "Cannot make the cluster CA";
    ERR_clear_error();

    _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *kctx =
            EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    if (!kctx || EVP_PKEY_keygen_init(kctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, CA_KEY_BITS) <= 0 ||
        EVP_PKEY_generate(kctx, &key) <= 0)
        return ssl_error(err, what);

    _cleanup_(X509_freep) X509 *x = X509_new();
    if (!x)
        return ssl_error(err, what);
    /* A random positive serial of 159 bits (RFC 5280: at most 20 octets, non-negative). */
    _cleanup_(BN_freep) BIGNUM *serial = BN_new();
    time_t now = time(NULL);
    if (!serial || !BN_rand(serial, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
        !X509_set_version(x, X509_VERSION_3) ||
        /* Five minutes back: a node whose clock lags a little still accepts it. */
        !ASN1_TIME_set(X509_getm_notBefore(x), now - 5 * 60) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), years_from_now(now, 10)) || !X509_set_pubkey(x, key))
        return ssl_error(err, what);

    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)CA_CN, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name))
        return ssl_error(err, what);

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (ca_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
        ca_add_ext(x, &ctx, NID_key_usage,
                   "critical,digitalSignature,keyEncipherment,keyCertSign") < 0 ||
        ca_add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0)
        return ssl_error(err, what);
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        return ssl_error(err, what);

    _cleanup_(BIO_freep) BIO *cb = BIO_new(BIO_s_mem());
    /* The key's PEM lives in OpenSSL's secure heap while it is built. */
    _cleanup_(BIO_freep) BIO *kb = BIO_new(BIO_s_secmem());
    if (!cb || !kb || !PEM_write_bio_X509(cb, x) ||
        !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL))
        return ssl_error(err, what);
    _cleanup_free_ char *cert_pem = bio_strdup(cb);
    _cleanup_secret_ char *key_pem = bio_strdup(kb);
    if (!cert_pem || !key_pem)
        return error_set(err, -ENOMEM, "Out of memory");
    *ret_cert_pem = steal_pointer(&cert_pem);
    *ret_key_pem = steal_pointer(&key_pem);
    return 0;
}

/* Parse the first certificate of @pem. NULL when there is none. */
static X509 *cert_parse(const char *pem)
{
    _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, -1);
    if (!b)
        return NULL;
    return PEM_read_bio_X509(b, NULL, NULL, NULL);
}

static int ca_hash_of(X509 *x, char **ret, Error *err)
{
    const char *what = "Cannot hash the cluster CA's public key";
    EVP_PKEY *pub = X509_get0_pubkey(x);
    unsigned char *der = NULL;
    int len = pub ? i2d_PUBKEY(pub, &der) : -1;
    if (len <= 0)
        return ssl_error(err, what);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok)
        return ssl_error(err, what);
    char *s = malloc(strlen("sha256:") + 2 * mdlen + 1);
    if (!s)
        return error_set(err, -ENOMEM, "Out of memory");
    char *p = stpcpy(s, "sha256:");
    for (unsigned i = 0; i < mdlen; i++)
        p += sprintf(p, "%02x", md[i]);
    *ret = s;
    return 0;
}

int node_ca_hash(const char *cert_pem, char **ret, Error *err)
{
    ERR_clear_error();
    _cleanup_(X509_freep) X509 *x = cert_parse(cert_pem);
    if (!x) {
        ERR_clear_error();
        return error_set(err, -EINVAL, "Cannot hash the cluster CA: not a PEM certificate");
    }
    return ca_hash_of(x, ret, err);
}

/* ---- the files ------------------------------------------------------------------------- */

/* Read secret file @name of @dir into *ret, without its trailing newlines when @strip (a
 * one-line value; PEM is kept as it is). -ENOENT (without touching @err) when it is missing. */
static int secret_read(const char *dir, const char *name, bool strip, char **ret, Error *err)
{
    _cleanup_free_ char *path = fs_path_join(dir, name);
    if (!path)
        return error_set(err, -ENOMEM, "Out of memory");
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return -ENOENT;
    char *s = NULL;
    size_t len = 0;
    int r = fs_read_all(path, &s, &len, err);
    if (r < 0)
        return r;
    while (strip && len && s[len - 1] == '\n')
        s[--len] = 0;
    *ret = s;
    return 0;
}

/* Write @data and a newline to file @name of @dir, mode 0600, atomically. */
static int secret_write(const char *dir, const char *name, const char *data, Error *err)
{
    _cleanup_free_ char *path = fs_path_join(dir, name);
    _cleanup_secret_ char *text = NULL;
    size_t len = strlen(data);
    if (path && asprintf(&text, "%s%s", data, len && data[len - 1] == '\n' ? "" : "\n") < 0)
        text = NULL;
    if (!path || !text)
        return error_set(err, -ENOMEM, "Out of memory");
    return fs_write_atomic(path, text, 0600, err);
}

static bool file_exists(const char *dir, const char *name)
{
    _cleanup_free_ char *path = fs_path_join(dir, name);
    return path && access(path, F_OK) == 0;
}

static int secrets_token(const char *dir, LabSecrets *s, Error *err)
{
    int r = secret_read(dir, "token", true, &s->token, err);
    if (r == 0) {
        if (!node_token_valid(s->token))
            return error_set(err, -EINVAL,
                             "The bootstrap token in '%s/token' is malformed; remove the file "
                             "to make a new one",
                             dir);
        return 0;
    }
    if (r != -ENOENT)
        return r;
    r = node_token_new(&s->token, err);
    if (r < 0)
        return r;
    return secret_write(dir, "token", s->token, err);
}

static int secrets_ca(const char *dir, LabSecrets *s, Error *err)
{
    /* ca.key is written first and ca.crt last: a certificate on disk always has its key. A key
     * without a certificate is what a crash in between leaves, and nobody can trust a CA
     * whose certificate was never written, so it is made anew. */
    if (file_exists(dir, "ca.crt")) {
        int r = secret_read(dir, "ca.crt", false, &s->ca_cert_pem, err);
        if (r == -ENOENT)
            return error_set(err, -ENOENT, "Cannot read '%s/ca.crt': it vanished", dir);
        if (r < 0)
            return r;
        r = secret_read(dir, "ca.key", false, &s->ca_key_pem, err);
        if (r == -ENOENT)
            return error_set(err, -ENOENT,
                             "The cluster CA in '%s' has a certificate but no key 'ca.key'", dir);
        if (r < 0)
            return r;

        ERR_clear_error();
        _cleanup_(X509_freep) X509 *x = cert_parse(s->ca_cert_pem);
        _cleanup_(BIO_freep) BIO *kb = BIO_new_mem_buf(s->ca_key_pem, -1);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k =
                kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
        if (!x || !k || X509_check_private_key(x, k) != 1) {
            ERR_clear_error();
            return error_set(err, -EINVAL,
                             "The cluster CA in '%s' is unreadable, or its key 'ca.key' does not "
                             "match its certificate 'ca.crt'",
                             dir);
        }
        return ca_hash_of(x, &s->ca_hash, err);
    }
    int r = node_ca_new(&s->ca_cert_pem, &s->ca_key_pem, err);
    if (r < 0)
        return r;
    r = secret_write(dir, "ca.key", s->ca_key_pem, err);
    if (r < 0)
        return r;
    r = secret_write(dir, "ca.crt", s->ca_cert_pem, err);
    if (r < 0)
        return r;
    return node_ca_hash(s->ca_cert_pem, &s->ca_hash, err);
}

/* Derive the public key line of private key @key with ssh-keygen -y. */
static int ssh_pubkey_derive(const char *key, char **ret, Error *err)
{
    const char *argv[] = {"ssh-keygen", "-y", "-f", key, NULL};
    SpawnOpts o = {.stdin_data = ""};
    _cleanup_free_ char *out = NULL;
    int r = spawn_check(argv, &o, &out, err);
    if (r < 0)
        return r;
    out[strcspn(out, "\n")] = 0;
    *ret = steal_pointer(&out);
    return 0;
}

static int secrets_ssh(const char *dir, LabSecrets *s, Error *err)
{
    s->ssh_key_path = fs_path_join(dir, "id_ed25519");
    _cleanup_free_ char *pub = fs_path_join(dir, "id_ed25519.pub");
    if (!s->ssh_key_path || !pub)
        return error_set(err, -ENOMEM, "Out of memory");

    /* The private key is renamed into place last: when it exists, the pair is complete (or the
     * public half can be derived from it again). */
    if (access(s->ssh_key_path, F_OK) == 0) {
        int r = secret_read(dir, "id_ed25519.pub", true, &s->ssh_pubkey, err);
        if (r == -ENOENT) {
            r = ssh_pubkey_derive(s->ssh_key_path, &s->ssh_pubkey, err);
            if (r == 0)
                r = secret_write(dir, "id_ed25519.pub", s->ssh_pubkey, err);
        }
        if (r < 0)
            return r;
        s->ssh_pubkey[strcspn(s->ssh_pubkey, "\n")] = 0;
        return 0;
    }

    /* ssh-keygen writes TMP and TMP.pub; it would ask before overwriting a leftover TMP. */
    _cleanup_free_ char *tmp = NULL, *tmp_pub = NULL;
    if (asprintf(&tmp, "%s/.id_ed25519.tmp.%d", dir, (int)getpid()) < 0 ||
        asprintf(&tmp_pub, "%s.pub", tmp) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    unlink(tmp);
    unlink(tmp_pub);
    const char *argv[] = {"ssh-keygen", "-q",     "-t", "ed25519", "-N", "",
                          "-C",         "kvmlab", "-f", tmp,       NULL};
    SpawnOpts o = {.stdin_data = ""};
    int r = spawn_check(argv, &o, NULL, err);
    if (r == 0) {
        r = secret_read(dir, strrchr(tmp_pub, '/') + 1, true, &s->ssh_pubkey, err);
        if (r == -ENOENT)
            r = error_set(err, -EIO, "ssh-keygen made no public key in '%s'", dir);
    }
    if (r == 0 &&
        (chmod(tmp, 0600) < 0 || rename(tmp_pub, pub) < 0 || rename(tmp, s->ssh_key_path) < 0))
        r = error_set_errno(err, -errno, "Cannot store the SSH key in '%s'", dir);
    if (r < 0) {
        unlink(tmp);
        unlink(tmp_pub);
        return r;
    }
    s->ssh_pubkey[strcspn(s->ssh_pubkey, "\n")] = 0;
    return 0;
}

int lab_secrets_load(const char *dir, bool bootstrap, LabSecrets *ret, Error *err)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        if (errno != ENOENT)
            return error_set_errno(err, -errno, "Cannot open the secrets directory '%s'", dir);
        int r = fs_mkdir_p(dir, 0700, err);
        if (r < 0)
            return r;
        /* The umask may have taken bits away, never added them; say 0700 exactly anyway. */
        if (chmod(dir, 0700) < 0)
            return error_set_errno(err, -errno, "Cannot create directory '%s'", dir);
    } else if (!S_ISDIR(st.st_mode)) {
        return error_set(err, -ENOTDIR, "The secrets directory '%s' is not a directory", dir);
    }

    LabSecrets s = {0};
    int r = secrets_token(dir, &s, err);
    if (r == 0 && bootstrap)
        r = secrets_ca(dir, &s, err);
    if (r == 0)
        r = secrets_ssh(dir, &s, err);
    if (r < 0) {
        lab_secrets_clear(&s);
        return r;
    }
    *ret = s;
    return 0;
}

void lab_secrets_clear(LabSecrets *s)
{
    if (!s)
        return;
    secret_free(s->token);
    free(s->ca_cert_pem);
    secret_free(s->ca_key_pem);
    free(s->ca_hash);
    free(s->ssh_key_path);
    free(s->ssh_pubkey);
    *s = (LabSecrets){0};
}
