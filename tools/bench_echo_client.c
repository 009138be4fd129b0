/*
 * bench_echo_client.c — the load client of tools/bench_echo.sh.
 *
 *   bench-echo-client load HOST PORT [CLIENTS [SECONDS [WINDOW [SIZE]]]]
 *       CLIENTS connections (default 100) each keep WINDOW messages of SIZE
 *       bytes (default 8 x 32, "\n"-terminated) in flight against a line-echo
 *       server; after one second of warm-up, counts the messages echoed during
 *       SECONDS (default 5) and prints "msgs/s N total M" (M: all messages
 *       echoed, warm-up included), checking every echoed byte on the way.
 *
 *   bench-echo-client upper HOST PORT [CLIENTS [SECONDS [WINDOW [SIZE]]]]
 *       the same against an upper-casing line echo: every letter must come
 *       back upper-cased.
 *
 *   bench-echo-client idle HOST PORT CLIENTS
 *       opens CLIENTS idle connections, prints "connected N" once they are all
 *       up, and holds them until killed.
 *
 * One libuv loop, one thread.  Exit status 0, or 1 with a message.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t req;
  size_t got;          /* bytes echoed so far (position in the message stream) */
  uint64_t sent;       /* messages sent */
  int id;
} conn;

static uv_loop_t *loop;
static conn *conns;
static int nconns, connected, window = 8, size = 32, seconds = 5;
static const char *host;
static int port;
static uint64_t echoed, counted_from, echoed_all;
static bool measuring, idle_mode, upper_mode;
static char *msgbuf;   /* WINDOW messages back to back */
static uv_timer_t timer;
static uint64_t t_start;
static int next_connect;

static void die(const char *what, int err) {
  fprintf(stderr, "bench-echo-client: %s: %s\n", what, uv_strerror(err));
  exit(1);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char big[65536];
  (void)h;
  (void)hint;
  *buf = uv_buf_init(big, sizeof big);
}

static void on_written(uv_write_t *req, int status) {
  if (status < 0 && status != UV_ECANCELED) die("write", status);
  free(req);
}

static void send_msgs(conn *c, int n) {
  if (n <= 0) return;
  uv_buf_t b = uv_buf_init(msgbuf, (unsigned)(n * size));
  int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)b.len) {
    c->sent += (uint64_t)n;
    return;
  }
  if (r < 0 && r != UV_EAGAIN) die("write", r);
  if (r < 0) r = 0;
  uv_write_t *req = malloc(sizeof *req + b.len - (size_t)r);
  char *copy = (char *)(req + 1);
  memcpy(copy, msgbuf + r, b.len - (size_t)r);
  uv_buf_t rest = uv_buf_init(copy, b.len - (unsigned)r);
  int e = uv_write(req, (uv_stream_t *)&c->tcp, &rest, 1, on_written);
  if (e < 0) die("write", e);
  c->sent += (uint64_t)n;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n < 0) {
    if (idle_mode) return;
    die("read (the server closed the connection)", (int)n);
  }
  if (n == 0) return;
  /* Every message ends with '\n' at offset size-1: check the echo. */
  size_t before = c->got;
  for (ssize_t i = 0; i < n; i++) {
    size_t pos = (before + (size_t)i) % (size_t)size;
    char want = pos == (size_t)size - 1 ? '\n' : (char)((upper_mode ? 'A' : 'a') + pos % 26);
    if (buf->base[i] != want) {
      fprintf(stderr, "bench-echo-client: connection %d: byte %zu is wrong\n", c->id,
              before + (size_t)i);
      exit(1);
    }
  }
  c->got += (size_t)n;
  uint64_t done = c->got / (size_t)size - before / (size_t)size;
  if (measuring) echoed += done;
  echoed_all += done;
  send_msgs(c, (int)done);
}

static void start_conn(int i);

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->data;
  if (status < 0) die("connect", status);
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  connected++;
  if (!idle_mode) send_msgs(c, window);
  if (next_connect < nconns) start_conn(next_connect++);
  if (connected == nconns && idle_mode) {
    printf("connected %d\n", connected);
    fflush(stdout);
  }
}

static void start_conn(int i) {
  conn *c = &conns[i];
  c->id = i;
  struct sockaddr_in a;
  uv_ip4_addr(host, port, &a);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->req.data = c;
  int r = uv_tcp_connect(&c->req, &c->tcp, (struct sockaddr *)&a, on_connect);
  if (r < 0) die("connect", r);
}

static void on_tick(uv_timer_t *t) {
  (void)t;
  uint64_t now = uv_now(loop);
  if (!measuring && connected == nconns && now - t_start >= 1000) {
    measuring = true;
    counted_from = now;
    echoed = 0;
    return;
  }
  if (measuring && now - counted_from >= (uint64_t)seconds * 1000) {
    double secs = (double)(now - counted_from) / 1000.0;
    printf("msgs/s %.0f total %llu\n", (double)echoed / secs, (unsigned long long)echoed_all);
    fflush(stdout);
    exit(0);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench-echo-client load|upper HOST PORT [CLIENTS [SECONDS [WINDOW [SIZE]]]]\n"
                    "       bench-echo-client idle HOST PORT CLIENTS\n");
    return 2;
  }
  idle_mode = strcmp(argv[1], "idle") == 0;
  upper_mode = strcmp(argv[1], "upper") == 0;
  host = argv[2];
  port = atoi(argv[3]);
  nconns = argc > 4 ? atoi(argv[4]) : 100;
  if (!idle_mode) {
    if (argc > 5) seconds = atoi(argv[5]);
    if (argc > 6) window = atoi(argv[6]);
    if (argc > 7) size = atoi(argv[7]);
  }
  if (nconns < 1 || size < 2 || window < 1 || seconds < 1) return 2;
  loop = uv_default_loop();
  conns = calloc((size_t)nconns, sizeof *conns);
  msgbuf = malloc((size_t)window * (size_t)size);
  for (int i = 0; i < window * size; i++) {
    int pos = i % size;
    msgbuf[i] = pos == size - 1 ? '\n' : (char)('a' + pos % 26);
  }
  /* Connect in waves so the server's listen backlog never overflows. */
  int first = nconns < 256 ? nconns : 256;
  for (next_connect = 0; next_connect < first; next_connect++) start_conn(next_connect);
  t_start = uv_now(loop);
  if (!idle_mode) {
    uv_timer_init(loop, &timer);
    uv_timer_start(&timer, on_tick, 50, 50);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
