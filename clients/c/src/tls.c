/* tls.c - see tls.h. */
#define _POSIX_C_SOURCE 200809L

#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

enum {
    OK = WAYBILL__V1__STATUS_CODE__OK,
    INVALID_ARGUMENT = WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT,
    RESOURCE_EXHAUSTED = WAYBILL__V1__STATUS_CODE__RESOURCE_EXHAUSTED,
};

struct wb_tls {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    int eof;      /* recv returned 0 */
    int io_errno; /* errno of the last failed send/recv other than "would block" */
    int failed;   /* a fatal TLS error: no close_notify may follow */
    char name[256];
};

/* ---- a socket BIO that never raises SIGPIPE ----
 * OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when the server has
 * closed; a library must not change the application's signal handling, so we send with
 * MSG_NOSIGNAL ourselves. */

static BIO_METHOD *socket_method;
static pthread_once_t socket_method_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *buf, int n) {
    wb_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t w = send(t->fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
        else t->io_errno = errno;
    }
    return (int)w;
}

static int bio_read(BIO *b, char *buf, int n) {
    wb_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t r = recv(t->fd, buf, (size_t)n, 0);
    if (r == 0) t->eof = 1;
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(b);
        else t->io_errno = errno;
    }
    return (int)r;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1; /* nothing buffered here */
    case BIO_CTRL_EOF: return ((wb_tls *)BIO_get_data(b))->eof; /* read EOF: peer closed */
    default: return 0;
    }
}

static void make_socket_method(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "waybill socket");
    if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
        BIO_meth_set_ctrl(m, bio_ctrl))
        socket_method = m;
    else if (m)
        BIO_meth_free(m);
}

/* ---- errors ---- */

/* The reason of the oldest queued OpenSSL error ("wrong version number"), then clears the
 * queue; `fallback` when it is empty. */
static const char *queued_reason(char *buf, size_t size, const char *fallback) {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return fallback;
    const char *reason = ERR_reason_error_string(e);
    if (reason) return reason;
    ERR_error_string_n(e, buf, size);
    return buf;
}

/* Maps the result of an SSL_* call to a WB_TLS_* value, filling err. */
static int step_result(wb_tls *t, int ret, char *err, size_t err_size) {
    char buf[256];
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ: return WB_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return WB_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: /* close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF) */
        snprintf(err, err_size, "connection closed by the server");
        return WB_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        t->failed = 1;
        ERR_clear_error();
        if (t->io_errno) {
            snprintf(err, err_size, "%s", strerror(t->io_errno));
            return WB_TLS_ERROR;
        }
        snprintf(err, err_size, "connection closed by the server");
        return WB_TLS_CLOSED;
    default: {
        t->failed = 1;
        unsigned long e = ERR_peek_error();
        if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            snprintf(err, err_size, "connection closed by the server");
            return WB_TLS_CLOSED;
        }
        snprintf(err, err_size, "%s", queued_reason(buf, sizeof buf, "TLS error"));
        return WB_TLS_ERROR;
    }
    }
}

static int is_ip_address(const char *name) {
    unsigned char addr[16];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* ---- public (library-internal) ---- */

int wb_tls_requested(const waybill_options *o) {
    return o && (o->tls || o->tls_ca_file || o->tls_server_name || o->tls_cert_file ||
                 o->tls_key_file);
}

int wb_tls_new(const char *host, const waybill_options *o, wb_tls **out, char *err,
               size_t err_size) {
    char buf[256];
    *out = NULL;
    const char *name = o->tls_server_name ? o->tls_server_name : host;
    if (!*name || strlen(name) >= sizeof((wb_tls *)0)->name) {
        snprintf(err, err_size, "tls_server_name must be a host name or IP address");
        return INVALID_ARGUMENT;
    }
    if (!o->tls_cert_file != !o->tls_key_file) {
        snprintf(err, err_size, "tls_cert_file and tls_key_file go together (mutual TLS)");
        return INVALID_ARGUMENT;
    }
    pthread_once(&socket_method_once, make_socket_method);
    wb_tls *t = calloc(1, sizeof *t);
    if (!t || !socket_method) {
        free(t);
        snprintf(err, err_size, "out of memory");
        return RESOURCE_EXHAUSTED;
    }
    t->fd = -1;
    snprintf(t->name, sizeof t->name, "%s", name);
    ERR_clear_error();
    int code = INVALID_ARGUMENT;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx) {
        snprintf(err, err_size, "cannot create a TLS context: %s",
                 queued_reason(buf, sizeof buf, "unknown error"));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    /* Frames carry their own lengths, so an EOF without close_notify is detected where it
     * matters (mid-frame) and treated as a close elsewhere. */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (o->tls_ca_file) {
        if (SSL_CTX_load_verify_locations(t->ctx, o->tls_ca_file, NULL) != 1) {
            snprintf(err, err_size, "cannot load the CA bundle %s: %s", o->tls_ca_file,
                     queued_reason(buf, sizeof buf, "unreadable"));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        snprintf(err, err_size, "cannot load the system's CA certificates: %s",
                 queued_reason(buf, sizeof buf, "unknown error"));
        goto fail;
    }
    if (o->tls_cert_file) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->tls_cert_file) != 1) {
            snprintf(err, err_size, "cannot load the client certificate %s: %s", o->tls_cert_file,
                     queued_reason(buf, sizeof buf, "unreadable"));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, o->tls_key_file, SSL_FILETYPE_PEM) != 1) {
            snprintf(err, err_size, "cannot load the client key %s: %s", o->tls_key_file,
                     queued_reason(buf, sizeof buf, "unreadable"));
            goto fail;
        }
        if (SSL_CTX_check_private_key(t->ctx) != 1) {
            snprintf(err, err_size, "the client key %s does not match the certificate %s",
                     o->tls_key_file, o->tls_cert_file);
            ERR_clear_error();
            goto fail;
        }
    }
    t->ssl = SSL_new(t->ctx);
    BIO *bio = BIO_new(socket_method);
    if (!t->ssl || !bio) {
        BIO_free(bio);
        snprintf(err, err_size, "out of memory");
        code = RESOURCE_EXHAUSTED;
        goto fail;
    }
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(t->ssl, bio, bio); /* the session owns the BIO now */
    if (is_ip_address(name)) {
        /* An IP address is matched against the certificate's IP SANs; SNI carries no IPs. */
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) != 1) {
            snprintf(err, err_size, "bad IP address %s", name);
            goto fail;
        }
    } else {
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(t->ssl, name) != 1 || SSL_set_tlsext_host_name(t->ssl, name) != 1) {
            snprintf(err, err_size, "bad server name %s", name);
            goto fail;
        }
    }
    SSL_set_connect_state(t->ssl);
    ERR_clear_error();
    *out = t;
    return OK;
fail:
    ERR_clear_error();
    wb_tls_free(t, 0);
    return code;
}

void wb_tls_set_fd(wb_tls *t, int fd) { t->fd = fd; }

int wb_tls_handshake(wb_tls *t, char *err, size_t err_size) {
    ERR_clear_error();
    t->io_errno = 0;
    int ret = SSL_do_handshake(t->ssl);
    if (ret == 1) return WB_TLS_DONE;
    int r = step_result(t, ret, err, err_size);
    long verify = SSL_get_verify_result(t->ssl);
    if ((r == WB_TLS_ERROR || r == WB_TLS_CLOSED) && verify != X509_V_OK) {
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
            snprintf(err, err_size, "server certificate not valid for %s: %s", t->name,
                     X509_verify_cert_error_string(verify));
        else
            snprintf(err, err_size, "server certificate not verified: %s",
                     X509_verify_cert_error_string(verify));
        r = WB_TLS_ERROR;
    }
    return r;
}

int wb_tls_write(wb_tls *t, const void *buf, size_t n, size_t *done, char *err, size_t err_size) {
    ERR_clear_error();
    t->io_errno = 0;
    *done = 0;
    int ret = SSL_write_ex(t->ssl, buf, n, done);
    return ret == 1 ? WB_TLS_DONE : step_result(t, ret, err, err_size);
}

int wb_tls_read(wb_tls *t, void *buf, size_t n, size_t *done, char *err, size_t err_size) {
    ERR_clear_error();
    t->io_errno = 0;
    *done = 0;
    int ret = SSL_read_ex(t->ssl, buf, n, done);
    return ret == 1 ? WB_TLS_DONE : step_result(t, ret, err, err_size);
}

const char *wb_tls_protocol(const wb_tls *t) { return SSL_get_version(t->ssl); }

void wb_tls_free(wb_tls *t, int graceful) {
    if (!t) return;
    if (t->ssl) {
        if (graceful && !t->failed && SSL_is_init_finished(t->ssl)) {
            SSL_shutdown(t->ssl); /* one attempt to send close_notify; never waits */
            ERR_clear_error();
        }
        SSL_free(t->ssl);
    }
    SSL_CTX_free(t->ctx);
    free(t);
}
