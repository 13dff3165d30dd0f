/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: a VMware .vmx machine, `key = "value"` lines, into a VmwVmx. Two passes: the lines
 * become a table of entries (keys in lower case, as VMware compares them; the last of a
 * duplicated key wins), then the machine is read from that table. Values are unescaped on
 * their bytes (VMware's `|XX`) and turned into UTF-8 from the file's .encoding only where they
 * become strings of the result, so a value that does not convert is warned about where it
 * matters.
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kvmlab/addr.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/vmware.h"

typedef struct Entry {
    char *key;   /* lower case */
    char *name;  /* as written (on the line that won), for warnings */
    char *value; /* unescaped bytes, NUL-free, in the file's encoding */
    unsigned line;
} Entry;

typedef struct Vmx {
    const char *file;
    VmwWarnings *w;
    Entry *v; /* in the order of their first line */
    size_t n, cap;
    size_t *slots; /* hash table of keys: index into v plus 1, 0 for empty */
    size_t n_slots;
    iconv_t cd;          /* (iconv_t)-1: values are kept as they are */
    const char *charset; /* the .encoding as written, for warnings */
} Vmx;

static void vmx_ctx_clear(Vmx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].key);
        free(c->v[i].name);
        free(c->v[i].value);
    }
    free(c->v);
    free(c->slots);
    if (c->cd != (iconv_t)-1)
        iconv_close(c->cd);
}

static size_t key_slot(const Vmx *c, const char *key)
{
    size_t mask = c->n_slots - 1;
    size_t i = (size_t)hash_fnv1a_str(HASH_FNV_INIT, key) & mask;
    while (c->slots[i] && strcmp(c->v[c->slots[i] - 1].key, key) != 0)
        i = (i + 1) & mask;
    return i;
}

/* The entry of @key (lower case), NULL when the file has none. */
static const Entry *get(const Vmx *c, const char *key)
{
    if (!c->n_slots)
        return NULL;
    size_t s = c->slots[key_slot(c, key)];
    return s ? &c->v[s - 1] : NULL;
}

static int grow_slots(Vmx *c)
{
    size_t n = c->n_slots ? c->n_slots * 2 : 64;
    size_t *old = c->slots;
    size_t n_old = c->n_slots;
    c->slots = calloc(n, sizeof(*c->slots));
    if (!c->slots) {
        c->slots = old;
        return -ENOMEM;
    }
    c->n_slots = n;
    for (size_t i = 0; i < n_old; i++)
        if (old[i])
            c->slots[key_slot(c, c->v[old[i] - 1].key)] = old[i];
    free(old);
    return 0;
}

/* Add @name = @value (both handed over): keyed by @name in lower case; a key seen before takes
 * the new value, with a warning. -ENOMEM or 0. */
static int put(Vmx *c, char *name, char *value, unsigned line)
{
    char *key = strdup(name);
    if (!key || ((c->n + 1) * 2 > c->n_slots && grow_slots(c) < 0))
        goto oom;
    for (char *q = key; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    size_t s = key_slot(c, key);
    if (c->slots[s]) {
        Entry *e = &c->v[c->slots[s] - 1];
        int r = vmw_warn(c->w, c->file, line,
                         "'%s' was already set on line %u; the last value wins", name, e->line);
        free(e->name);
        free(e->value);
        e->name = name;
        e->value = value;
        e->line = line;
        free(key);
        return r;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        Entry *v = reallocarray(c->v, cap, sizeof(*v));
        if (!v)
            goto oom;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n] = (Entry){key, name, value, line};
    c->slots[s] = ++c->n;
    return 0;
oom:
    free(key);
    free(name);
    free(value);
    return -ENOMEM;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A new string of @n bytes of @s with VMware's escapes `|XX` decoded; a `|` not followed by
 * two hex digits is itself. An escape of NUL is dropped (*ret_nul set). NULL: no memory. */
static char *unescape(const char *s, size_t n, bool *ret_nul)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    *ret_nul = false;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '|' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            char b = (char)(hi << 4 | lo);
            i += 2;
            if (b == '\0') {
                *ret_nul = true;
                continue;
            }
            out[k++] = b;
        } else
            out[k++] = s[i];
    }
    out[k] = '\0';
    return out;
}

static bool is_key_char(char ch)
{
    /* VMware's keys are words of printable ASCII: "scsi0:0.fileName", ".encoding" */
    return ch > ' ' && ch < 0x7f && ch != '=' && ch != '"' && ch != '#';
}

/* One line into the table. -ENOMEM or 0 (blank, comment, entry or warned-about junk). */
static int read_line(Vmx *c, const char *line, unsigned number)
{
    const char *p = line;
    /* a byte order mark some editors put in front of the first line */
    if (number == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    const char *key = p;
    while (is_key_char(*p))
        p++;
    size_t key_len = (size_t)(p - key);
    while (*p == ' ' || *p == '\t')
        p++;
    if (key_len == 0 || *p != '=')
        return vmw_warn(c->w, c->file, number, "not a 'key = \"value\"' line: skipped");
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *val;
    size_t val_len;
    if (*p == '"') {
        val = ++p;
        const char *end = strchr(p, '"');
        if (!end)
            return vmw_warn(c->w, c->file, number,
                            "the value of '%.*s' has no closing quote: skipped", (int)key_len, key);
        val_len = (size_t)(end - val);
        p = end + 1;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0' && *p != '#') {
            int r = vmw_warn(c->w, c->file, number, "text after the value of '%.*s' ignored",
                             (int)key_len, key);
            if (r < 0)
                return r;
        }
    } else {
        /* unquoted: the rest of the line up to a comment */
        val = p;
        const char *end = strchr(p, '#');
        if (!end)
            end = p + strlen(p);
        while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        val_len = (size_t)(end - val);
    }
    char *k = strndup(key, key_len);
    bool nul;
    char *v = unescape(val, val_len, &nul);
    if (!k || !v) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    if (nul) {
        int r = vmw_warn(c->w, c->file, number, "a NUL byte (|00) in the value of '%s' dropped", k);
        if (r < 0) {
            free(k);
            free(v);
            return r;
        }
    }
    return put(c, k, v, number);
}

/* The iconv name for a .encoding value; Shift_JIS as Windows writes it is CP932, whose 0x5C is a
 * backslash (glibc's SHIFT_JIS reads it as a yen sign, which would break "C:\\VMs\\..."). */
static const char *charset_name(const char *enc)
{
    static const struct {
        const char *vmware, *iconv;
    } aliases[] = {
            {"shift_jis", "CP932"},   {"shift-jis", "CP932"},   {"sjis", "CP932"},
            {"windows-31j", "CP932"}, {"windows-949", "CP949"}, {"windows-936", "CP936"},
            {"windows-950", "CP950"},
    };
    for (size_t i = 0; i < ELEMENTSOF(aliases); i++)
        if (strcasecmp(enc, aliases[i].vmware) == 0)
            return aliases[i].iconv;
    return enc;
}

/* Set up the conversion of values from the file's .encoding. -ENOMEM or 0. */
static int open_encoding(Vmx *c)
{
    c->cd = (iconv_t)-1;
    const Entry *e = get(c, ".encoding");
    if (!e || strcasecmp(e->value, "UTF-8") == 0 || strcasecmp(e->value, "UTF8") == 0)
        return 0;
    /* a charset name, never a path or iconv's "//" suffixes */
    bool ok = e->value[0] != '\0' && strlen(e->value) <= 40;
    for (const char *p = e->value; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || strchr("-_.:", *p);
    if (ok) {
        c->charset = e->value;
        errno = 0;
        c->cd = iconv_open("UTF-8", charset_name(e->value));
        if (c->cd == (iconv_t)-1 && errno == ENOMEM)
            return -ENOMEM;
    }
    if (c->cd == (iconv_t)-1)
        return vmw_warn(c->w, c->file, e->line,
                        "unknown .encoding '%s': values are kept as they are",
                        ok ? e->value : "(not a charset name)");
    return 0;
}

/* The value of @e as a new UTF-8 string (its bytes, with a warning, when they do not convert).
 * -ENOMEM or 0. */
static int text(Vmx *c, const Entry *e, char **ret)
{
    if (c->cd == (iconv_t)-1) {
        *ret = strdup(e->value);
        return *ret ? 0 : -ENOMEM;
    }
    size_t in_len = strlen(e->value);
    size_t cap = in_len * 4 + 16;
    _cleanup_free_ char *out = malloc(cap);
    if (!out)
        return -ENOMEM;
    char *in = e->value, *o = out;
    size_t in_left = in_len, out_left = cap - 1;
    iconv(c->cd, NULL, NULL, NULL, NULL);
    bool bad = false;
    while (in_left > 0) {
        if (iconv(c->cd, &in, &in_left, &o, &out_left) != (size_t)-1)
            continue;
        if (errno == E2BIG) {
            size_t used = (size_t)(o - out);
            char *bigger = realloc(out, cap * 2);
            if (!bigger)
                return -ENOMEM;
            out = bigger;
            o = out + used;
            out_left += cap;
            cap *= 2;
            continue;
        }
        bad = true; /* EILSEQ, EINVAL */
        break;
    }
    /* a stateful charset's closing sequence */
    if (!bad && iconv(c->cd, NULL, NULL, &o, &out_left) == (size_t)-1)
        bad = true;
    if (bad || memchr(out, '\0', (size_t)(o - out))) {
        int r = vmw_warn(c->w, c->file, e->line, "the value of '%s' is not valid %s: kept as it is",
                         e->name, c->charset);
        if (r < 0)
            return r;
        *ret = strdup(e->value);
        return *ret ? 0 : -ENOMEM;
    }
    *o = '\0';
    *ret = steal_pointer(&out);
    return 0;
}

/* The value of @key as a new UTF-8 string, NULL (and 0) when absent. -ENOMEM or 0. */
static int text_of(Vmx *c, const char *key, char **ret)
{
    const Entry *e = get(c, key);
    *ret = NULL;
    return e ? text(c, e, ret) : 0;
}

/* The value of @key as a new lower-case ASCII word (an enumeration), NULL when absent. */
static int word_of(const Vmx *c, const char *key, char **ret)
{
    const Entry *e = get(c, key);
    *ret = NULL;
    if (!e)
        return 0;
    char *s = strdup(e->value);
    if (!s)
        return -ENOMEM;
    for (char *q = s; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    *ret = s;
    return 0;
}

/* A printable excerpt of a value for a warning. Static buffer. */
static const char *excerpt(const char *s)
{
    static __thread char buf[44];
    size_t k = 0;
    for (; *s && k < 40; s++)
        buf[k++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    if (*s)
        buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    buf[k] = '\0';
    return buf;
}

/* Whether boolean @key is true; absent: @dflt; neither TRUE nor FALSE: false, with a warning. */
static int boolean_of(Vmx *c, const char *key, bool dflt, bool *ret)
{
    const Entry *e = get(c, key);
    *ret = dflt;
    if (!e)
        return 0;
    static const char *const yes[] = {"true", "yes", "1", "on"};
    static const char *const no[] = {"false", "no", "0", "off"};
    for (size_t i = 0; i < ELEMENTSOF(yes); i++)
        if (strcasecmp(e->value, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
    *ret = false;
    for (size_t i = 0; i < ELEMENTSOF(no); i++)
        if (strcasecmp(e->value, no[i]) == 0)
            return 0;
    return vmw_warn(c->w, c->file, e->line, "'%s' is '%s', not TRUE or FALSE: taken as FALSE",
                    e->name, excerpt(e->value));
}

/* A decimal number: digits only, no sign, no leading zero, at most @max. */
static bool number_parse(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
    if (n == 0 || (n > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    return true;
}

static int number_of(Vmx *c, const char *key, uint64_t max, uint64_t *ret)
{
    const Entry *e = get(c, key);
    *ret = 0;
    if (!e)
        return 0;
    /* "0512" is 512 to VMware; only the keys' indexes must be written one way */
    const char *p = e->value;
    while (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
        p++;
    if (number_parse(p, strlen(p), max, ret))
        return 0;
    return vmw_warn(c->w, c->file, e->line, "'%s' is '%s', not a number up to %llu: ignored",
                    e->name, excerpt(e->value), (unsigned long long)max);
}

/* ---- devices --------------------------------------------------------------------------- */

/* VMware's order of the disk buses */
static const char *const buses[] = {"scsi", "sata", "ide", "nvme"};
#define MAX_INDEX 9999 /* far above any controller, unit or NIC VMware makes */

typedef struct Slot {
    unsigned bus, ctl, unit;
    const Entry *present;
} Slot;

/* Split "PREFIX<N>" at the start of @s into N; the rest in *ret_rest. */
static bool index_parse(const char *s, unsigned *ret, const char **ret_rest)
{
    size_t n = strspn(s, "0123456789");
    uint64_t v;
    if (!number_parse(s, n, MAX_INDEX, &v))
        return false;
    *ret = (unsigned)v;
    *ret_rest = s + n;
    return true;
}

/* Whether @key is "<bus><N>:<M>.present". */
static bool disk_present_key(const char *key, Slot *ret)
{
    for (unsigned b = 0; b < ELEMENTSOF(buses); b++) {
        size_t l = strlen(buses[b]);
        const char *p;
        if (strncmp(key, buses[b], l) != 0 || !index_parse(key + l, &ret->ctl, &p) || *p != ':' ||
            !index_parse(p + 1, &ret->unit, &p) || strcmp(p, ".present") != 0)
            continue;
        ret->bus = b;
        return true;
    }
    return false;
}

static int slot_cmp(const void *a, const void *b)
{
    const Slot *x = a, *y = b;
    if (x->bus != y->bus)
        return x->bus < y->bus ? -1 : 1;
    if (x->ctl != y->ctl)
        return x->ctl < y->ctl ? -1 : 1;
    return x->unit < y->unit ? -1 : x->unit > y->unit;
}

static bool is_cdrom(const char *device_type, bool *ret_host)
{
    *ret_host = false;
    if (!device_type)
        return false;
    if (strcasecmp(device_type, "cdrom-image") == 0)
        return true;
    if (strcasecmp(device_type, "atapi-cdrom") == 0 || strcasecmp(device_type, "cdrom-raw") == 0)
        return *ret_host = true;
    return false;
}

/* One present slot into @ret (a disk without a file is skipped: 0, ret->slot NULL). */
static int read_disk(Vmx *c, const Slot *s, VmwDisk *ret)
{
    char key[64];
    VmwDisk d = {0};
    int r;

    *ret = (VmwDisk){0};
    snprintf(key, sizeof(key), "%s%u:%u", buses[s->bus], s->ctl, s->unit);
    d.slot = strdup(key);
    if (!d.slot)
        return -ENOMEM;

    snprintf(key, sizeof(key), "%s%u:%u.devicetype", buses[s->bus], s->ctl, s->unit);
    const Entry *type = get(c, key);
    d.kind = is_cdrom(type ? type->value : NULL, &d.host_drive) ? VMW_CDROM : VMW_DISK;

    snprintf(key, sizeof(key), "%s%u:%u.filename", buses[s->bus], s->ctl, s->unit);
    const Entry *fe = get(c, key);
    if (fe && fe->value[0] != '\0') {
        r = text(c, fe, &d.file);
        if (r < 0)
            goto fail;
    }
    if (d.kind == VMW_DISK && !d.file) {
        r = vmw_warn(c->w, c->file, s->present->line, "disk %s has no fileName: skipped", d.slot);
        free(d.slot);
        return r;
    }

    if (s->bus == 0) {
        /* the SCSI adapter; BusLogic is what VMware assumes when virtualDev is absent */
        snprintf(key, sizeof(key), "scsi%u.virtualdev", s->ctl);
        r = word_of(c, key, &d.controller);
        if (r < 0)
            goto fail;
        if (!d.controller && !(d.controller = strdup("buslogic")))
            goto oom;
    } else if (!(d.controller = strdup(buses[s->bus])))
        goto oom;
    *ret = d;
    return 0;
oom:
    r = -ENOMEM;
fail:
    free(d.slot);
    free(d.controller);
    free(d.file);
    return r;
}

static int read_disks(Vmx *c, VmwVmx *v)
{
    _cleanup_free_ Slot *slots = NULL;
    size_t n = 0;
    int r;

    for (size_t i = 0; i < c->n; i++) {
        Slot s;
        if (!disk_present_key(c->v[i].key, &s))
            continue;
        bool on;
        r = boolean_of(c, c->v[i].key, false, &on);
        if (r < 0)
            return r;
        if (!on)
            continue;
        /* the controller must be present too; IDE's two are always there */
        if (s.bus != 2) {
            char key[32];
            bool ctl_on;
            snprintf(key, sizeof(key), "%s%u.present", buses[s.bus], s.ctl);
            r = boolean_of(c, key, false, &ctl_on);
            if (r < 0)
                return r;
            if (!ctl_on) {
                r = vmw_warn(c->w, c->file, c->v[i].line,
                             "%s%u:%u is on controller %s%u, which is not present: skipped",
                             buses[s.bus], s.ctl, s.unit, buses[s.bus], s.ctl);
                if (r < 0)
                    return r;
                continue;
            }
        }
        if (!slots && !(slots = calloc(c->n, sizeof(*slots))))
            return -ENOMEM;
        s.present = &c->v[i];
        slots[n++] = s;
    }
    if (n == 0)
        return 0;
    qsort(slots, n, sizeof(*slots), slot_cmp);
    v->disks = calloc(n, sizeof(*v->disks));
    if (!v->disks)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        r = read_disk(c, &slots[i], &v->disks[v->n_disks]);
        if (r < 0)
            return r;
        if (v->disks[v->n_disks].slot)
            v->n_disks++;
    }
    return 0;
}

static int nic_cmp(const void *a, const void *b)
{
    const VmwNic *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int read_mac(Vmx *c, VmwNic *nic)
{
    char key[48];
    int r;

    snprintf(key, sizeof(key), "ethernet%u.addresstype", nic->index);
    const Entry *type = get(c, key);
    bool is_static = type && strcasecmp(type->value, "static") == 0;
    /* static: address; generated (and vCenter's vpx): generatedAddress, which a machine that
     * never ran lacks */
    snprintf(key, sizeof(key), "ethernet%u.%s", nic->index,
             is_static ? "address" : "generatedaddress");
    const Entry *e = get(c, key);
    if (!e && !type) {
        snprintf(key, sizeof(key), "ethernet%u.address", nic->index);
        e = get(c, key);
    }
    if (!e) {
        if (!is_static)
            return 0;
        return vmw_warn(c->w, c->file, type->line,
                        "ethernet%u has a static address type but no address", nic->index);
    }
    if (addr_mac_parse(e->value, &nic->mac) == 0) {
        nic->has_mac = true;
        return 0;
    }
    r = vmw_warn(c->w, c->file, e->line, "'%s' is '%s', not a MAC address: ignored", e->name,
                 excerpt(e->value));
    return r;
}

static int read_nic(Vmx *c, unsigned index, VmwNic *nic)
{
    char key[48];
    int r;

    nic->index = index;
    snprintf(key, sizeof(key), "ethernet%u.connectiontype", index);
    r = word_of(c, key, &nic->connection_type);
    if (r < 0)
        return r;
    if (nic->connection_type) {
        static const char *const known[] = {"nat", "hostonly", "bridged", "custom"};
        bool ok = false;
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
            ok = ok || strcmp(nic->connection_type, known[i]) == 0;
        if (!ok) {
            r = vmw_warn(c->w, c->file, get(c, key)->line,
                         "ethernet%u has an unknown connectionType '%s'", index,
                         excerpt(nic->connection_type));
            if (r < 0)
                return r;
        }
    }
    snprintf(key, sizeof(key), "ethernet%u.vnet", index);
    r = text_of(c, key, &nic->vnet);
    if (r < 0)
        return r;
    snprintf(key, sizeof(key), "ethernet%u.virtualdev", index);
    r = word_of(c, key, &nic->virtual_dev);
    if (r < 0)
        return r;
    return read_mac(c, nic);
}

static int read_nics(Vmx *c, VmwVmx *v)
{
    for (size_t i = 0; i < c->n; i++) {
        const char *key = c->v[i].key, *rest;
        unsigned index;
        bool on;
        if (strncmp(key, "ethernet", 8) != 0 || !index_parse(key + 8, &index, &rest) ||
            strcmp(rest, ".present") != 0)
            continue;
        int r = boolean_of(c, key, false, &on);
        if (r < 0)
            return r;
        if (!on)
            continue;
        if (!v->nics && !(v->nics = calloc(c->n, sizeof(*v->nics))))
            return -ENOMEM;
        r = read_nic(c, index, &v->nics[v->n_nics++]);
        if (r < 0)
            return r;
    }
    if (v->n_nics)
        qsort(v->nics, v->n_nics, sizeof(*v->nics), nic_cmp);
    return 0;
}

static unsigned line_count(const char *s, size_t len)
{
    unsigned n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n + (len > 0 && s[len - 1] != '\n');
}

/* ---- the machine ----------------------------------------------------------------------- */

static int read_machine(Vmx *c, VmwVmx *v)
{
    int r;
    uint64_t n;

    if ((r = text_of(c, "displayname", &v->display_name)) < 0 ||
        (r = text_of(c, "guestos", &v->guest_os)) < 0 ||
        (r = word_of(c, "firmware", &v->firmware)) < 0)
        return r;
    if (v->firmware && strcmp(v->firmware, "efi") != 0 && strcmp(v->firmware, "bios") != 0) {
        r = vmw_warn(c->w, c->file, get(c, "firmware")->line,
                     "unknown firmware '%s': taken as BIOS (VMware's default)",
                     excerpt(v->firmware));
        free(v->firmware);
        v->firmware = NULL;
        if (r < 0)
            return r;
    }
    if ((r = boolean_of(c, "uefi.secureboot.enabled", false, &v->secure_boot)) < 0)
        return r;
    if ((r = number_of(c, "numvcpus", 4096, &n)) < 0)
        return r;
    v->numvcpus = (unsigned)n;
    /* MiB; 16 TiB is far above what VMware allows */
    if ((r = number_of(c, "memsize", UINT64_C(16) << 20, &v->memsize_mib)) < 0)
        return r;
    if ((r = read_disks(c, v)) < 0)
        return r;
    return read_nics(c, v);
}

int vmw_vmx_parse(const char *text_in, size_t len, const char *file, VmwVmx *ret, VmwWarnings *w,
                  Error *err)
{
    Vmx c = {.file = file, .w = w, .cd = (iconv_t)-1};
    VmwVmx v = {0};
    VmwLineIter it;
    const char *line;
    unsigned number;
    int r = 0;

    vmw_lines_init(&it, text_in, len);
    while (r >= 0 && vmw_lines_next(&it, &line, &number))
        r = read_line(&c, line, number);
    /* the iterator stops early only when out of memory: count the lines it should have given */
    if (r >= 0 && it.line < line_count(text_in, len))
        r = -ENOMEM;
    vmw_lines_clear(&it);
    if (r >= 0)
        r = open_encoding(&c);
    if (r >= 0)
        r = read_machine(&c, &v);
    vmx_ctx_clear(&c);
    if (r < 0) {
        vmw_vmx_clear(&v);
        return error_set(err, r, "Out of memory while reading VMware machine '%s'",
                         file ? file : "-");
    }
    *ret = v;
    return 0;
}

void vmw_vmx_clear(VmwVmx *v)
{
    if (!v)
        return;
    free(v->display_name);
    free(v->guest_os);
    free(v->firmware);
    for (size_t i = 0; i < v->n_disks; i++) {
        free(v->disks[i].slot);
        free(v->disks[i].controller);
        free(v->disks[i].file);
    }
    free(v->disks);
    for (size_t i = 0; i < v->n_nics; i++) {
        free(v->nics[i].connection_type);
        free(v->nics[i].vnet);
        free(v->nics[i].virtual_dev);
    }
    free(v->nics);
    *v = (VmwVmx){0};
}
