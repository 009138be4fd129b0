/*
 * test_conn.c — unit tests of the socket core c4_conn on a bare libuv loop
 * (no driver, no Lua): open/data/closed events, exactly-once close
 * notification with its status, flush vs. reset, half-close, the write queue
 * and back-pressure, listeners that close without touching accepted
 * connections, and the TLS filter (handshake before open, refused handshakes
 * never opening).  Certificates as in test_tls.c (C4EMU_CERTS, default
 * build/certs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "net/c4_conn.h"
#include "net/c4_tls_ctx.h"

typedef struct {
  c4_conn *c;
  int opens, closes, eofs, drains;
  int status;
  char msg[256];
  char *rx;
  size_t rxlen, rxcap;
  bool echo;          /* write back what arrives */
  bool close_on_eof;  /* close(FLUSH) from the EOF event */
} side;

typedef struct {
  uv_loop_t loop;
  side srv, cli;
  int rejects;
  char reject_msg[256];
  c4_listener *lis;
} world;

static void rx_add(side *s, const char *p, size_t n) {
  if (s->rxlen + n > s->rxcap) {
    s->rxcap = (s->rxlen + n) * 2;
    s->rx = realloc(s->rx, s->rxcap);
    assert_non_null(s->rx);
  }
  memcpy(s->rx + s->rxlen, p, n);
  s->rxlen += n;
}

static void ev_open(c4_conn *c) {
  side *s = c4_conn_data(c);
  if (!s) { /* accepted: the listener's world */
    world *w = c4_listener_data(c4_conn_listener(c));
    s = &w->srv;
    c4_conn_set_data(c, s);
  }
  s->c = c;
  s->opens++;
}

static void ev_data(c4_conn *c, const char *p, size_t n) {
  side *s = c4_conn_data(c);
  if (n == 0) {
    s->eofs++;
    if (s->close_on_eof) c4_conn_close(c, C4_CLOSE_FLUSH);
    return;
  }
  rx_add(s, p, n);
  if (s->echo) assert_int_equal(0, c4_conn_write(c, p, n));
}

static void ev_drained(c4_conn *c) {
  side *s = c4_conn_data(c);
  s->drains++;
}

static void ev_closed(c4_conn *c, int status, const char *msg) {
  side *s = c4_conn_data(c);
  s->closes++;
  s->status = status;
  snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "");
  s->c = NULL;
}

static void ev_rejected(c4_listener *l, const char *ip, int port, const char *msg) {
  world *w = c4_listener_data(l);
  (void)ip;
  (void)port;
  w->rejects++;
  snprintf(w->reject_msg, sizeof w->reject_msg, "%s", msg);
}

static const c4_conn_events events = {
    .open = ev_open, .data = ev_data, .drained = ev_drained, .closed = ev_closed,
    .rejected = ev_rejected,
};

static void on_timeout(uv_timer_t *t) { *(bool *)t->data = true; }

/* Runs the loop until *flag is non-zero or 5 s pass. */
static void run_until(world *w, const int *flag, int want) {
  uv_timer_t t;
  bool expired = false;
  uv_timer_init(&w->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_timeout, 5000, 0);
  while (*flag < want && !expired) uv_run(&w->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&w->loop, UV_RUN_NOWAIT);
  if (*flag < want) fail_msg("timed out waiting (have %d, want %d)", *flag, want);
}

/* Runs the loop until side s has received n bytes (5 s at most). */
static void run_rx(world *w, side *s, size_t n) {
  uv_timer_t t;
  bool expired = false;
  uv_timer_init(&w->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_timeout, 5000, 0);
  while (s->rxlen < n && !expired) uv_run(&w->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&w->loop, UV_RUN_NOWAIT);
  if (s->rxlen < n) fail_msg("timed out waiting for %zu bytes (have %zu)", n, s->rxlen);
}

/* Runs the loop for about ms. */
static void run_for(world *w, int ms) {
  uv_timer_t t;
  bool expired = false;
  uv_timer_init(&w->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_timeout, (uint64_t)ms, 0);
  while (!expired) uv_run(&w->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&w->loop, UV_RUN_NOWAIT);
}

/* The send limit of the next world's listener (0: 64 MiB, above every test's queue). */
static size_t next_max_queued;

static c4_conn_opts opts(world *w, SSL_CTX *tls) {
  c4_conn_opts o = {.loop = &w->loop, .ev = &events, .data = w, .tls = tls,
                    .max_queued = next_max_queued ? next_max_queued : (size_t)64 << 20};
  return o;
}

static world *world_new(SSL_CTX *server_tls) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  assert_int_equal(0, uv_loop_init(&w->loop));
  int err;
  c4_conn_opts o = opts(w, server_tls);
  w->lis = c4_listen(&o, "127.0.0.1", 0, 0, &err);
  assert_non_null(w->lis);
  assert_true(c4_listener_port(w->lis) > 0);
  return w;
}

static void connect_client(world *w, SSL_CTX *client_tls) {
  struct sockaddr_storage ss;
  assert_int_equal(0, c4_sockaddr_parse("127.0.0.1", c4_listener_port(w->lis), &ss));
  c4_conn_opts o = opts(w, client_tls);
  int err;
  w->cli.c = c4_conn_connect(&o, (struct sockaddr *)&ss, &w->cli, &err);
  assert_non_null(w->cli.c);
}

/* Closes what is left and checks the loop ends empty (everything freed). */
static void world_free(world *w) {
  if (w->srv.c) c4_conn_abort(w->srv.c);
  if (w->cli.c) c4_conn_abort(w->cli.c);
  c4_listener_close(w->lis);
  uv_run(&w->loop, UV_RUN_DEFAULT); /* lingering closes end within a second */
  assert_int_equal(0, uv_loop_close(&w->loop));
  free(w->srv.rx);
  free(w->cli.rx);
  free(w);
}

/* ---- plain TCP ------------------------------------------------------------ */

static void test_echo_and_graceful_close(void **state) {
  (void)state;
  world *w = world_new(NULL);
  w->srv.echo = true;
  connect_client(w, NULL);
  run_until(w, &w->srv.opens, 1);
  run_until(w, &w->cli.opens, 1);
  assert_string_equal("127.0.0.1", c4_conn_peer_ip(w->srv.c));
  char ip[64];
  int port;
  assert_int_equal(0, c4_conn_local(w->cli.c, ip, sizeof ip, &port));
  assert_int_equal(port, c4_conn_peer_port(w->srv.c));
  assert_int_equal(0, c4_conn_write(w->cli.c, "hello", 5));
  run_rx(w, &w->cli, 5);
  assert_memory_equal("hello", w->cli.rx, 5);
  c4_conn_close(w->cli.c, C4_CLOSE_FLUSH);
  c4_conn_close(w->cli.c, C4_CLOSE_FLUSH); /* twice is harmless */
  run_until(w, &w->srv.closes, 1);
  run_until(w, &w->cli.closes, 1);
  run_for(w, 20);
  assert_int_equal(1, w->srv.eofs);
  assert_int_equal(1, w->srv.closes);
  assert_int_equal(1, w->cli.closes);
  assert_int_equal(0, w->srv.status);
  assert_int_equal(0, w->cli.status);
  world_free(w);
}

static void test_reset_reports_an_error_status(void **state) {
  (void)state;
  world *w = world_new(NULL);
  connect_client(w, NULL);
  run_until(w, &w->srv.opens, 1);
  run_until(w, &w->cli.opens, 1);
  c4_conn_close(w->cli.c, C4_CLOSE_RESET);
  run_until(w, &w->srv.closes, 1);
  assert_int_equal(UV_ECONNRESET, w->srv.status);
  assert_true(strlen(w->srv.msg) > 0);
  assert_int_equal(0, w->srv.eofs);
  run_until(w, &w->cli.closes, 1);
  assert_int_equal(1, w->srv.closes);
  world_free(w);
}

static void test_half_close_still_receives(void **state) {
  (void)state;
  world *w = world_new(NULL);
  w->srv.close_on_eof = false; /* c4_conn closes after the EOF event by itself */
  connect_client(w, NULL);
  run_until(w, &w->srv.opens, 1);
  run_until(w, &w->cli.opens, 1);
  assert_int_equal(0, c4_conn_write(w->cli.c, "ask", 3));
  assert_int_equal(0, c4_conn_shutdown_write(w->cli.c));
  assert_int_equal(UV_EPIPE, c4_conn_write(w->cli.c, "more", 4));
  run_until(w, &w->srv.eofs, 1);
  /* the server answered from inside the EOF event?  Not here: answer after */
  assert_int_equal(3, (int)w->srv.rxlen);
  run_until(w, &w->cli.closes, 1);
  run_until(w, &w->srv.closes, 1);
  assert_int_equal(0, w->srv.status);
  assert_int_equal(0, w->cli.status);
  assert_int_equal(1, w->cli.eofs);
  world_free(w);
}

/* Answering from the EOF event reaches the half-closed peer. */
static void answer_at_eof(c4_conn *c, const char *p, size_t n) {
  side *s = c4_conn_data(c);
  if (n == 0) {
    s->eofs++;
    c4_conn_write(c, "answer", 6);
    return;
  }
  rx_add(s, p, n);
}

static void test_answer_at_eof(void **state) {
  (void)state;
  static c4_conn_events ev2;
  ev2 = events;
  ev2.data = answer_at_eof;
  world *w = calloc(1, sizeof *w);
  uv_loop_init(&w->loop);
  int err;
  c4_conn_opts o = {.loop = &w->loop, .ev = &ev2, .data = w};
  w->lis = c4_listen(&o, "127.0.0.1", 0, 0, &err);
  assert_non_null(w->lis);
  connect_client(w, NULL);
  run_until(w, &w->cli.opens, 1);
  c4_conn_shutdown_write(w->cli.c);
  run_until(w, &w->cli.closes, 1);
  assert_int_equal(6, (int)w->cli.rxlen);
  assert_memory_equal("answer", w->cli.rx, 6);
  run_until(w, &w->srv.closes, 1);
  world_free(w);
}

static void test_queue_back_pressure_and_drain(void **state) {
  (void)state;
  world *w = world_new(NULL);
  connect_client(w, NULL);
  run_until(w, &w->srv.opens, 1);
  run_until(w, &w->cli.opens, 1);
  c4_conn_pause(w->cli.c);
  size_t total = 32u << 20;
  char *big = malloc(1 << 20);
  for (size_t i = 0; i < (1u << 20); i++) big[i] = (char)(i * 7);
  c4_conn_want_drain(w->srv.c, true);
  for (size_t i = 0; i < total >> 20; i++) assert_int_equal(0, c4_conn_write(w->srv.c, big, 1 << 20));
  run_for(w, 50);
  assert_true(c4_conn_queued(w->srv.c) > 0); /* the client does not read: it waits */
  assert_int_equal(0, w->srv.drains);
  c4_conn_resume(w->cli.c);
  run_rx(w, &w->cli, total);
  assert_int_equal(total, w->cli.rxlen);
  assert_memory_equal(big, w->cli.rx + total - (1 << 20), 1 << 20);
  run_until(w, &w->srv.drains, 1);
  assert_int_equal(0, c4_conn_queued(w->srv.c));
  free(big);
  world_free(w);
}

/* issue 16: a peer that does not read cannot make the queue grow past the
 * send limit; the connection is reset and closed reports UV_ENOBUFS. */
static void test_send_limit_resets(void **state) {
  (void)state;
  next_max_queued = 1u << 20;
  world *w = world_new(NULL);
  next_max_queued = 0;
  connect_client(w, NULL);
  run_until(w, &w->srv.opens, 1);
  run_until(w, &w->cli.opens, 1);
  c4_conn_pause(w->cli.c);
  char *big = calloc(1, 1 << 20);
  int r = 0;
  for (int i = 0; i < 256 && r == 0; i++) {
    r = c4_conn_write(w->srv.c, big, 1 << 20);
    assert_true(c4_conn_queued(w->srv.c) <= (3u << 20)); /* the limit + what is in flight */
    uv_run(&w->loop, UV_RUN_NOWAIT);
  }
  assert_int_equal(UV_ENOBUFS, r);
  run_until(w, &w->srv.closes, 1);
  assert_int_equal(UV_ENOBUFS, w->srv.status);
  assert_non_null(strstr(w->srv.msg, "send limit 1048576 bytes"));
  c4_conn_resume(w->cli.c); /* the client sees the reset once it reads */
  run_until(w, &w->cli.closes, 1);
  free(big);
  world_free(w);
}

static void test_close_flush_sends_the_queue_first(void **state) {
  (void)state;
  world *w = world_new(NULL);
  connect_client(w, NULL);
  run_until(w, &w->srv.opens, 1);
  c4_conn_pause(w->cli.c);
  run_until(w, &w->cli.opens, 1);
  char *big = calloc(1, 4u << 20);
  assert_int_equal(0, c4_conn_write(w->srv.c, big, 4u << 20));
  c4_conn_close(w->srv.c, C4_CLOSE_FLUSH);
  assert_false(c4_conn_is_open(w->srv.c));
  assert_int_equal(UV_EPIPE, c4_conn_write(w->srv.c, "x", 1));
  assert_int_equal(0, w->srv.closes); /* never from inside the call */
  c4_conn_resume(w->cli.c);
  run_until(w, &w->cli.closes, 1);
  assert_int_equal(4u << 20, w->cli.rxlen);
  run_until(w, &w->srv.closes, 1);
  assert_int_equal(0, w->srv.status);
  free(big);
  world_free(w);
}

static void test_connect_refused(void **state) {
  (void)state;
  world *w = world_new(NULL);
  int port = c4_listener_port(w->lis);
  c4_listener_close(w->lis);
  w->lis = NULL;
  run_for(w, 10);
  struct sockaddr_storage ss;
  c4_sockaddr_parse("127.0.0.1", port, &ss);
  c4_conn_opts o = opts(w, NULL);
  int err;
  w->cli.c = c4_conn_connect(&o, (struct sockaddr *)&ss, &w->cli, &err);
  assert_non_null(w->cli.c);
  run_until(w, &w->cli.closes, 1);
  assert_int_equal(UV_ECONNREFUSED, w->cli.status);
  assert_int_equal(0, w->cli.opens);
  world_free(w);
}

static void test_listener_close_leaves_connections(void **state) {
  (void)state;
  world *w = world_new(NULL);
  w->srv.echo = true;
  connect_client(w, NULL);
  run_until(w, &w->srv.opens, 1);
  run_until(w, &w->cli.opens, 1);
  c4_listener *l = w->lis;
  c4_listener_close(l);
  w->lis = NULL;
  run_for(w, 10);
  assert_ptr_equal(w, c4_listener_data(c4_conn_listener(w->srv.c))); /* still valid */
  c4_conn_write(w->cli.c, "still", 5);
  run_rx(w, &w->cli, 5);
  assert_int_equal(0, w->srv.closes);
  world_free(w);
}

static void test_port_in_use(void **state) {
  (void)state;
  world *w = world_new(NULL);
  c4_conn_opts o = opts(w, NULL);
  int err;
  assert_null(c4_listen(&o, "127.0.0.1", c4_listener_port(w->lis), 0, &err));
  assert_int_equal(UV_EADDRINUSE, err);
  assert_null(c4_listen(&o, "not-an-ip", 0, 0, &err));
  assert_int_equal(UV_EINVAL, err);
  world_free(w);
}

/* ---- TLS ---------------------------------------------------------------------- */

static const char *certs(void) {
  const char *env = getenv("C4EMU_CERTS");
  return env && *env ? env : "build/certs";
}

static SSL_CTX *server_tls(void) {
  c4_tls_params p = {0};
  p.verify_mode = 0x01; /* no client certificate asked */
  p.certificate = "server.pem";
  p.private_key = "server.key";
  p.pkg_dir = certs();
  char err[256];
  SSL_CTX *ctx = c4_tls_ctx_new(&p, err, sizeof err);
  if (!ctx) fail_msg("server context: %s (run tools/gen-certs.sh %s)", err, certs());
  return ctx;
}

static SSL_CTX *client_tls(const char *ca) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", certs(), ca);
  assert_int_equal(1, SSL_CTX_load_verify_locations(ctx, path, NULL));
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  return ctx;
}

static void test_tls_echo_opens_after_the_handshake(void **state) {
  (void)state;
  SSL_CTX *sctx = server_tls(), *cctx = client_tls("ca.pem");
  world *w = world_new(sctx);
  SSL_CTX_free(sctx); /* the listener holds its own reference */
  w->srv.echo = true;
  connect_client(w, cctx);
  assert_int_equal(0, c4_conn_write(w->cli.c, "early", 5)); /* kept until the handshake */
  run_until(w, &w->cli.opens, 1);
  run_until(w, &w->srv.opens, 1);
  assert_non_null(c4_conn_ssl(w->srv.c));
  run_rx(w, &w->cli, 5);
  assert_memory_equal("early", w->cli.rx, 5);
  c4_conn_close(w->cli.c, C4_CLOSE_FLUSH);
  run_until(w, &w->srv.closes, 1);
  run_until(w, &w->cli.closes, 1);
  assert_int_equal(0, w->srv.status);
  assert_int_equal(1, w->srv.eofs);
  SSL_CTX_free(cctx);
  world_free(w);
}

static void test_tls_failed_handshake_never_opens(void **state) {
  (void)state;
  SSL_CTX *sctx = server_tls(), *cctx = client_tls("rogue-ca.pem");
  world *w = world_new(sctx);
  SSL_CTX_free(sctx);
  connect_client(w, cctx);
  run_until(w, &w->cli.closes, 1);
  assert_int_equal(0, w->cli.opens);
  assert_int_equal(UV_EPROTO, w->cli.status);
  assert_non_null(strstr(w->cli.msg, "TLS"));
  run_until(w, &w->rejects, 1);
  assert_int_equal(0, w->srv.opens);
  assert_int_equal(0, w->srv.closes);
  assert_true(strlen(w->reject_msg) > 0);
  SSL_CTX_free(cctx);
  world_free(w);
}

static void test_tls_plain_client_is_rejected(void **state) {
  (void)state;
  SSL_CTX *sctx = server_tls();
  world *w = world_new(sctx);
  SSL_CTX_free(sctx);
  connect_client(w, NULL);
  run_until(w, &w->cli.opens, 1);
  c4_conn_write(w->cli.c, "GET / HTTP/1.0\r\n\r\n", 18);
  run_until(w, &w->rejects, 1);
  assert_non_null(strstr(w->reject_msg, "TLS"));
  run_until(w, &w->cli.closes, 1);
  assert_int_equal(0, w->srv.opens);
  world_free(w);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_echo_and_graceful_close),
    cmocka_unit_test(test_reset_reports_an_error_status),
    cmocka_unit_test(test_half_close_still_receives),
    cmocka_unit_test(test_answer_at_eof),
    cmocka_unit_test(test_queue_back_pressure_and_drain),
    cmocka_unit_test(test_close_flush_sends_the_queue_first),
    cmocka_unit_test(test_send_limit_resets),
    cmocka_unit_test(test_connect_refused),
    cmocka_unit_test(test_listener_close_leaves_connections),
    cmocka_unit_test(test_port_in_use),
    cmocka_unit_test(test_tls_echo_opens_after_the_handshake),
    cmocka_unit_test(test_tls_failed_handshake_never_opens),
    cmocka_unit_test(test_tls_plain_client_is_rejected),
};

UNIT_GROUP(conn, tests)
