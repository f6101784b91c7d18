/* test_tls.c - libwaybill's TLS and bearer token against fake servers with the certificates of
 * test/make-certs.sh (part of build/test_waybill). */
#define _POSIX_C_SOURCE 200809L

#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

enum { UNAVAILABLE = WAYBILL__V1__STATUS_CODE__UNAVAILABLE,
       INVALID_ARGUMENT = WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT,
       DEADLINE_EXCEEDED = WAYBILL__V1__STATUS_CODE__DEADLINE_EXCEEDED,
       INTERNAL = WAYBILL__V1__STATUS_CODE__INTERNAL };

/* Answers GetOrder calls until the client closes. */
static void h_get_orders(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *env;
    while ((env = fs_read_request(fd)) != NULL) {
        answer_get_order(fd, env);
        free_request(env);
    }
}

/* One GetOrder through a fresh client; returns its code (st set; connect errors included). */
static int get_order_with(const char *host, int port, const waybill_options *o, waybill_status *st) {
    waybill_client *c = waybill_connect(host, port, o, st);
    if (!c) return st->code;
    Waybill__V1__Order *order = NULL;
    int rc = waybill_get_order(c, "W-1", &order, st);
    if (rc == 0) CHECK(order && strcmp(order->order_id, "W-1") == 0);
    if (order) waybill__v1__order__free_unpacked(order, NULL);
    waybill_close(c);
    return rc;
}

static fs_tls_options server_tls(const char *name) {
    static char cert_file[512], key_file[512];
    snprintf(cert_file, sizeof cert_file, "%s", cert(name));
    char key_name[64];
    snprintf(key_name, sizeof key_name, "%.*s.key", (int)(strlen(name) - 4), name);
    snprintf(key_file, sizeof key_file, "%s", cert(key_name));
    fs_tls_options o = {.cert_file = cert_file, .key_file = key_file};
    return o;
}

/* ---------------------------------------------------------------- verification */

void test_tls_verification(void) {
    fs_tls_options tls = server_tls("server.pem");
    fake_server s;
    CHECK(fs_start_tls(&s, 0, 6, h_get_orders, NULL, &tls) == 0);
    waybill_status st;
    struct {
        const char *name, *host, *ca, *server_name;
        int code;
        const char *fragment;
    } cases[] = {
        {"another CA's bundle", "127.0.0.1", "other-ca.pem", NULL, UNAVAILABLE,
         "server certificate not verified: unable to get local issuer certificate"},
        {"the system's CAs (the test CA is not among them)", "127.0.0.1", NULL, NULL, UNAVAILABLE,
         "server certificate not verified"},
        {"a DNS name the certificate lacks", "127.0.0.1", "ca.pem", "wrong.example", UNAVAILABLE,
         "not valid for wrong.example: hostname mismatch"},
        {"an IP address the certificate lacks", "127.0.0.1", "ca.pem", "127.0.0.2", UNAVAILABLE,
         "not valid for 127.0.0.2: IP address mismatch"},
        {"its IP address", "127.0.0.1", "ca.pem", NULL, 0, NULL},
        {"its DNS name", "localhost", "ca.pem", NULL, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  - %s\n", cases[i].name);
        waybill_options o = {.connect_timeout_ms = 10000, /* loading the system CAs under valgrind, loaded: > 3 s */
                             .call_timeout_ms = CALL_TIMEOUT_MS,
                             .tls = 1,
                             .tls_ca_file = cases[i].ca ? cert(cases[i].ca) : NULL,
                             .tls_server_name = cases[i].server_name};
        get_order_with(cases[i].host, s.port, &o, &st);
        CHECK_CODE(st, cases[i].code);
        if (cases[i].fragment) {
            CHECK_MESSAGE(st, "TLS handshake with ");
            CHECK_MESSAGE(st, cases[i].fragment);
        }
    }
    fs_join(&s);
    CHECK(s.tls_handshakes_failed == 4);
    CHECK(strcmp(s.tls_sni, "localhost") == 0); /* the DNS name went as SNI (an IP does not) */

    fprintf(stderr, "  - an expired certificate\n");
    fs_tls_options expired = server_tls("expired.pem");
    CHECK(fs_start_tls(&s, 0, 1, h_get_orders, NULL, &expired) == 0);
    waybill_options o = {.tls_ca_file = cert("ca.pem"), .call_timeout_ms = CALL_TIMEOUT_MS};
    get_order_with("127.0.0.1", s.port, &o, &st);
    CHECK_CODE(st, UNAVAILABLE);
    CHECK_MESSAGE(st, "server certificate not verified: certificate has expired");
    fs_join(&s);
}

/* ---------------------------------------------------------------- mutual TLS */

void test_tls_mutual(void) {
    fs_tls_options tls = server_tls("server.pem");
    tls.client_ca_file = cert("ca.pem");
    fake_server s;
    CHECK(fs_start_tls(&s, 0, 3, h_get_orders, NULL, &tls) == 0);
    waybill_status st;
    waybill_options o = {.call_timeout_ms = CALL_TIMEOUT_MS, .tls_ca_file = cert("ca.pem")};

    /* TLS 1.3: the client's handshake completes before the server judges its certificate, so
     * the refusal (the server's alert) arrives with the first call. */
    fprintf(stderr, "  - no client certificate\n");
    get_order_with("127.0.0.1", s.port, &o, &st);
    CHECK_CODE(st, UNAVAILABLE);
    CHECK_MESSAGE(st, "certificate required");

    fprintf(stderr, "  - a client certificate of another CA\n");
    o.tls_cert_file = cert("other-client.pem");
    o.tls_key_file = cert("other-client.key");
    get_order_with("127.0.0.1", s.port, &o, &st);
    CHECK_CODE(st, UNAVAILABLE);
    CHECK_MESSAGE(st, "unknown ca");

    fprintf(stderr, "  - the right client certificate\n");
    o.tls_cert_file = cert("client.pem");
    o.tls_key_file = cert("client.key");
    get_order_with("127.0.0.1", s.port, &o, &st);
    CHECK_CODE(st, 0);
    fs_join(&s);
    CHECK(s.tls_handshakes_failed == 2);
    CHECK(strcmp(s.tls_peer_cn, "test-client") == 0);

    /* Unusable files are refused before connecting (port 1: nothing listens there). */
    fprintf(stderr, "  - unusable certificate, key and CA files\n");
    waybill_options bad = o;
    bad.tls_key_file = NULL;
    CHECK(waybill_connect("127.0.0.1", 1, &bad, &st) == NULL);
    CHECK_CODE(st, INVALID_ARGUMENT);
    CHECK_MESSAGE(st, "tls_cert_file and tls_key_file go together");
    bad = o;
    bad.tls_key_file = cert("server.key");
    CHECK(waybill_connect("127.0.0.1", 1, &bad, &st) == NULL);
    CHECK_CODE(st, INVALID_ARGUMENT);
    CHECK_MESSAGE(st, "key values mismatch");
    bad = o;
    bad.tls_cert_file = cert("no-such.pem");
    CHECK(waybill_connect("127.0.0.1", 1, &bad, &st) == NULL);
    CHECK_CODE(st, INVALID_ARGUMENT);
    CHECK_MESSAGE(st, "cannot load the client certificate");
    CHECK_MESSAGE(st, "no-such.pem");
    bad = o;
    bad.tls_ca_file = cert("no-such-ca.pem");
    CHECK(waybill_connect("127.0.0.1", 1, &bad, &st) == NULL);
    CHECK_CODE(st, INVALID_ARGUMENT);
    CHECK_MESSAGE(st, "cannot load the CA bundle");
    CHECK_MESSAGE(st, "no-such-ca.pem");
    bad = o;
    bad.tls_ca_file = cert("client.key"); /* not a certificate */
    CHECK(waybill_connect("127.0.0.1", 1, &bad, &st) == NULL);
    CHECK_CODE(st, INVALID_ARGUMENT);
}

/* ---------------------------------------------------------------- versions */

void test_tls_versions(void) {
    waybill_status st;
    waybill_options o = {.call_timeout_ms = CALL_TIMEOUT_MS, .tls_ca_file = cert("ca.pem")};
    fake_server s;
    fs_tls_options tls = server_tls("server.pem");
    tls.max_version = TLS1_2_VERSION;
    CHECK(fs_start_tls(&s, 0, 1, h_get_orders, NULL, &tls) == 0);
    waybill_client *c = waybill_connect("127.0.0.1", s.port, &o, &st);
    CHECK_CODE(st, 0);
    const char *version = waybill_tls_protocol(c);
    CHECK(version && strcmp(version, "TLSv1.2") == 0);
    Waybill__V1__Order *order = NULL;
    CHECK(waybill_get_order(c, "W-12", &order, &st) == 0);
    if (order) waybill__v1__order__free_unpacked(order, NULL);
    waybill_close(c);
    fs_join(&s);

    tls.max_version = TLS1_1_VERSION;
    CHECK(fs_start_tls(&s, 0, 1, h_get_orders, NULL, &tls) == 0);
    CHECK(waybill_connect("127.0.0.1", s.port, &o, &st) == NULL);
    CHECK_CODE(st, UNAVAILABLE);
    CHECK_MESSAGE(st, "TLS handshake with ");
    fs_join(&s);
    CHECK(s.tls_handshakes_failed == 1);
}

/* ---------------------------------------------------------------- wrong transport */

/* A plaintext server's answer to bytes that are not a frame: a connection-level error. */
static void h_refuse_non_frames(int fd, void *arg) {
    (void)arg;
    Waybill__V1__RequestEnvelope *env = fs_read_request(fd);
    CHECK(env == NULL); /* a TLS ClientHello is no frame */
    free_request(env);
    fs_send_response(fd, 0, WAYBILL__V1__STATUS_CODE__INVALID_ARGUMENT, "bad frame", NULL, 1);
    fs_wait_close(fd);
}

/* What some TLS servers answer to a plaintext frame: a fatal protocol_version alert record. */
static void h_tls_alert(int fd, void *arg) {
    (void)arg;
    static const unsigned char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46};
    fs_send_raw(fd, alert, sizeof alert);
    fs_wait_close(fd);
}

void test_tls_wrong_transport(void) {
    waybill_status st;
    fake_server s;
    fprintf(stderr, "  - TLS client, plaintext server\n");
    CHECK(fs_start(&s, 0, 1, h_refuse_non_frames, NULL) == 0);
    waybill_options o = {.call_timeout_ms = CALL_TIMEOUT_MS, .tls_ca_file = cert("ca.pem")};
    CHECK(waybill_connect("127.0.0.1", s.port, &o, &st) == NULL);
    CHECK_CODE(st, UNAVAILABLE);
    CHECK_MESSAGE(st, "TLS handshake with ");
    fs_join(&s);

    fprintf(stderr, "  - plaintext client, TLS server\n");
    fs_tls_options tls = server_tls("server.pem");
    CHECK(fs_start_tls(&s, 0, 1, h_get_orders, NULL, &tls) == 0);
    waybill_options plain = {.call_timeout_ms = CALL_TIMEOUT_MS};
    get_order_with("127.0.0.1", s.port, &plain, &st);
    CHECK_CODE(st, UNAVAILABLE); /* OpenSSL closes without an alert for a non-TLS record */
    fs_join(&s);
    CHECK(s.tls_handshakes_failed == 1);

    fprintf(stderr, "  - plaintext client, a TLS alert in answer\n");
    CHECK(fs_start(&s, 0, 1, h_tls_alert, NULL) == 0);
    get_order_with("127.0.0.1", s.port, &plain, &st);
    CHECK_CODE(st, INTERNAL);
    CHECK_MESSAGE(st, "bad frame flag byte 21");
    CHECK_MESSAGE(st, "it looks like TLS: does the server need TLS?");
    fs_join(&s);
}

/* ---------------------------------------------------------------- handshake deadline */

static void h_silent(int fd, void *arg) {
    (void)arg;
    fs_wait_close(fd);
}

void test_tls_handshake_timeout(void) {
    fake_server s;
    CHECK(fs_start(&s, 0, 1, h_silent, NULL) == 0);
    waybill_status st;
    waybill_options o = {.connect_timeout_ms = 300, .tls_ca_file = cert("ca.pem")};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(waybill_connect("127.0.0.1", s.port, &o, &st) == NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK_CODE(st, DEADLINE_EXCEEDED);
    CHECK_MESSAGE(st, "TLS handshake with ");
    CHECK_MESSAGE(st, "timed out after 300 ms");
    CHECK(ms >= 250 && ms < 5000);
    fs_join(&s);
}

/* ---------------------------------------------------------------- SIGPIPE */

static void h_close_at_once(int fd, void *arg) {
    (void)fd;
    (void)arg;
}

/* SIGPIPE keeps its default action (terminate) in this thread: if a TLS write used write(2)
 * on the socket the server closed, the test process would die here. */
void test_tls_no_sigpipe(void) {
    fs_tls_options tls = server_tls("server.pem");
    fake_server s;
    CHECK(fs_start_tls(&s, 0, 1, h_close_at_once, NULL, &tls) == 0);
    waybill_status st;
    waybill_options o = {.call_timeout_ms = CALL_TIMEOUT_MS, .tls_ca_file = cert("ca.pem")};
    waybill_client *c = waybill_connect("127.0.0.1", s.port, &o, &st);
    CHECK_CODE(st, 0);
    fs_join(&s); /* the server has closed its end */
    char *big = malloc(3u << 20);
    if (!big) abort();
    memset(big, 'x', (3u << 20) - 1);
    big[(3u << 20) - 1] = '\0';
    Waybill__V1__Order order = WAYBILL__V1__ORDER__INIT;
    order.external_order_id = big;
    CHECK(waybill_capture_order(c, &order, NULL, &st) == UNAVAILABLE);
    free(big);
    waybill_close(c);
}

/* ---------------------------------------------------------------- token */

typedef struct {
    int connections;
    char authorization[2][WAYBILL_TOKEN_BYTES_MAX + 16]; /* per connection; "-" = none */
} seen_tokens;

static void h_record_token(int fd, void *arg) {
    seen_tokens *seen = arg;
    Waybill__V1__RequestEnvelope *env = fs_read_request(fd);
    if (!env) return;
    const char *auth = metadata(env, "authorization");
    if (seen->connections < 2)
        snprintf(seen->authorization[seen->connections], sizeof seen->authorization[0], "%s",
                 auth ? auth : "-");
    seen->connections++;
    answer_get_order(fd, env);
    free_request(env);
    fs_wait_close(fd);
}

void test_token(void) {
    waybill_status st;
    char long_token[WAYBILL_TOKEN_BYTES_MAX + 2];
    memset(long_token, 'k', sizeof long_token - 1);
    long_token[sizeof long_token - 1] = '\0'; /* one over the maximum */
    const char *bad[] = {"", "wbt_with space", "wbt_with\nnewline", "wbt_\x7f", long_token};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        waybill_options o = {.token = bad[i]};
        /* Refused before connecting: port 1 would otherwise be UNAVAILABLE. */
        CHECK(waybill_connect("127.0.0.1", 1, &o, &st) == NULL);
        CHECK_CODE(st, INVALID_ARGUMENT);
        CHECK(!strstr(st.message, "wbt_") && !strstr(st.message, "kkkk")); /* never echoed */
    }

    seen_tokens seen = {0};
    fake_server s;
    CHECK(fs_start(&s, 0, 2, h_record_token, &seen) == 0);
    long_token[WAYBILL_TOKEN_BYTES_MAX] = '\0'; /* exactly the maximum */
    waybill_options with = {.token = long_token, .call_timeout_ms = CALL_TIMEOUT_MS};
    get_order_with("127.0.0.1", s.port, &with, &st);
    CHECK_CODE(st, 0);
    waybill_options without = {.call_timeout_ms = CALL_TIMEOUT_MS};
    get_order_with("127.0.0.1", s.port, &without, &st);
    CHECK_CODE(st, 0);
    fs_join(&s);
    CHECK(seen.connections == 2);
    CHECK(strncmp(seen.authorization[0], "Bearer ", 7) == 0 &&
          strcmp(seen.authorization[0] + 7, long_token) == 0);
    CHECK(strcmp(seen.authorization[1], "-") == 0);
}
