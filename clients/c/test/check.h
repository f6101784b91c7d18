/* check.h - what the C client's test files share: checks, the transport the tests run over,
 * and helpers around the fake server (defined in test_waybill.c). */
#ifndef WAYBILL_TEST_CHECK_H
#define WAYBILL_TEST_CHECK_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "fake_server.h"
#include "waybill.h"

extern atomic_int failures;
extern atomic_int checks;

#define CHECK(cond)                                                               \
    do {                                                                          \
        atomic_fetch_add(&checks, 1);                                             \
        if (!(cond)) {                                                            \
            atomic_fetch_add(&failures, 1);                                       \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                         \
    } while (0)

#define CHECK_CODE(st, expected)                                                          \
    do {                                                                                  \
        atomic_fetch_add(&checks, 1);                                                     \
        if ((st).code != (expected)) {                                                    \
            atomic_fetch_add(&failures, 1);                                               \
            fprintf(stderr, "  FAIL %s:%d: expected %s, got %s: %s\n", __FILE__, __LINE__, \
                    waybill_code_name(expected), waybill_code_name((st).code),            \
                    (st).message);                                                        \
        }                                                                                 \
    } while (0)

/* Text that must (or must not) be in a status message. */
#define CHECK_MESSAGE(st, fragment)                                                  \
    do {                                                                             \
        atomic_fetch_add(&checks, 1);                                                \
        if (!strstr((st).message, (fragment))) {                                     \
            atomic_fetch_add(&failures, 1);                                          \
            fprintf(stderr, "  FAIL %s:%d: message '%s' lacks '%s'\n", __FILE__, __LINE__, \
                    (st).message, (fragment));                                       \
        }                                                                            \
    } while (0)

enum { CALL_TIMEOUT_MS = 3000 };

/* The token connect_to() sends; expect_request() checks it arrives on every request. */
#define TEST_TOKEN "wbt_c-client-test-token_0123456789"

/* Non-zero: start_server() serves TLS with the test certificates and connect_to() verifies
 * them (the transport-neutral tests run once in each mode). */
extern int over_tls;

/* DIR/name of the certificates test/make-certs.sh made (a static buffer per call slot). */
const char *cert(const char *name);

int start_server(fake_server *s, int connections, fs_handler handler, void *arg);
waybill_client *connect_to(const fake_server *s, int call_timeout_ms, uint32_t max_frame);
const char *metadata(const Waybill__V1__RequestEnvelope *env, const char *key);
/* A request the test expects (method NULL: any), with client-id and the bearer token checked;
 * NULL (and a failure) if the client sent something else. */
Waybill__V1__RequestEnvelope *expect_request(int fd, const char *method);
void free_request(Waybill__V1__RequestEnvelope *env);
/* Answers a GetOrder request with an order whose id is the one asked for. */
void answer_get_order(int fd, const Waybill__V1__RequestEnvelope *env);

/* The TLS and token tests (test_tls.c). */
void test_tls_verification(void);
void test_tls_mutual(void);
void test_tls_versions(void);
void test_tls_wrong_transport(void);
void test_tls_handshake_timeout(void);
void test_tls_no_sigpipe(void);
void test_token(void);

#endif
