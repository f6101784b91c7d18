/* fake_server.c - see fake_server.h. */
#define _POSIX_C_SOURCE 200809L

#include "fake_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The TLS session of the connection this server thread is serving, if any: the fd functions
 * below go through it. */
static _Thread_local SSL *current_tls;

static void tls_reason(char *out, size_t size, const char *fallback) {
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, size, "%s", r ? r : fallback);
    ERR_clear_error();
}

static void serve_tls(fake_server *s, int fd) {
    SSL *ssl = SSL_new(s->tls_ctx);
    if (!ssl) return;
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    if (SSL_accept(ssl) != 1) {
        s->tls_handshakes_failed++;
        tls_reason(s->tls_error, sizeof s->tls_error, "handshake failed");
        SSL_free(ssl);
        /* Close our side (after the alert, if OpenSSL sent one) but read until the client
         * closes, so no reset can destroy the alert before the client reads it. */
        shutdown(fd, SHUT_WR);
        fs_wait_close(fd);
        return;
    }
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    snprintf(s->tls_sni, sizeof s->tls_sni, "%s", sni ? sni : "");
    s->tls_peer_cn[0] = '\0';
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, s->tls_peer_cn,
                                  sizeof s->tls_peer_cn);
        X509_free(peer);
    }
    current_tls = ssl;
    s->handler(fd, s->arg);
    current_tls = NULL;
    SSL_shutdown(ssl);
    SSL_free(ssl);
}

static void *serve(void *p) {
    fake_server *s = p;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    for (int i = 0; i < s->connections; i++) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) { i--; continue; }
            break;
        }
        if (s->tls_ctx) serve_tls(s, fd);
        else s->handler(fd, s->arg);
        close(fd);
    }
    return NULL;
}

static SSL_CTX *server_context(const fs_tls_options *o) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return NULL;
    if (o->max_version) {
        if (o->max_version < TLS1_2_VERSION) {
            SSL_CTX_set_security_level(ctx, 0); /* OpenSSL 3 refuses TLS < 1.2 otherwise */
            SSL_CTX_set_min_proto_version(ctx, 0);
        }
        SSL_CTX_set_max_proto_version(ctx, o->max_version);
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1)
        goto fail;
    if (o->client_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, o->client_ca_file, NULL) != 1) goto fail;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    return NULL;
}

int fs_start(fake_server *s, int port, int connections, fs_handler handler, void *arg) {
    return fs_start_tls(s, port, connections, handler, arg, NULL);
}

int fs_start_tls(fake_server *s, int port, int connections, fs_handler handler, void *arg,
                 const fs_tls_options *tls) {
    memset(s, 0, sizeof *s);
    s->connections = connections;
    s->handler = handler;
    s->arg = arg;
    if (tls && !(s->tls_ctx = server_context(tls))) return -1;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0) {
        SSL_CTX_free(s->tls_ctx);
        return -1;
    }
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    socklen_t len = sizeof a;
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->listen_fd, 8) < 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &len) < 0) {
        close(s->listen_fd);
        SSL_CTX_free(s->tls_ctx);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, serve, s)) {
        close(s->listen_fd);
        SSL_CTX_free(s->tls_ctx);
        return -1;
    }
    return 0;
}

void fs_join(fake_server *s) {
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    SSL_CTX_free(s->tls_ctx);
    s->tls_ctx = NULL;
}

/* A failed TLS read or write ends the connection: never retried as EINTR. */
static ssize_t tls_failed(void) {
    ERR_clear_error();
    errno = 0;
    return -1;
}

/* recv/send, or SSL_read/SSL_write on a TLS connection (blocking sockets either way). */
static ssize_t fs_recv(int fd, void *p, size_t n) {
    if (!current_tls) return recv(fd, p, n, 0);
    size_t got = 0;
    return SSL_read_ex(current_tls, p, n, &got) == 1 ? (ssize_t)got : tls_failed();
}

static ssize_t fs_send(int fd, const void *p, size_t n) {
    if (!current_tls) return send(fd, p, n, MSG_NOSIGNAL);
    size_t put = 0;
    return SSL_write_ex(current_tls, p, n, &put) == 1 ? (ssize_t)put : tls_failed();
}

static int read_all(int fd, uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t r = fs_recv(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

Waybill__V1__RequestEnvelope *fs_read_request(int fd) {
    uint8_t h[5];
    if (read_all(fd, h, 5) || h[0] != 0) return NULL;
    uint32_t n = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
    if (n > WAYBILL_DEFAULT_MAX_FRAME_BYTES) return NULL;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return NULL;
    Waybill__V1__RequestEnvelope *env = NULL;
    if (read_all(fd, b, n) == 0) env = waybill__v1__request_envelope__unpack(NULL, n, b);
    free(b);
    return env;
}

int fs_send_raw(int fd, const void *bytes, size_t n) {
    const uint8_t *p = bytes;
    while (n > 0) {
        ssize_t w = fs_send(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int fs_send_frame(int fd, const void *bytes, size_t n) {
    uint8_t *f = malloc(5 + n);
    if (!f) return -1;
    f[0] = 0;
    f[1] = (uint8_t)(n >> 24);
    f[2] = (uint8_t)(n >> 16);
    f[3] = (uint8_t)(n >> 8);
    f[4] = (uint8_t)n;
    if (n) memcpy(f + 5, bytes, n);
    int rc = fs_send_raw(fd, f, 5 + n);
    free(f);
    return rc;
}

int fs_send_response_bytes(int fd, uint64_t call_id, int code, const char *message,
                           const void *payload, size_t payload_len, int end_of_stream) {
    Waybill__V1__Status status = WAYBILL__V1__STATUS__INIT;
    status.code = (Waybill__V1__StatusCode)code;
    status.message = (char *)(message ? message : "");
    Waybill__V1__ResponseEnvelope env = WAYBILL__V1__RESPONSE_ENVELOPE__INIT;
    env.call_id = call_id;
    env.status = &status;
    env.payload.data = (uint8_t *)payload;
    env.payload.len = payload_len;
    env.end_of_stream = end_of_stream ? 1 : 0;
    env.protocol_version = WAYBILL__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_1;
    size_t n = waybill__v1__response_envelope__get_packed_size(&env);
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return -1;
    waybill__v1__response_envelope__pack(&env, b);
    int rc = fs_send_frame(fd, b, n);
    free(b);
    return rc;
}

int fs_send_response(int fd, uint64_t call_id, int code, const char *message,
                     const ProtobufCMessage *payload, int end_of_stream) {
    uint8_t *b = NULL;
    size_t n = 0;
    if (payload) {
        n = protobuf_c_message_get_packed_size(payload);
        b = malloc(n ? n : 1);
        if (!b) return -1;
        protobuf_c_message_pack(payload, b);
    }
    int rc = fs_send_response_bytes(fd, call_id, code, message, b, n, end_of_stream);
    free(b);
    return rc;
}

void fs_wait_close(int fd) {
    uint8_t b[256];
    for (;;) {
        errno = 0;
        ssize_t r = fs_recv(fd, b, sizeof b);
        if (r > 0 || (r < 0 && errno == EINTR)) continue;
        break;
    }
}
