/* fake_server.h - a scriptable Waybill server for tests: one thread, loopback port. */
#ifndef WAYBILL_FAKE_SERVER_H
#define WAYBILL_FAKE_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "waybill.h"

typedef void (*fs_handler)(int fd, void *arg);

typedef struct fake_server {
    int listen_fd;
    int port;
    int connections; /* connections to accept before the thread ends */
    pthread_t thread;
    fs_handler handler;
    void *arg;
} fake_server;

/* Listens on 127.0.0.1:port (0 = an ephemeral port) and serves `connections` connections one after
 * another in a thread, calling handler(fd, arg) for each, then closing it. */
int fs_start(fake_server *s, int port, int connections, fs_handler handler, void *arg);
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
