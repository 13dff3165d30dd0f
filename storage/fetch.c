/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A resumable download into a partial file with libcurl: Range requests, redirects, stall
 * timeouts, HTTP errors as sentences, interruption through the interrupt flag. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "imagestore-priv.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/interrupt.h"

#define CONNECT_TIMEOUT_S 30
#define LOW_SPEED_BYTES   1024 /* a transfer slower than this ... */
#define LOW_SPEED_TIME_S  60   /* ... for this long has stalled */
#define MAX_REDIRECTS     10

typedef struct Fetch {
    CURL *curl;
    int fd;
    bool http;
    uint64_t offset;  /* where this attempt writes its first byte */
    uint64_t written; /* bytes this attempt wrote */
    bool started;     /* the first data arrived and the answer was checked */
    bool restarted;   /* the server sent the whole file instead of the rest */
    int werr;         /* errno of a failed write */
    const char *what;
    ImageProgressFn progress;
    void *userdata;
} Fetch;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *data, size_t size, size_t n, void *userdata)
{
    Fetch *f = userdata;
    size_t len = size * n;

    if (!f->started) {
        f->started = true;
        long code = 0;
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &code);
        if (f->http && f->offset > 0 && code != 206) {
            /* the whole file instead of the rest: start the partial file over */
            if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0) {
                f->werr = errno;
                return 0;
            }
            f->offset = 0;
            f->restarted = true;
        }
    }
    for (size_t done = 0; done < len;) {
        ssize_t k = write(f->fd, data + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            f->werr = errno;
            return 0; /* curl fails with CURLE_WRITE_ERROR */
        }
        done += (size_t)k;
    }
    f->written += len;
    return len;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    Fetch *f = userdata;
    (void)ultotal;
    (void)ulnow;
    if (interrupt_pending())
        return 1; /* CURLE_ABORTED_BY_CALLBACK */
    if (f->progress && (dlnow > 0 || dltotal > 0))
        f->progress(f->what, f->offset + (uint64_t)dlnow,
                    dltotal > 0 ? f->offset + (uint64_t)dltotal : 0, f->userdata);
    return 0;
}

static uint64_t file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* " (redirected to 'EFF')" when the transfer ended somewhere else than @url. New string. */
static char *redirect_note(CURL *curl, const char *url)
{
    char *eff = NULL, *s = NULL;
    if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff &&
        strcmp(eff, url) != 0) {
        if (asprintf(&s, " (redirected to '%s')", eff) < 0)
            s = NULL;
    }
    return s ? s : strdup("");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)

int fetch_url(const char *url, const char *part, const char *what, ImageProgressFn progress,
              void *userdata, uint64_t *ret_fetched, Error *err)
{
    uint64_t fetched = 0;
    int r;

    if (ret_fetched)
        *ret_fetched = 0;
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return error_set(err, -ENOMEM, "Cannot set up libcurl: %s",
                         curl_easy_strerror(curl_init_result));

    _cleanup_close_ int fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot write '%s'", part);

    _cleanup_(curl_easy_cleanupp) CURL *curl = curl_easy_init();
    if (!curl)
        return error_set(err, -ENOMEM, "Cannot set up libcurl");

    /* at most twice: a server (or file) that cannot give the rest gets a fresh start */
    for (int attempt = 0;; attempt++) {
        char errbuf[CURL_ERROR_SIZE] = "";
        Fetch f = {
                .curl = curl,
                .fd = fd,
                .http = strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0,
                .offset = file_size(fd),
                .what = what,
                .progress = progress,
                .userdata = userdata,
        };
        if (lseek(fd, (off_t)f.offset, SEEK_SET) < 0)
            return error_set_errno(err, -errno, "Cannot write '%s'", part);

        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
        curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "kvmlab/" KVMLAB_VERSION);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &f);
        curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)f.offset);

        CURLcode c = curl_easy_perform(curl);
        fetched += f.written;
        long code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        const char *why = *errbuf ? errbuf : curl_easy_strerror(c);

        if (c == CURLE_OK) {
            if (fsync(fd) < 0) {
                r = error_set_errno(err, -errno, "Cannot write '%s'", part);
                break;
            }
            r = 0;
            break;
        }
        if (c == CURLE_HTTP_RETURNED_ERROR && code == 416 && f.offset > 0) {
            /* nothing left to send: the partial file may be whole; its sha256 tells */
            r = 0;
            break;
        }
        if ((c == CURLE_RANGE_ERROR || c == CURLE_BAD_DOWNLOAD_RESUME) && f.offset > 0 &&
            attempt == 0) {
            /* the server cannot send the rest (or the file shrank): start over */
            if (ftruncate(fd, 0) < 0)
                return error_set_errno(err, -errno, "Cannot write '%s'", part);
            continue;
        }
        _cleanup_free_ char *note = redirect_note(curl, url);
        if (c == CURLE_ABORTED_BY_CALLBACK && interrupt_pending()) {
            r = error_set(err, -EINTR,
                          "Download of '%s' interrupted by %s; %" PRIu64
                          " bytes are kept in '%s' and the next run resumes there",
                          url, interrupt_signal_name(), file_size(fd), part);
        } else if (c == CURLE_WRITE_ERROR && f.werr) {
            r = error_set_errno(err, -f.werr, "Cannot write '%s'", part);
        } else if (c == CURLE_HTTP_RETURNED_ERROR) {
            r = error_set(err, code == 404 || code == 410 ? -ENOENT : -EIO,
                          "Cannot download '%s'%s: the server answered HTTP %ld", url,
                          note ? note : "", code);
            if (code >= 400 && code < 500 && ftruncate(fd, 0) < 0)
                r = error_set_errno(err, -errno, "Cannot write '%s'", part);
        } else if (c == CURLE_OPERATION_TIMEDOUT) {
            r = error_set(err, -ETIMEDOUT,
                          "Cannot download '%s'%s: %s (no connection within %d s, or less "
                          "than %d bytes/s for %d s)",
                          url, note ? note : "", why, CONNECT_TIMEOUT_S, LOW_SPEED_BYTES,
                          LOW_SPEED_TIME_S);
        } else if (c == CURLE_FILE_COULDNT_READ_FILE) {
            r = error_set(err, -ENOENT, "Cannot download '%s': %s", url, why);
        } else {
            r = error_set(err, -EIO, "Cannot download '%s'%s: %s", url, note ? note : "", why);
        }
        break;
    }
    /* an empty partial file holds nothing worth resuming */
    if (r < 0 && file_size(fd) == 0)
        unlink(part);
    if (ret_fetched)
        *ret_fetched = fetched;
    return r;
}
