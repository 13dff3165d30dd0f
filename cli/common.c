/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/lablock.h"
#include "kvmlab/sandbox.h"
#include "kvmlab/storage.h"

void cli_print_error(const Error *err)
{
    fprintf(stderr, "kvmlab: %s\n", err && err->message ? err->message : "unknown error");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("kvmlab: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see 'kvmlab help %s'\n", cmd);
    return EXIT_USAGE;
}

int cli_load_lab(const char *path, Lab **ret)
{
    LabDiags diags = {0};
    Error err = ERROR_INIT;
    int r = lab_load_file(path, ret, &diags, &err);
    if (r == -EINVAL && diags.n > 0) {
        _cleanup_free_ char *text = lab_diags_format(&diags);
        fputs(text ? text : "", stderr);
        fprintf(stderr, "kvmlab: '%s' has %zu problem%s\n", path, diags.n, diags.n == 1 ? "" : "s");
        lab_diags_clear(&diags);
        return EXIT_USAGE;
    }
    lab_diags_clear(&diags);
    if (r < 0) {
        cli_print_error(&err);
        error_clear(&err);
        return EXIT_FAIL;
    }
    /* what needs osinfo-db: an os: id that no rule can place, at its line; the facts of known
     * ids are kept in the state root's cache (loading the database costs 0.4 s) */
    _cleanup_free_ char *root = sandbox_state_root();
    _cleanup_free_ char *cache = root ? fs_path_join(root, "cache/osinfo") : NULL;
    os_facts_set_cache(cache);
    if (storage_lab_check(*ret, &diags) > 0) {
        if (!diags.file)
            diags.file = strdup(path);
        _cleanup_free_ char *text = lab_diags_format(&diags);
        fputs(text ? text : "", stderr);
        fprintf(stderr, "kvmlab: '%s' has %zu problem%s\n", path, diags.n, diags.n == 1 ? "" : "s");
        lab_diags_clear(&diags);
        lab_free(*ret);
        *ret = NULL;
        return EXIT_USAGE;
    }
    lab_diags_clear(&diags);
    return EXIT_OK;
}

bool cli_delete_disks;
bool cli_allow_firewall;
const char *cli_lab_file;
int cli_timeout_s = 1800;
bool cli_start_only;

const char *cli_file_arg(const char *cmd, const char *positional, int *ret_status)
{
    *ret_status = EXIT_OK;
    if (positional && cli_lab_file && strcmp(positional, cli_lab_file) != 0) {
        *ret_status = cli_usage_error(cmd, "'%s' got two lab files, '%s' and -f '%s'", cmd,
                                      positional, cli_lab_file);
        return NULL;
    }
    if (positional)
        return positional;
    return cli_lab_file ? cli_lab_file : "kvmlab.yaml";
}

int cli_parse_run_args(const char *cmd, int argc, char **argv, const char **ret_file,
                       bool *ret_wait)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"delete-disks", no_argument, NULL, 'D'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"start-only", no_argument, NULL, 'N'},
                                         {"allow-firewall", no_argument, NULL, 'F'},
                                         {0}};
    int c;
    optind = 0; /* 0, not 1: glibc then forgets main()'s "+" mode */
    opterr = 0;
    if (ret_wait)
        *ret_wait = false;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            *ret_file = NULL;
            return -1;
        }
        if (c == 'w' && ret_wait) {
            *ret_wait = true;
            continue;
        }
        if (c == 'D' && (strcmp(cmd, "up") == 0 || strcmp(cmd, "plan") == 0)) {
            cli_delete_disks = true;
            continue;
        }
        if (c == 'F' && (strcmp(cmd, "up") == 0 || strcmp(cmd, "plan") == 0)) {
            cli_allow_firewall = true;
            continue;
        }
        if (c == 'N' && strcmp(cmd, "up") == 0) {
            cli_start_only = true;
            continue;
        }
        if (c == 'T' && strcmp(cmd, "up") == 0) {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 86400)
                return cli_usage_error(cmd, "'--timeout' needs seconds from 1 to 86400, not '%s'",
                                       optarg);
            cli_timeout_s = (int)v;
            continue;
        }
        return cli_usage_error(cmd, "unknown option '%s' for '%s'", argv[optind - 1], cmd);
    }
    if (argc - optind > 1)
        return cli_usage_error(cmd, "'%s' takes at most one lab file", cmd);
    int status;
    *ret_file = cli_file_arg(cmd, optind < argc ? argv[optind] : NULL, &status);
    return status;
}

int cli_parse_file_args(const char *cmd, int argc, char **argv, const char **ret_file)
{
    return cli_parse_run_args(cmd, argc, argv, ret_file, NULL);
}

int cli_lab_lock(const Lab *lab, bool wait, LabLock **ret)
{
    Error err = ERROR_INIT;
    int r = lablock_take(NULL, lab->name, wait, ret, NULL, &err);
    if (r < 0) {
        cli_print_error(&err);
        error_clear(&err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

void cli_json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
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
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

int cli_lab_attach(Lab *lab, SessionMode mode, bool wait, CliLab *ret)
{
    Error err = ERROR_INIT;
    *ret = (CliLab){.lab = lab};
    if (mode != SESSION_READ) {
        /* one kvmlab at a time changes a lab (main() caught the interrupts already; again
         * here for callers that are not main()) */
        interrupt_install();
        int r = cli_lab_lock(lab, wait, &ret->lock);
        if (r != EXIT_OK) {
            cli_lab_close(ret);
            return r;
        }
    }
    if (lab_session_open(lab, NULL, mode, &ret->session, &err) < 0)
        goto fail;
    ret->session->delete_disks = cli_delete_disks;
    ret->session->allow_firewall = cli_allow_firewall || lab->firewall == LAB_FIREWALL_ALLOW;
    lab_session_info(ret->session, &ret->info);
    if (mode != SESSION_READ && interrupt_pending()) {
        error_set(&err, -EINTR, "Interrupted by %s; nothing of lab '%s' was changed",
                  interrupt_signal_name(), lab->name);
        if (mode == SESSION_WRITE)
            lab_session_abort(ret->session);
        goto fail;
    }
    return EXIT_OK;
fail:
    cli_print_error(&err);
    error_clear(&err);
    cli_lab_close(ret);
    return EXIT_FAIL;
}

int cli_lab_open(const char *cmd, int argc, char **argv, SessionMode mode, CliLab *ret)
{
    const char *file = NULL;
    bool wait = false;
    Lab *lab = NULL;
    *ret = (CliLab){0};
    int r = cli_parse_run_args(cmd, argc, argv, &file, mode == SESSION_READ ? NULL : &wait);
    if (r != EXIT_OK)
        return r;
    r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;
    return cli_lab_attach(lab, mode, wait, ret);
}

void cli_lab_close(CliLab *c)
{
    lab_session_free(c->session); /* borrows the lab */
    lablock_release(c->lock);
    lab_free(c->lab);
    *c = (CliLab){0};
}

const LabNode *cli_find_node(const Lab *lab, const char *name)
{
    const LabNode *node = lab_find_node(lab, name);
    if (node)
        return node;
    fprintf(stderr, "kvmlab: lab '%s' has no node '%s'; its nodes:", lab->name, name);
    for (size_t i = 0; i < lab->n_nodes; i++)
        fprintf(stderr, "%s %s", i ? "," : "", lab->nodes[i].name);
    fprintf(stderr, "%s\n", lab->n_nodes ? "" : " none");
    return NULL;
}
