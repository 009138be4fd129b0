/*
 * bench_uv_echo.c — the plain C libuv line-echo server of tools/bench_echo.sh:
 * what C4:CreateServer(port, "\n") plus an OnServerDataIn that ServerSends
 * each line back does, without Lua or the emulator.  Each complete line is
 * written back on its own (try_write, then uv_write with a copy), a partial
 * line is kept until its "\n" arrives; TCP_NODELAY as c4emu sets it.
 *
 *   bench-uv-echo [--batch] [--upper] [PORT]
 *       listens on 127.0.0.1:PORT (default 0) and prints "port N" on stdout.
 *       --batch: all complete lines of one read go back in one write (what
 *       c4emu does with the replies a driver sends during one read); the
 *       default writes each line on its own, like one ServerSend per line.
 *       --upper: echo each line upper-cased (what string.upper does in the
 *       driver of the benchmark).
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
  uv_tcp_t tcp;
  char *part;       /* an unfinished line */
  size_t len, cap;
} client;

static int batch, upper;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char shared[65536];
  (void)h;
  (void)hint;
  *buf = uv_buf_init(shared, sizeof shared);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void send_line(client *c, const char *p, size_t n) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == (int)n) return;
  if (r < 0 && r != UV_EAGAIN) return;
  if (r < 0) r = 0;
  uv_write_t *req = malloc(sizeof *req + n - (size_t)r);
  char *copy = (char *)(req + 1);
  memcpy(copy, p + r, n - (size_t)r);
  b = uv_buf_init(copy, (unsigned)(n - (size_t)r));
  if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) free(req);
}

static void on_closed(uv_handle_t *h) {
  client *c = h->data;
  free(c->part);
  free(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = s->data;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  if (upper) /* the read buffer is ours until the next read: upper-case it in place */
    for (ssize_t i = 0; i < n; i++) buf->base[i] = (char)toupper((unsigned char)buf->base[i]);
  const char *p = buf->base, *end = buf->base + n;
  if (batch && c->len == 0) { /* whole lines straight from the read buffer, in one write */
    const char *last = p + n;
    while (last > p && last[-1] != '\n') last--;
    if (last > p) send_line(c, p, (size_t)(last - p));
    p = last;
  }
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
      size_t k = (size_t)(end - p);
      if (c->len + k > c->cap) {
        c->cap = (c->len + k) * 2;
        c->part = realloc(c->part, c->cap);
      }
      memcpy(c->part + c->len, p, k);
      c->len += k;
      break;
    }
    size_t k = (size_t)(nl + 1 - p);
    if (c->len) {
      if (c->len + k > c->cap) {
        c->cap = (c->len + k) * 2;
        c->part = realloc(c->part, c->cap);
      }
      memcpy(c->part + c->len, p, k);
      send_line(c, c->part, c->len + k);
      c->len = 0;
    } else {
      send_line(c, p, k);
    }
    p = nl + 1;
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  client *c = calloc(1, sizeof *c);
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  signal(SIGPIPE, SIG_IGN); /* a client gone mid-write must not end the server (c4emu ignores it too) */
  struct sockaddr_in a;
  int argi = 1;
  for (; argi < argc && argv[argi][0] == '-'; argi++) {
    if (strcmp(argv[argi], "--batch") == 0) batch = 1;
    else if (strcmp(argv[argi], "--upper") == 0) upper = 1;
  }
  uv_ip4_addr("127.0.0.1", argc > argi ? atoi(argv[argi]) : 0, &a);
  uv_tcp_init(loop, &server);
  int r = uv_tcp_bind(&server, (struct sockaddr *)&a, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&server, 511, on_connection);
  if (r != 0) {
    fprintf(stderr, "bench-uv-echo: %s\n", uv_strerror(r));
    return 1;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
  printf("port %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
