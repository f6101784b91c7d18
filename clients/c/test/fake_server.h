/* fake_server.h - a scriptable Waybill server for tests: one thread, loopback port. */
#ifndef WAYBILL_FAKE_SERVER_H
#define WAYBILL_FAKE_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "waybill.h"

typedef void (*fs_handler)(int fd, void *arg);

/* A TLS server: the handler's fd functions below then read and write through TLS. */
typedef struct fs_tls_options {
    const char *cert_file, *key_file; /* PEM */
    const char *client_ca_file;       /* non-NULL: a client certificate signed by it is required */
    int max_version;                  /* e.g. TLS1_2_VERSION; 0: OpenSSL's default */
} fs_tls_options;

typedef struct fake_server {
    int listen_fd;
    int port;
    int connections; /* connections to accept before the thread ends */
    pthread_t thread;
    fs_handler handler;
    void *arg;
    void *tls_ctx;            /* SSL_CTX *, or NULL for plaintext */
    /* What the last TLS connection showed (read after fs_join). */
    int tls_handshakes_failed;
    char tls_error[256];       /* the last failed handshake's reason */
    char tls_sni[256];         /* server name the client sent, "" for none */
    char tls_peer_cn[256];     /* the client certificate's common name, "" for none */
} fake_server;

/* Listens on 127.0.0.1:port (0 = an ephemeral port) and serves `connections` connections one after
 * another in a thread, calling handler(fd, arg) for each, then closing it. */
int fs_start(fake_server *s, int port, int connections, fs_handler handler, void *arg);
/* The same over TLS (tls may be NULL: plaintext). A connection whose handshake fails counts as
 * served: the server notes why, reads until the client closes, and does not call handler.
 * SIGPIPE is blocked in the server's thread only, so a client that raised it would still die. */
int fs_start_tls(fake_server *s, int port, int connections, fs_handler handler, void *arg,
                 const fs_tls_options *tls);
void fs_join(fake_server *s);

/* Next request envelope; NULL on EOF or a bad frame. Free with
 * waybill__v1__request_envelope__free_unpacked(env, NULL). */
Waybill__V1__RequestEnvelope *fs_read_request(int fd);

int fs_send_raw(int fd, const void *bytes, size_t n);
/* A well-formed frame (flag 0, length) around arbitrary envelope bytes. */
int fs_send_frame(int fd, const void *bytes, size_t n);
/* A ResponseEnvelope; payload may be NULL, message NULL for "". */
int fs_send_response(int fd, uint64_t call_id, int code, const char *message,
                     const ProtobufCMessage *payload, int end_of_stream);
/* Same with raw payload bytes. */
int fs_send_response_bytes(int fd, uint64_t call_id, int code, const char *message,
                           const void *payload, size_t payload_len, int end_of_stream);
/* Blocks until the peer closes the connection. */
void fs_wait_close(int fd);

#endif
