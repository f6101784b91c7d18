/* fake_server.c - see fake_server.h. */
#define _POSIX_C_SOURCE 200809L

#include "fake_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *serve(void *p) {
    fake_server *s = p;
    for (int i = 0; i < s->connections; i++) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) { i--; continue; }
            break;
        }
        s->handler(fd, s->arg);
        close(fd);
    }
    return NULL;
}

int fs_start(fake_server *s, int port, int connections, fs_handler handler, void *arg) {
    memset(s, 0, sizeof *s);
    s->connections = connections;
    s->handler = handler;
    s->arg = arg;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0) return -1;
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
        return -1;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, serve, s)) {
        close(s->listen_fd);
        return -1;
    }
    return 0;
}

void fs_join(fake_server *s) {
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

static int read_all(int fd, uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
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
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
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
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r > 0 || (r < 0 && errno == EINTR)) continue;
        break;
    }
}
