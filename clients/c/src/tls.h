/* tls.h - libwaybill's TLS layer over OpenSSL (internal).
 *
 * The connection's socket stays non-blocking and all waiting (poll with the call's deadline)
 * stays in waybill.c: every function here does as much as it can without blocking and says
 * what it waits for (WB_TLS_WANT_READ / WB_TLS_WANT_WRITE), so SSL_read and SSL_write may
 * each need either direction. Socket I/O goes through send/recv with MSG_NOSIGNAL (a BIO of
 * our own), so a peer that closes never raises SIGPIPE in the application. */
#ifndef WAYBILL_TLS_H
#define WAYBILL_TLS_H

#include <stddef.h>

#include "waybill.h"

typedef struct wb_tls wb_tls;

enum {
    WB_TLS_DONE = 0,       /* handshake complete / bytes transferred */
    WB_TLS_WANT_READ = 1,  /* poll for POLLIN, then call again with the same arguments */
    WB_TLS_WANT_WRITE = 2, /* poll for POLLOUT, then call again with the same arguments */
    WB_TLS_CLOSED = 3,     /* the peer closed the connection (close_notify or EOF) */
    WB_TLS_ERROR = 4,      /* fatal; `err` says why */
};

/* True when any TLS option is set (TLS is then on, even without opts->tls). */
int wb_tls_requested(const waybill_options *opts);

/* Builds the context and session (before connecting, so unusable options fail first; give
 * the socket with wb_tls_set_fd before the handshake): TLS 1.2 minimum, the server's
 * certificate verified against opts->tls_ca_file or the system's default CA paths, its name
 * (opts->tls_server_name or host; DNS name or IP address) checked, the client certificate
 * loaded for mutual TLS. Returns a status code (0, INVALID_ARGUMENT for unusable options or
 * files, RESOURCE_EXHAUSTED) with `err` set on failure. */
int wb_tls_new(const char *host, const waybill_options *opts, wb_tls **out, char *err,
               size_t err_size);

void wb_tls_set_fd(wb_tls *t, int fd);

/* One step of the handshake: WB_TLS_DONE, WANT_READ/WANT_WRITE, or WB_TLS_ERROR / CLOSED with
 * the reason in `err` (a certificate that did not verify: X509_verify_cert_error_string). */
int wb_tls_handshake(wb_tls *t, char *err, size_t err_size);

/* Writes up to n bytes (*done = bytes written when WB_TLS_DONE). */
int wb_tls_write(wb_tls *t, const void *buf, size_t n, size_t *done, char *err, size_t err_size);

/* Reads up to n bytes (*done = bytes read when WB_TLS_DONE, never 0). Reads what OpenSSL
 * already holds before touching the socket, so callers may poll only after WANT_*. */
int wb_tls_read(wb_tls *t, void *buf, size_t n, size_t *done, char *err, size_t err_size);

/* "TLSv1.3". */
const char *wb_tls_protocol(const wb_tls *t);

/* Frees the session and context. graceful: first try to send close_notify (without
 * waiting); pass 0 after a fatal error. Does not close the socket. NULL is a no-op. */
void wb_tls_free(wb_tls *t, int graceful);

#endif
