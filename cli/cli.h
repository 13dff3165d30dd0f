/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "kvmlab/error.h"
#include "kvmlab/lab.h"
#include "kvmlab/lablock.h"
#include "kvmlab/session.h"

/* Exit codes shared by every subcommand. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,  /* the host or libvirt refused; the error says why */
    EXIT_USAGE = 2, /* bad command line or bad lab file */
};

typedef struct CliGlobals {
    bool json;
    bool quiet;
    const char *state_dir; /* --state-dir, NULL: default */
} CliGlobals;

typedef struct CliCommand {
    const char *name;
    const char *args;    /* "[FILE]" */
    const char *summary; /* one line */
    const char *help;    /* the rest of `kvmlab help NAME` */
    int (*run)(const CliGlobals *g, int argc, char **argv);
    /* it changes the host: SIGINT, SIGTERM and SIGHUP are caught from the very start, so they
     * stop it at a safe point (undoing the step) instead of killing it */
    bool changes_host;
} CliCommand;

extern const CliCommand cli_cmd_validate, cli_cmd_plan, cli_cmd_up, cli_cmd_down, cli_cmd_status,
        cli_cmd_init, cli_cmd_disk, cli_cmd_image, cli_cmd_ssh, cli_cmd_console, cli_cmd_import;

/* Print "kvmlab: <message>" for @err on stderr (the one place errors are printed). */
void cli_print_error(const Error *err);

/* Report a usage problem ("kvmlab: ...", a hint to `kvmlab help CMD`) and return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Load and validate a lab file, printing located diagnostics. Returns EXIT_OK with *ret set,
 * EXIT_USAGE for an invalid file, EXIT_FAIL when it cannot be read. */
int cli_load_lab(const char *path, Lab **ret);

/*
 * Parse the common "[FILE]" arguments of plan/up/down/status (options first: --json is global).
 * Stores the file (default "kvmlab.yaml") in *ret_file. Returns EXIT_OK or EXIT_USAGE.
 */
int cli_parse_file_args(const char *cmd, int argc, char **argv, const char **ret_file);

/* `plan` and `up` were given --delete-disks: a node's disks that its shorter disks: list no
 * longer names may be deleted with their data (cli_parse_run_args() sets it). */
extern bool cli_delete_disks;
extern bool cli_allow_firewall;

/* `up --timeout S`: how long up waits for its nodes to be ready (default 1800 s). */
extern int cli_timeout_s;
/* `up --start-only`: make and start the nodes, do not wait for them. */
extern bool cli_start_only;

/* The lab file given with -f/--file (main() sets it), NULL when none was. */
extern const char *cli_lab_file;

/* The lab file a command works on: its positional @positional (may be NULL), else -f's, else
 * "kvmlab.yaml". Both given and different: a usage error printed, NULL returned and
 * *ret_status EXIT_USAGE. */
const char *cli_file_arg(const char *cmd, const char *positional, int *ret_status);

/* cli_parse_file_args() for up and down, which also take --wait (stored in *ret_wait). */
int cli_parse_run_args(const char *cmd, int argc, char **argv, const char **ret_file,
                       bool *ret_wait);

/*
 * Take the lock of @lab for the whole command (see lablock.h); another kvmlab holding it is
 * refused at once (its PID printed) unless @wait. Returns EXIT_OK with *ret set, or EXIT_FAIL.
 */
int cli_lab_lock(const Lab *lab, bool wait, LabLock **ret);

/* Node @name of @lab; NULL after printing that the lab has no such node, with its nodes. */
const LabNode *cli_find_node(const Lab *lab, const char *name);

/* JSON string output helper: writes "text" with escapes to @f. */
void cli_json_string(FILE *f, const char *s);

/* Print the help of command @name (NULL: the overview) on stdout. Returns an exit code. */
int cli_help(const char *name);

/*
 * The one skeleton of plan, up, down and status: a lab bound to its host, with the lab's lock
 * held for the whole command when it changes anything (up, down) and the interrupt handlers
 * installed. cli_lab_open() parses "[--wait] [FILE]" and loads the file; cli_lab_attach() takes
 * a loaded lab (down --lab). Both print what goes wrong and return an exit code (-1: help was
 * asked for); cli_lab_close() releases everything, in the right order.
 */
typedef struct CliLab {
    Lab *lab;
    LabSession *session;
    LabSessionInfo info; /* as the session was opened */
    LabLock *lock;
} CliLab;
int cli_lab_open(const char *cmd, int argc, char **argv, SessionMode mode, CliLab *ret);
int cli_lab_attach(Lab *lab, SessionMode mode, bool wait, CliLab *ret);
void cli_lab_close(CliLab *c);
