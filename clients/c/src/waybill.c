/* waybill.c - the Waybill C client: framing, call ids, demultiplexing, calls. */
#define _POSIX_C_SOURCE 200809L

#include "waybill.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tls.h"

enum {
    OK = WAYBILL__V1__STATUS_CODE__OK,
    CANCELLED = WAYBILL__V1__STATUS_CODE__CANCELLED,
    UNKNOWN = WAYBILL__V1__STATUS_CODE__UNKNOWN,
    INVALID_ARGUMENT = WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT,
    DEADLINE_EXCEEDED = WAYBILL__V1__STATUS_CODE__DEADLINE_EXCEEDED,
    RESOURCE_EXHAUSTED = WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED,
    FAILED_PRECONDITION = WAYBILL__V1__STATUS_CODE__FAILED_PRECONDITION,
    INTERNAL = WAYBILL__V1__STATUS_CODE__INTERNAL,
    UNAVAILABLE = WAYBILL__V1__STATUS_CODE__UNAVAILABLE,
};

#define HEADER_BYTES 5
#define READ_CHUNK 65536
#define IGNORED_MAX 32          /* call ids whose late frames are dropped */
#define QUEUE_BYTES_FACTOR 16   /* buffered stream payload limit, in max_frame units */
#define METHOD_PREFIX "/waybill.v1."

typedef Waybill__V1__ResponseEnvelope Envelope;

typedef struct frame_node {
    Envelope *env;
    struct frame_node *next;
} frame_node;

struct waybill_client {
    int fd;                        /* -1 once the connection is closed */
    wb_tls *tls;                   /* NULL: plaintext (or closed) */
    char *authorization;           /* "Bearer TOKEN", or NULL; wiped before it is freed */
    char closed_reason[256];
    char client_id[128];
    int call_timeout_ms;
    uint32_t max_frame;
    uint64_t next_call_id;
    uint8_t *buf;                  /* received bytes not yet parsed into frames */
    size_t len, cap;
    uint64_t sub_id;               /* call id of the open subscription, 0 = none */
    frame_node *q_head, *q_tail;   /* its frames received but not yet handed out */
    size_t q_bytes;
    uint64_t ignored[IGNORED_MAX]; /* timed-out / cancelled calls; 0 = free slot */
    size_t ignored_next;
};

static const char *const code_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *waybill_code_name(int code) {
    if (code < 0 || code >= (int)(sizeof code_names / sizeof code_names[0]))
        return "UNKNOWN_CODE";
    return code_names[code];
}

/* ---- status helpers ---- */

static int set_status(waybill_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_status(waybill_status *st, int code, const char *fmt, ...) {
    if (st) {
        va_list ap;
        va_start(ap, fmt);
        st->code = code;
        vsnprintf(st->message, sizeof st->message, fmt, ap);
        st->field[0] = '\0';
        va_end(ap);
    }
    return code;
}

static int set_ok(waybill_status *st) { return set_status(st, OK, "%s", ""); }

/* Copies a status the server sent (a final frame's, or one inside a response); returns its
 * code. */
static int server_status(const Waybill__V1__Status *s, waybill_status *st) {
    int code = s ? (int)s->code : OK;
    const char *msg = s && s->message ? s->message : "";
    if (code < 0 || code > WAYBILL__V1__STATUS_CODE__UNAUTHENTICATED) {
        set_status(st, UNKNOWN, "server status code %d: %s", code, msg);
        code = UNKNOWN;
    } else {
        set_status(st, code, "%s", msg);
    }
    if (st && s && s->details && s->details->field)
        snprintf(st->field, sizeof st->field, "%s", s->details->field);
    return code;
}

static int envelope_status(const Envelope *env, waybill_status *st) {
    return server_status(env->status, st);
}

/* ---- time ---- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

/* Milliseconds left for poll(): -1 = forever, 0 = expired. */
static int remaining_ms(int64_t deadline) {
    if (deadline < 0) return -1;
    int64_t left = deadline - now_ms();
    if (left <= 0) return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- connection state ---- */

static void queue_clear(waybill_client *c) {
    while (c->q_head) {
        frame_node *n = c->q_head;
        c->q_head = n->next;
        waybill__v1__response_envelope__free_unpacked(n->env, NULL);
        free(n);
    }
    c->q_tail = NULL;
    c->q_bytes = 0;
}

/* The byte stream is unusable: close it, remember why, report `code`. */
static int conn_fail(waybill_client *c, waybill_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int conn_fail(waybill_client *c, waybill_status *st, int code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wb_tls_free(c->tls, 0);
    c->tls = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->len = 0;
    c->sub_id = 0;
    queue_clear(c);
    snprintf(c->closed_reason, sizeof c->closed_reason, "%s", msg);
    return set_status(st, code, "%s", msg);
}

static int check_open(waybill_client *c, waybill_status *st) {
    if (!c) return set_status(st, INVALID_ARGUMENT, "client is NULL");
    if (c->fd < 0)
        return set_status(st, UNAVAILABLE, "connection is closed (%s)", c->closed_reason);
    return OK;
}

static void ignore_call(waybill_client *c, uint64_t id) {
    c->ignored[c->ignored_next] = id;
    c->ignored_next = (c->ignored_next + 1) % IGNORED_MAX;
}

/* True when frames for `id` are to be dropped; forgets the id at its last frame. */
static int ignored_call(waybill_client *c, uint64_t id, int end_of_stream) {
    for (size_t i = 0; i < IGNORED_MAX; i++) {
        if (c->ignored[i] == id) {
            if (end_of_stream) c->ignored[i] = 0;
            return 1;
        }
    }
    return 0;
}

/* ---- socket I/O, plaintext or TLS: one non-blocking step each ---- */

enum { IO_DONE, IO_WAIT, IO_CLOSED, IO_FAILED };

static int io_from_tls(int r, short *events) {
    switch (r) {
    case WB_TLS_DONE: return IO_DONE;
    case WB_TLS_WANT_READ: *events = POLLIN; return IO_WAIT;
    case WB_TLS_WANT_WRITE: *events = POLLOUT; return IO_WAIT;
    case WB_TLS_CLOSED: return IO_CLOSED;
    default: return IO_FAILED;
    }
}

/* IO_DONE with *n bytes written (maybe 0 after EINTR), IO_WAIT with the poll events to wait
 * for (TLS may need to read in order to write), or IO_CLOSED / IO_FAILED with `msg`. */
static int io_write(waybill_client *c, const uint8_t *p, size_t len, size_t *n, short *events,
                    char *msg, size_t msg_size) {
    *n = 0;
    if (c->tls) {
        char err[200];
        int r = io_from_tls(wb_tls_write(c->tls, p, len, n, err, sizeof err), events);
        if (r == IO_FAILED || r == IO_CLOSED) snprintf(msg, msg_size, "TLS: %s", err);
        return r;
    }
    ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
    if (w > 0) {
        *n = (size_t)w;
        return IO_DONE;
    }
    if (w < 0 && errno == EINTR) return IO_DONE;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        *events = POLLOUT;
        return IO_WAIT;
    }
    snprintf(msg, msg_size, "%s", strerror(errno));
    return IO_FAILED;
}

/* IO_DONE with *n > 0 bytes read (or 0 after EINTR), IO_WAIT with the poll events to wait
 * for, IO_CLOSED when the server closed, IO_FAILED with `msg`. */
static int io_read(waybill_client *c, uint8_t *p, size_t len, size_t *n, short *events,
                   char *msg, size_t msg_size) {
    *n = 0;
    if (c->tls) {
        char err[200];
        int r = io_from_tls(wb_tls_read(c->tls, p, len, n, err, sizeof err), events);
        if (r == IO_FAILED) snprintf(msg, msg_size, "TLS: %s", err);
        return r;
    }
    ssize_t r = recv(c->fd, p, len, 0);
    if (r > 0) {
        *n = (size_t)r;
        return IO_DONE;
    }
    if (r == 0) return IO_CLOSED;
    if (errno == EINTR) return IO_DONE;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        *events = POLLIN;
        return IO_WAIT;
    }
    snprintf(msg, msg_size, "%s", strerror(errno));
    return IO_FAILED;
}

/* ---- writing ---- */

static int send_envelope(waybill_client *c, const Waybill__V1__RequestEnvelope *env,
                         int64_t deadline, waybill_status *st) {
    size_t n = waybill__v1__request_envelope__get_packed_size(env);
    if (n > c->max_frame)
        return set_status(st, RESOURCE_EXHAUSTED,
                          "request of %zu bytes exceeds the frame limit of %u bytes", n,
                          (unsigned)c->max_frame);
    uint8_t *frame = malloc(HEADER_BYTES + n);
    if (!frame) return set_status(st, RESOURCE_EXHAUSTED, "out of memory");
    frame[0] = 0;
    frame[1] = (uint8_t)(n >> 24);
    frame[2] = (uint8_t)(n >> 16);
    frame[3] = (uint8_t)(n >> 8);
    frame[4] = (uint8_t)n;
    waybill__v1__request_envelope__pack(env, frame + HEADER_BYTES);

    int rc = OK;
    size_t off = 0, total = HEADER_BYTES + n;
    while (off < total) {
        size_t w;
        short events = 0;
        char msg[224];
        int io = io_write(c, frame + off, total - off, &w, &events, msg, sizeof msg);
        if (io == IO_DONE) {
            off += w;
            continue;
        }
        if (io == IO_WAIT) {
            struct pollfd p = {.fd = c->fd, .events = events};
            int r = poll(&p, 1, remaining_ms(deadline));
            if (r > 0 || (r < 0 && errno == EINTR)) continue;
            if (r == 0) {
                rc = conn_fail(c, st, DEADLINE_EXCEEDED, "timed out sending a request");
                break;
            }
            snprintf(msg, sizeof msg, "%s", strerror(errno));
        }
        rc = conn_fail(c, st, UNAVAILABLE, "send failed: %s", msg);
        break;
    }
    if (c->authorization) OPENSSL_cleanse(frame, total); /* the token is in there */
    free(frame);
    return rc;
}

/* md and mds have room for METADATA_MAX entries: client-id and, with a token, authorization. */
#define METADATA_MAX 2
static void request_init(waybill_client *c, Waybill__V1__RequestEnvelope *env,
                         Waybill__V1__RequestEnvelope__MetadataEntry *md,
                         Waybill__V1__RequestEnvelope__MetadataEntry **mds, uint64_t id,
                         const char *method) {
    Waybill__V1__RequestEnvelope e = WAYBILL__V1__REQUEST_ENVELOPE__INIT;
    size_t n = 0;
    waybill__v1__request_envelope__metadata_entry__init(&md[n]);
    md[n].key = (char *)"client-id";
    md[n].value = c->client_id;
    mds[n] = &md[n];
    n++;
    if (c->authorization) {
        waybill__v1__request_envelope__metadata_entry__init(&md[n]);
        md[n].key = (char *)"authorization";
        md[n].value = c->authorization;
        mds[n] = &md[n];
        n++;
    }
    e.call_id = id;
    e.method = (char *)method;
    e.metadata = mds;
    e.n_metadata = n;
    e.protocol_version = WAYBILL__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_1;
    *env = e;
}

/* Builds and sends a request envelope around `request` (which may be NULL). */
static int send_call(waybill_client *c, uint64_t id, const char *method,
                     const ProtobufCMessage *request, uint32_t timeout_ms, int cancel,
                     int64_t deadline, waybill_status *st) {
    Waybill__V1__RequestEnvelope env;
    Waybill__V1__RequestEnvelope__MetadataEntry md[METADATA_MAX], *mds[METADATA_MAX];
    request_init(c, &env, md, mds, id, method);
    env.timeout_ms = timeout_ms;
    env.cancel = cancel ? 1 : 0;
    uint8_t *payload = NULL;
    if (request) {
        size_t n = protobuf_c_message_get_packed_size(request);
        if (n > c->max_frame)
            return set_status(st, RESOURCE_EXHAUSTED,
                              "request of %zu bytes exceeds the frame limit of %u bytes", n,
                              (unsigned)c->max_frame);
        payload = malloc(n ? n : 1);
        if (!payload) return set_status(st, RESOURCE_EXHAUSTED, "out of memory");
        protobuf_c_message_pack(request, payload);
        env.payload.data = payload;
        env.payload.len = n;
    }
    int rc = send_envelope(c, &env, deadline, st);
    free(payload);
    return rc;
}

/* ---- reading ---- */

/* 1: a frame was parsed into *out; 0: more bytes needed; -1: connection failed (st set). */
static int take_frame(waybill_client *c, Envelope **out, waybill_status *st) {
    if (c->len < 1) return 0;
    if (c->buf[0] != 0) {
        /* 0x15/0x16 open a TLS alert/handshake record: a TLS server answering plaintext. */
        int tls_record = !c->tls && (c->buf[0] == 0x15 || c->buf[0] == 0x16);
        conn_fail(c, st, INTERNAL, "bad frame flag byte %u (only 0, uncompressed, is valid)%s",
                  c->buf[0], tls_record ? "; it looks like TLS: does the server need TLS?" : "");
        return -1;
    }
    if (c->len < HEADER_BYTES) return 0;
    uint32_t n = (uint32_t)c->buf[1] << 24 | (uint32_t)c->buf[2] << 16 |
                 (uint32_t)c->buf[3] << 8 | (uint32_t)c->buf[4];
    if (n > c->max_frame) {
        conn_fail(c, st, RESOURCE_EXHAUSTED,
                  "response frame of %u bytes exceeds the limit of %u bytes", (unsigned)n,
                  (unsigned)c->max_frame);
        return -1;
    }
    if (c->len - HEADER_BYTES < n) return 0;
    Envelope *env = waybill__v1__response_envelope__unpack(NULL, n, c->buf + HEADER_BYTES);
    c->len -= HEADER_BYTES + n;
    memmove(c->buf, c->buf + HEADER_BYTES + n, c->len);
    if (!env) {
        conn_fail(c, st, INTERNAL, "malformed response envelope (%u bytes)", (unsigned)n);
        return -1;
    }
    *out = env;
    return 1;
}

/* 0: bytes were read; 1: deadline passed; -1: connection failed (st set). */
static int read_more(waybill_client *c, int64_t deadline, waybill_status *st) {
    if (c->cap - c->len < READ_CHUNK / 4) {
        size_t cap = c->cap ? c->cap * 2 : READ_CHUNK;
        while (cap - c->len < READ_CHUNK / 4) cap *= 2;
        uint8_t *b = realloc(c->buf, cap);
        if (!b) {
            conn_fail(c, st, RESOURCE_EXHAUSTED, "out of memory");
            return -1;
        }
        c->buf = b;
        c->cap = cap;
    }
    for (;;) {
        size_t got;
        short events = 0;
        char msg[224];
        int io = io_read(c, c->buf + c->len, c->cap - c->len, &got, &events, msg, sizeof msg);
        if (io == IO_DONE) {
            if (got == 0) continue;
            c->len += got;
            return 0;
        }
        if (io == IO_CLOSED) {
            if (c->len > 0)
                conn_fail(c, st, UNAVAILABLE,
                          "connection closed by the server mid-frame (%zu bytes of a frame)",
                          c->len);
            else
                conn_fail(c, st, UNAVAILABLE, "connection closed by the server");
            return -1;
        }
        if (io == IO_FAILED) {
            conn_fail(c, st, UNAVAILABLE, "receive failed: %s", msg);
            return -1;
        }
        struct pollfd p = {.fd = c->fd, .events = events};
        int pr = poll(&p, 1, remaining_ms(deadline));
        if (pr == 0) return 1;
        if (pr < 0 && errno != EINTR) {
            conn_fail(c, st, UNAVAILABLE, "poll failed: %s", strerror(errno));
            return -1;
        }
    }
}

#define PUMP_TIMEOUT (-1)

/* Public functions always work with a status, the caller's or a local one. */
#define NEED_STATUS(st)          \
    waybill_status st##_local_; \
    if (!(st)) (st) = &st##_local_

/* Reads frames and routes them until the frame of unary call `want` arrives (returned in
 * *out) or, for want == 0, until a stream frame is queued. Returns a status code, or
 * PUMP_TIMEOUT when the deadline passes (st untouched, connection intact). */
static int pump(waybill_client *c, uint64_t want, int64_t deadline, Envelope **out,
                waybill_status *st) {
    for (;;) {
        if (want == 0 && c->q_head) return OK;
        Envelope *env = NULL;
        int r = take_frame(c, &env, st);
        if (r < 0) return st->code;
        if (r == 0) {
            int m = read_more(c, deadline, st);
            if (m < 0) return st->code;
            if (m > 0) return PUMP_TIMEOUT;
            continue;
        }
        uint64_t id = env->call_id;
        if (id == 0) { /* connection-level error; the server closes the connection */
            waybill_status tmp;
            int code = envelope_status(env, &tmp);
            waybill__v1__response_envelope__free_unpacked(env, NULL);
            if (code == OK) code = UNAVAILABLE;
            return conn_fail(c, st, code, "connection error from server: %s", tmp.message);
        }
        if (want != 0 && id == want) {
            *out = env;
            return OK;
        }
        if (c->sub_id != 0 && id == c->sub_id) {
            frame_node *n = malloc(sizeof *n);
            size_t bytes = env->payload.len + sizeof *n;
            if (!n || c->q_bytes + bytes > (size_t)c->max_frame * QUEUE_BYTES_FACTOR) {
                free(n);
                waybill__v1__response_envelope__free_unpacked(env, NULL);
                return conn_fail(c, st, RESOURCE_EXHAUSTED,
                                 "too many unread change-feed frames buffered");
            }
            n->env = env;
            n->next = NULL;
            if (c->q_tail) c->q_tail->next = n;
            else c->q_head = n;
            c->q_tail = n;
            c->q_bytes += bytes;
            continue;
        }
        int eos = env->end_of_stream;
        waybill__v1__response_envelope__free_unpacked(env, NULL);
        if (ignored_call(c, id, eos)) continue;
        return conn_fail(c, st, INTERNAL, "response for unknown call id %llu",
                         (unsigned long long)id);
    }
}

/* A bearer token is 1..WAYBILL_TOKEN_BYTES_MAX visible ASCII characters (RFC 6750's
 * b64token is narrower; anything printable is passed on and judged by the server). */
static int token_valid(const char *token) {
    size_t n = 0;
    for (const char *p = token; *p; p++, n++)
        if (*p < 0x21 || *p > 0x7e || n >= WAYBILL_TOKEN_BYTES_MAX) return 0;
    return n > 0;
}

/* Drives the TLS handshake on the connected socket until it completes or `deadline`. */
static int tls_handshake(wb_tls *tls, int fd, int64_t deadline, const char *host, int port,
                         int timeout_ms, waybill_status *st) {
    for (;;) {
        char err[200];
        int r = wb_tls_handshake(tls, err, sizeof err);
        if (r == WB_TLS_DONE) return OK;
        if (r != WB_TLS_WANT_READ && r != WB_TLS_WANT_WRITE)
            return set_status(st, UNAVAILABLE, "TLS handshake with %s:%d failed: %s", host, port,
                              err);
        struct pollfd p = {.fd = fd, .events = r == WB_TLS_WANT_READ ? POLLIN : POLLOUT};
        int pr;
        do pr = poll(&p, 1, remaining_ms(deadline));
        while (pr < 0 && errno == EINTR);
        if (pr == 0)
            return set_status(st, DEADLINE_EXCEEDED,
                              "TLS handshake with %s:%d timed out after %d ms", host, port,
                              timeout_ms);
        if (pr < 0) return set_status(st, UNAVAILABLE, "poll failed: %s", strerror(errno));
    }
}

/* ---- public API ---- */

waybill_client *waybill_connect(const char *host, int port, const waybill_options *opts,
                                waybill_status *st) {
    NEED_STATUS(st);
    if (!host || !*host || port <= 0 || port > 65535) {
        set_status(st, INVALID_ARGUMENT, "invalid server address");
        return NULL;
    }
    waybill_options o = {0};
    if (opts) o = *opts;
    if (o.token && !token_valid(o.token)) { /* never echoed: it may be a real token */
        set_status(st, INVALID_ARGUMENT,
                   "token must be 1 to %d visible ASCII characters (no spaces or newlines)",
                   WAYBILL_TOKEN_BYTES_MAX);
        return NULL;
    }
    int connect_timeout = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : 5000;
    int64_t deadline = deadline_after(connect_timeout);

    /* TLS settings are checked (files loaded) before any connection is made. */
    wb_tls *tls = NULL;
    if (wb_tls_requested(&o)) {
        char err[256];
        int code = wb_tls_new(host, &o, &tls, err, sizeof err);
        if (code) {
            set_status(st, code, "%s", err);
            return NULL;
        }
    }

    char port_str[16];
    snprintf(port_str, sizeof port_str, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port_str, &hints, &res);
    if (gai != 0) {
        wb_tls_free(tls, 0);
        set_status(st, UNAVAILABLE, "cannot resolve %s: %s", host, gai_strerror(gai));
        return NULL;
    }
    int fd = -1, err = 0, timed_out = 0;
    for (struct addrinfo *ai = res; ai && fd < 0 && !timed_out; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int r;
            do r = poll(&p, 1, remaining_ms(deadline));
            while (r < 0 && errno == EINTR);
            socklen_t len = sizeof err;
            if (r == 0) timed_out = 1;
            else if (r < 0) err = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
            if (r > 0 && err == 0) break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        wb_tls_free(tls, 0);
        if (timed_out)
            set_status(st, DEADLINE_EXCEEDED, "connect to %s:%d timed out after %d ms", host,
                       port, connect_timeout);
        else
            set_status(st, UNAVAILABLE, "cannot connect to %s:%d: %s", host, port,
                       strerror(err));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tls) {
        wb_tls_set_fd(tls, fd);
        if (tls_handshake(tls, fd, deadline, host, port, connect_timeout, st)) {
            wb_tls_free(tls, 0);
            close(fd);
            return NULL;
        }
    }

    waybill_client *c = calloc(1, sizeof *c);
    char *authorization = NULL;
    if (c && o.token) {
        static const char scheme[] = "Bearer ";
        size_t n = strlen(o.token);
        authorization = malloc(sizeof scheme + n);
        if (authorization) {
            memcpy(authorization, scheme, sizeof scheme - 1);
            memcpy(authorization + sizeof scheme - 1, o.token, n + 1);
        }
    }
    if (!c || (o.token && !authorization)) {
        free(c);
        wb_tls_free(tls, 1);
        close(fd);
        set_status(st, RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->tls = tls;
    c->authorization = authorization;
    c->call_timeout_ms = o.call_timeout_ms > 0 ? o.call_timeout_ms : 10000;
    c->max_frame = o.max_frame_bytes ? o.max_frame_bytes : WAYBILL_DEFAULT_MAX_FRAME_BYTES;
    c->next_call_id = 1;
    snprintf(c->client_id, sizeof c->client_id, "%s", o.client_id ? o.client_id : "waybill-c");
    set_ok(st);
    return c;
}

void waybill_close(waybill_client *c) {
    if (!c) return;
    wb_tls_free(c->tls, 1);
    if (c->fd >= 0) close(c->fd);
    queue_clear(c);
    free(c->buf);
    if (c->authorization) {
        OPENSSL_cleanse(c->authorization, strlen(c->authorization));
        free(c->authorization);
    }
    free(c);
}

const char *waybill_tls_protocol(const waybill_client *c) {
    return c && c->tls ? wb_tls_protocol(c->tls) : NULL;
}

int waybill_call(waybill_client *c, const char *method, const ProtobufCMessage *request,
                 const ProtobufCMessageDescriptor *response_type, ProtobufCMessage **out,
                 waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    int rc = check_open(c, st);
    if (rc) return rc;
    if (!method || !request || !response_type)
        return set_status(st, INVALID_ARGUMENT, "method, request and response type are required");
    uint64_t id = c->next_call_id++;
    int64_t deadline = deadline_after(c->call_timeout_ms);
    rc = send_call(c, id, method, request, (uint32_t)c->call_timeout_ms, 0, deadline, st);
    if (rc) return rc;

    Envelope *env = NULL;
    rc = pump(c, id, deadline, &env, st);
    if (rc == PUMP_TIMEOUT) {
        ignore_call(c, id); /* its answer may still come: drop it then */
        return set_status(st, DEADLINE_EXCEEDED, "no response to %s within %d ms", method,
                          c->call_timeout_ms);
    }
    if (rc) return rc;
    if (!env->end_of_stream) {
        waybill__v1__response_envelope__free_unpacked(env, NULL);
        ignore_call(c, id);
        return set_status(st, INTERNAL, "unary response to %s without end_of_stream", method);
    }
    rc = envelope_status(env, st);
    if (rc) {
        waybill__v1__response_envelope__free_unpacked(env, NULL);
        return rc;
    }
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(response_type, NULL, env->payload.len, env->payload.data);
    waybill__v1__response_envelope__free_unpacked(env, NULL);
    if (!msg)
        return set_status(st, INTERNAL, "malformed %s payload in response to %s",
                          response_type->name, method);
    if (out) *out = msg;
    else protobuf_c_message_free_unpacked(msg, NULL);
    return set_ok(st);
}

int waybill_capture_order(waybill_client *c, const Waybill__V1__Order *order,
                          Waybill__V1__CaptureOrderResponse **out, waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (!order) return set_status(st, INVALID_ARGUMENT, "order is NULL");
    Waybill__V1__CaptureOrderRequest req = WAYBILL__V1__CAPTURE_ORDER_REQUEST__INIT;
    req.order = (Waybill__V1__Order *)order;
    return waybill_call(c, METHOD_PREFIX "OrderService/CaptureOrder", &req.base,
                        &waybill__v1__capture_order_response__descriptor,
                        (ProtobufCMessage **)out, st);
}

int waybill_get_order(waybill_client *c, const char *order_id, Waybill__V1__Order **out,
                      waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (!order_id || !*order_id) return set_status(st, INVALID_ARGUMENT, "order id is empty");
    Waybill__V1__GetOrderRequest req = WAYBILL__V1__GET_ORDER_REQUEST__INIT;
    req.order_id = (char *)order_id;
    return waybill_call(c, METHOD_PREFIX "OrderService/GetOrder", &req.base,
                        &waybill__v1__order__descriptor, (ProtobufCMessage **)out, st);
}

int waybill_get_availability(waybill_client *c, const char *const *skus, size_t n_skus,
                             Waybill__V1__Channel channel,
                             Waybill__V1__GetAvailabilityResponse **out, waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (n_skus == 0 || !skus) return set_status(st, INVALID_ARGUMENT, "no SKUs given");
    Waybill__V1__GetAvailabilityRequest req = WAYBILL__V1__GET_AVAILABILITY_REQUEST__INIT;
    req.skus = (char **)skus;
    req.n_skus = n_skus;
    req.channel = channel;
    return waybill_call(c, METHOD_PREFIX "InventoryService/GetAvailability", &req.base,
                        &waybill__v1__get_availability_response__descriptor,
                        (ProtobufCMessage **)out, st);
}

int waybill_get_fulfillment_options(waybill_client *c,
                                    const Waybill__V1__FulfillmentOptionsQuery *const *queries,
                                    size_t n_queries,
                                    Waybill__V1__GetFulfillmentOptionsResponse **out,
                                    waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (n_queries == 0 || !queries) return set_status(st, INVALID_ARGUMENT, "no queries given");
    for (size_t i = 0; i < n_queries; i++)
        if (!queries[i]) return set_status(st, INVALID_ARGUMENT, "query %zu is NULL", i);
    Waybill__V1__GetFulfillmentOptionsRequest req =
        WAYBILL__V1__GET_FULFILLMENT_OPTIONS_REQUEST__INIT;
    req.queries = (Waybill__V1__FulfillmentOptionsQuery **)queries;
    req.n_queries = n_queries;
    Waybill__V1__GetFulfillmentOptionsResponse *resp = NULL;
    int rc = waybill_call(c, METHOD_PREFIX "CheckoutService/GetFulfillmentOptions", &req.base,
                          &waybill__v1__get_fulfillment_options_response__descriptor,
                          (ProtobufCMessage **)&resp, st);
    if (rc) return rc;
    /* Callers index results by query: an answer that does not match is not handed out. */
    if (resp->n_results != n_queries) {
        size_t got = resp->n_results;
        waybill__v1__get_fulfillment_options_response__free_unpacked(resp, NULL);
        return set_status(st, INTERNAL, "%zu fulfillment options results for %zu queries", got,
                          n_queries);
    }
    if (out) *out = resp;
    else waybill__v1__get_fulfillment_options_response__free_unpacked(resp, NULL);
    return set_ok(st);
}

/* Every cart call answers a CartResponse with its cart: one without is not handed out. */
static int cart_call(waybill_client *c, const char *method, const ProtobufCMessage *req,
                     Waybill__V1__CartResponse **out, waybill_status *st) {
    Waybill__V1__CartResponse *resp = NULL;
    int rc = waybill_call(c, method, req, &waybill__v1__cart_response__descriptor,
                          (ProtobufCMessage **)&resp, st);
    if (rc) return rc;
    if (!resp->cart) {
        waybill__v1__cart_response__free_unpacked(resp, NULL);
        return set_status(st, INTERNAL, "cart response without a cart");
    }
    if (out) *out = resp;
    else waybill__v1__cart_response__free_unpacked(resp, NULL);
    return set_ok(st);
}

int waybill_reserve_cart(waybill_client *c, const Waybill__V1__ReserveCartRequest *req,
                         Waybill__V1__CartResponse **out, waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (!req) return set_status(st, INVALID_ARGUMENT, "request is NULL");
    if (!req->cart_id || !*req->cart_id) return set_status(st, INVALID_ARGUMENT, "cart id is empty");
    return cart_call(c, METHOD_PREFIX "CheckoutService/ReserveCart", &req->base, out, st);
}

int waybill_extend_cart(waybill_client *c, const char *cart_id, Waybill__V1__Channel channel,
                        int32_t ttl_seconds, Waybill__V1__CartResponse **out, waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (!cart_id || !*cart_id) return set_status(st, INVALID_ARGUMENT, "cart id is empty");
    Waybill__V1__ExtendCartRequest req = WAYBILL__V1__EXTEND_CART_REQUEST__INIT;
    req.cart_id = (char *)cart_id;
    req.channel = channel;
    req.ttl_seconds = ttl_seconds;
    return cart_call(c, METHOD_PREFIX "CheckoutService/ExtendCart", &req.base, out, st);
}

static int cart_request(waybill_client *c, const char *method, const char *cart_id,
                        Waybill__V1__Channel channel, Waybill__V1__CartResponse **out,
                        waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (!cart_id || !*cart_id) return set_status(st, INVALID_ARGUMENT, "cart id is empty");
    Waybill__V1__CartRequest req = WAYBILL__V1__CART_REQUEST__INIT;
    req.cart_id = (char *)cart_id;
    req.channel = channel;
    return cart_call(c, method, &req.base, out, st);
}

int waybill_release_cart(waybill_client *c, const char *cart_id, Waybill__V1__Channel channel,
                         Waybill__V1__CartResponse **out, waybill_status *st) {
    return cart_request(c, METHOD_PREFIX "CheckoutService/ReleaseCart", cart_id, channel, out, st);
}

int waybill_get_cart(waybill_client *c, const char *cart_id, Waybill__V1__Channel channel,
                     Waybill__V1__CartResponse **out, waybill_status *st) {
    return cart_request(c, METHOD_PREFIX "CheckoutService/GetCart", cart_id, channel, out, st);
}

int waybill_result_status(const Waybill__V1__Status *s, waybill_status *st) {
    NEED_STATUS(st);
    return server_status(s, st);
}

int waybill_acknowledge(waybill_client *c, const char *consumer, uint64_t offset,
                        Waybill__V1__AcknowledgeResponse **out, waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (!consumer || !*consumer) return set_status(st, INVALID_ARGUMENT, "consumer is empty");
    Waybill__V1__AcknowledgeRequest req = WAYBILL__V1__ACKNOWLEDGE_REQUEST__INIT;
    req.consumer = (char *)consumer;
    req.offset = offset;
    return waybill_call(c, METHOD_PREFIX "ChangeFeedService/Acknowledge", &req.base,
                        &waybill__v1__acknowledge_response__descriptor,
                        (ProtobufCMessage **)out, st);
}

int waybill_subscribe(waybill_client *c, const char *consumer, uint64_t from_offset,
                      uint32_t window_events, uint32_t max_events_per_frame,
                      waybill_status *st) {
    NEED_STATUS(st);
    int rc = check_open(c, st);
    if (rc) return rc;
    if (c->sub_id)
        return set_status(st, FAILED_PRECONDITION, "a subscription is already open on this client");
    if (!consumer || !*consumer) return set_status(st, INVALID_ARGUMENT, "consumer is empty");
    Waybill__V1__SubscribeRequest req = WAYBILL__V1__SUBSCRIBE_REQUEST__INIT;
    req.consumer = (char *)consumer;
    req.from_offset = from_offset;
    req.window_events = window_events;
    req.max_events_per_frame = max_events_per_frame;
    uint64_t id = c->next_call_id++;
    rc = send_call(c, id, METHOD_PREFIX "ChangeFeedService/Subscribe", &req.base, 0, 0,
                   deadline_after(c->call_timeout_ms), st);
    if (rc) return rc;
    c->sub_id = id;
    return set_ok(st);
}

int waybill_next_events(waybill_client *c, int timeout_ms, Waybill__V1__SubscribeResponse **out,
                        waybill_status *st) {
    NEED_STATUS(st);
    if (out) *out = NULL;
    if (!c) return set_status(st, INVALID_ARGUMENT, "client is NULL");
    if (!c->sub_id && c->fd >= 0) return set_status(st, FAILED_PRECONDITION, "no open subscription");
    int rc = check_open(c, st);
    if (rc) return rc;
    rc = pump(c, 0, deadline_after(timeout_ms), NULL, st);
    if (rc == PUMP_TIMEOUT)
        return set_status(st, DEADLINE_EXCEEDED, "no change-feed events within %d ms", timeout_ms);
    if (rc) return rc;

    frame_node *n = c->q_head;
    c->q_head = n->next;
    if (!c->q_head) c->q_tail = NULL;
    Envelope *env = n->env;
    c->q_bytes -= env->payload.len + sizeof *n;
    free(n);
    if (env->end_of_stream) {
        c->sub_id = 0;
        queue_clear(c);
        rc = envelope_status(env, st);
        waybill__v1__response_envelope__free_unpacked(env, NULL);
        if (rc == OK) rc = set_status(st, CANCELLED, "subscription ended by the server");
        return rc;
    }
    Waybill__V1__SubscribeResponse *resp =
        waybill__v1__subscribe_response__unpack(NULL, env->payload.len, env->payload.data);
    waybill__v1__response_envelope__free_unpacked(env, NULL);
    if (!resp) return set_status(st, INTERNAL, "malformed SubscribeResponse payload");
    if (out) *out = resp;
    else waybill__v1__subscribe_response__free_unpacked(resp, NULL);
    return set_ok(st);
}

int waybill_cancel_subscription(waybill_client *c, waybill_status *st) {
    NEED_STATUS(st);
    int rc = check_open(c, st);
    if (rc) return rc;
    if (!c->sub_id) return set_status(st, FAILED_PRECONDITION, "no open subscription");
    uint64_t id = c->sub_id;
    int ended = c->q_tail && c->q_tail->env->end_of_stream;
    c->sub_id = 0;
    queue_clear(c);
    if (ended) return set_ok(st); /* the server already ended it */
    ignore_call(c, id);           /* drop what is still in flight, up to its final frame */
    rc = send_call(c, id, METHOD_PREFIX "ChangeFeedService/Subscribe", NULL, 0, 1,
                   deadline_after(c->call_timeout_ms), st);
    if (rc) return rc;
    return set_ok(st);
}
