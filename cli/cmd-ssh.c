/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `kvmlab ssh NODE [-- CMD...]` and `kvmlab console NODE`: into a node, from where its
 * addresses are reachable (the lab's sandbox namespace when it has one). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/node.h"
#include "kvmlab/session.h"

/* @s quoted for the remote shell ssh hands the command to: 'it''s' style, so the argv arrives
 * as it was given. New string. */
static char *sh_quote(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *q = malloc(n), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return q;
}

/* Open the lab for node commands: "NODE [FILE]" plus the command's own options. */
static int open_node(const char *cmd, const char *name, const char *file_arg, CliLab *c,
                     const LabNode **ret)
{
    int status;
    const char *file = cli_file_arg(cmd, file_arg, &status);
    if (!file)
        return status;
    Lab *lab = NULL;
    int r = cli_load_lab(file, &lab);
    if (r != EXIT_OK)
        return r;
    const LabNode *node = cli_find_node(lab, name);
    if (!node) {
        lab_free(lab);
        return EXIT_USAGE;
    }
    r = cli_lab_attach(lab, SESSION_READ, false, c);
    if (r != EXIT_OK)
        return r; /* cli_lab_attach freed the lab */
    if (!c->session->conn) {
        fprintf(stderr, "kvmlab: lab '%s' is not up (its sandbox does not run)\n", lab->name);
        cli_lab_close(c);
        return EXIT_FAIL;
    }
    *ret = node;
    return EXIT_OK;
}

static int run_ssh(const CliGlobals *g, int argc, char **argv)
{
    static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'}, {"user", required_argument, NULL, 'u'}, {0}};
    const char *user = NODE_USER;
    int c;
    optind = 0;
    opterr = 0;
    /* options end at the first non-option (the node) or "--" */
    while ((c = getopt_long(argc, argv, "+hu:", opts, NULL)) != -1) {
        if (c == 'h')
            return cli_help("ssh");
        if (c == 'u') {
            user = optarg;
            continue;
        }
        return cli_usage_error("ssh", "unknown option '%s' for 'ssh'", argv[optind - 1]);
    }
    if (optind >= argc)
        return cli_usage_error("ssh", "'ssh' needs a node name");
    const char *name = argv[optind++];
    const char *file = NULL;
    if (optind < argc && strcmp(argv[optind], "--") != 0)
        file = argv[optind++];
    if (optind < argc && strcmp(argv[optind], "--") != 0)
        return cli_usage_error("ssh", "put the command after '--': kvmlab ssh NODE -- CMD...");
    if (optind < argc)
        optind++; /* "--" */
    if (!*user || strpbrk(user, "@ \t\n:"))
        return cli_usage_error("ssh", "user '%s' is not a user name", user);

    CliLab cl;
    const LabNode *node = NULL;
    int r = open_node("ssh", name, file, &cl, &node);
    if (r != EXIT_OK)
        return r;
    Error err = ERROR_INIT;
    LabNodeStatus st = {0};
    if (lab_session_node_status(cl.session, node, &st, &err) < 0) {
        cli_print_error(&err);
        error_clear(&err);
        cli_lab_close(&cl);
        return EXIT_FAIL;
    }
    if (!st.running || !st.n_addresses) {
        fprintf(stderr, "kvmlab: node '%s' %s; 'kvmlab status' shows where it is\n", name,
                !st.running ? "does not run" : "has no address yet");
        lab_node_status_clear(&st);
        cli_lab_close(&cl);
        return EXIT_FAIL;
    }
    _cleanup_free_ char *key = lab_session_ssh_key(cl.session);
    _cleanup_free_ char *dest = NULL;
    const char *netns = lab_session_netns(cl.session);
    _cleanup_free_ char *ns = netns ? strdup(netns) : NULL;
    if (!key || asprintf(&dest, "%s@%s", user, st.addresses[0]) < 0) {
        fprintf(stderr, "kvmlab: out of memory\n");
        return EXIT_FAIL;
    }
    lab_node_status_clear(&st);
    /* the argv: [ip netns exec NS] ssh OPTIONS DEST [-- QUOTED CMD...] */
    size_t n = (size_t)(argc - optind);
    const char **av = calloc(n + 32, sizeof(*av));
    char **quoted = calloc(n + 1, sizeof(*quoted));
    size_t k = 0;
    if (!av || !quoted) {
        fprintf(stderr, "kvmlab: out of memory\n");
        return EXIT_FAIL;
    }
    if (ns) {
        av[k++] = "ip";
        av[k++] = "netns";
        av[k++] = "exec";
        av[k++] = ns;
    }
    av[k++] = "ssh";
    av[k++] = "-i";
    av[k++] = key;
    /* a lab's nodes are made again often, each time with new host keys: none is remembered */
    av[k++] = "-o";
    av[k++] = "StrictHostKeyChecking=no";
    av[k++] = "-o";
    av[k++] = "UserKnownHostsFile=/dev/null";
    av[k++] = "-o";
    av[k++] = "LogLevel=ERROR";
    av[k++] = "-o";
    av[k++] = "IdentitiesOnly=yes";
    av[k++] = "-o";
    av[k++] = "ConnectTimeout=15";
    if (n && !isatty(STDIN_FILENO))
        av[k++] = "-T";
    av[k++] = dest;
    if (n) {
        av[k++] = "--";
        for (size_t i = 0; i < n; i++) {
            if (!(quoted[i] = sh_quote(argv[optind + (int)i]))) {
                fprintf(stderr, "kvmlab: out of memory\n");
                return EXIT_FAIL;
            }
            av[k++] = quoted[i];
        }
    }
    av[k] = NULL;
    cli_lab_close(&cl);
    (void)g;
    fflush(stdout);
    execvp(av[0], (char *const *)av);
    fprintf(stderr, "kvmlab: cannot run '%s': %s\n", av[0], strerror(errno));
    return EXIT_FAIL;
}

static int run_console(const CliGlobals *g, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return cli_help("console");
        return cli_usage_error("console", "unknown option '%s' for 'console'", argv[optind - 1]);
    }
    if (optind >= argc)
        return cli_usage_error("console", "'console' needs a node name");
    if (argc - optind > 2)
        return cli_usage_error("console", "'console' takes a node and at most one lab file");
    CliLab cl;
    const LabNode *node = NULL;
    int r = open_node("console", argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL, &cl,
                      &node);
    if (r != EXIT_OK)
        return r;
    _cleanup_free_ char *uri = strdup(cl.info.uri);
    _cleanup_free_ char *dom = NULL;
    if (!uri || asprintf(&dom, "%s-%s", cl.lab->name, node->name) < 0) {
        cli_lab_close(&cl);
        return EXIT_FAIL;
    }
    cli_lab_close(&cl);
    (void)g;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "kvmlab: 'console' needs a terminal; the console's log is in the lab's "
                        "state (kvmlab status --json: console_log)\n");
        return EXIT_FAIL;
    }
    const char *av[] = {"virsh", "-c", uri, "console", "--force", dom, NULL};
    fprintf(stderr, "Connected to node '%s'; leave with Ctrl-]\n", node->name);
    execvp(av[0], (char *const *)av);
    fprintf(stderr, "kvmlab: cannot run 'virsh': %s\n", strerror(errno));
    return EXIT_FAIL;
}

const CliCommand cli_cmd_ssh = {
        .name = "ssh",
        .args = "[--user U] NODE [FILE] [-- CMD...]",
        .summary = "Log in to a node, or run CMD on it",
        .help = "Logs in to NODE as 'kvmlab' (--user for another) with the lab's SSH key, from\n"
                "the lab's sandbox namespace when the lab has one, and exits with CMD's exit\n"
                "status. CMD's words arrive as given (each is quoted for the remote shell).\n",
        .run = run_ssh,
};

const CliCommand cli_cmd_console = {
        .name = "console",
        .args = "NODE [FILE]",
        .summary = "Attach to a node's serial console",
        .help = "Attaches the terminal to NODE's serial console (virsh console); Ctrl-] leaves.\n"
                "Everything the console printed since the node started is also in its log\n"
                "file (kvmlab status --json shows console_log).\n",
        .run = run_console,
};
