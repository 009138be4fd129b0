/*
 * bench_tls_client.c — the load client of tools/bench_tls.sh.
 *
 *   bench-tls-client echo HOST PORT CLIENTS SECONDS SIZE WINDOW [tls]
 *       CLIENTS connections each keep WINDOW messages of SIZE bytes
 *       ("\n"-terminated) in flight against a line-echo server, over TLS when
 *       "tls" is given, plain TCP otherwise.  After one second of warm-up,
 *       counts the messages echoed during SECONDS and prints
 *       "msgs/s N MiB/s M total T" (T: every message echoed), checking every
 *       echoed byte.
 *
 *   bench-tls-client handshakes HOST PORT N
 *       N full TLS handshakes one after the other, each on a new TCP
 *       connection with a new session (no resumption), and prints
 *       "handshakes/s R".  A handshake counts once the server has finished
 *       its side: with TLS 1.3 that is when its first session ticket
 *       arrives (it sends them after reading the client's Finished).
 *
 * The client does not verify the server's certificate (the specs do): its
 * own CPU then goes to the handshake itself, the same for every server.
 * One thread, non-blocking sockets and poll(); OpenSSL straight on the
 * sockets.  Exit status 0, or 1 with a message.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static void die(const char *what) {
  char buf[256] = "";
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  fprintf(stderr, "bench-tls-client: %s%s%s%s%s\n", what, errno ? ": " : "",
          errno ? strerror(errno) : "", buf[0] ? ": " : "", buf);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(const char *host, int port, bool nonblock) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("bad IPv4 address");
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
  if (nonblock) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static SSL_CTX *client_ctx(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("SSL_CTX_new");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

/* ---- echo ----------------------------------------------------------------- */

typedef struct {
  int fd;
  SSL *ssl;
  bool ready;          /* handshake done (or plain) */
  uint64_t sent;       /* bytes handed to the socket / SSL_write */
  uint64_t due;        /* bytes we want sent (WINDOW messages ahead of what came back) */
  uint64_t got;        /* bytes echoed */
  bool want_write;     /* the last TLS call wants the socket writable */
} econn;

static char *msg;
static size_t size;

/* Sends what is due; the stream is the message repeated. */
static void pump_out(econn *c) {
  c->want_write = false;
  while (c->sent < c->due) {
    size_t off = (size_t)(c->sent % size), n = size - off;
    if (n > c->due - c->sent) n = (size_t)(c->due - c->sent);
    ssize_t w;
    if (c->ssl) {
      size_t done = 0;
      ERR_clear_error();
      if (SSL_write_ex(c->ssl, msg + off, n, &done) == 1) {
        w = (ssize_t)done;
      } else {
        int e = SSL_get_error(c->ssl, 0);
        if (e == SSL_ERROR_WANT_WRITE) c->want_write = true;
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return;
        die("SSL_write");
        return;
      }
    } else {
      w = write(c->fd, msg + off, n);
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->want_write = true;
        return;
      }
      if (w < 0) die("write");
    }
    c->sent += (uint64_t)w;
  }
}

/* Reads what has come back, checks it; returns the messages completed. */
static uint64_t pump_in(econn *c, char *buf, size_t bufsz) {
  uint64_t before = c->got / size;
  for (;;) {
    ssize_t r;
    if (c->ssl) {
      size_t n = 0;
      ERR_clear_error();
      if (SSL_read_ex(c->ssl, buf, bufsz, &n) == 1) {
        r = (ssize_t)n;
      } else {
        int e = SSL_get_error(c->ssl, 0);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) {
          c->want_write = true;
          break;
        }
        errno = 0;
        die("SSL_read (the server closed?)");
        return 0;
      }
    } else {
      r = read(c->fd, buf, bufsz);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (r <= 0) {
        if (r == 0) errno = 0;
        die("read (the server closed?)");
      }
    }
    for (ssize_t i = 0; i < r; i++)
      if (buf[i] != msg[(c->got + (uint64_t)i) % size]) {
        errno = 0;
        die("echoed bytes differ from what was sent");
      }
    c->got += (uint64_t)r;
  }
  return c->got / size - before;
}

static int run_echo(const char *host, int port, int nconns, int secs, size_t sz, int window,
                    bool tls) {
  size = sz;
  msg = malloc(size);
  for (size_t i = 0; i + 1 < size; i++) msg[i] = (char)('a' + i % 26);
  msg[size - 1] = '\n';
  SSL_CTX *ctx = tls ? client_ctx() : NULL;
  econn *cs = calloc((size_t)nconns, sizeof *cs);
  struct pollfd *pf = calloc((size_t)nconns, sizeof *pf);
  static char buf[1 << 17];
  for (int i = 0; i < nconns; i++) {
    econn *c = &cs[i];
    c->fd = connect_to(host, port, true);
    c->due = (uint64_t)window * size;
    if (tls) {
      c->ssl = SSL_new(ctx);
      SSL_set_fd(c->ssl, c->fd);
      SSL_set_connect_state(c->ssl);
      ERR_clear_error();
      int r = SSL_do_handshake(c->ssl); /* the ClientHello */
      if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) die("handshake");
    } else {
      c->ready = true;
    }
  }
  double t0 = now(), t_measure = t0 + 1.0, t_end = t_measure + secs;
  uint64_t total = 0, at_measure = 0;
  bool measuring = false;
  for (;;) {
    double t = now();
    if (!measuring && t >= t_measure) {
      measuring = true;
      at_measure = total;
    }
    if (t >= t_end) break;
    for (int i = 0; i < nconns; i++) {
      econn *c = &cs[i];
      pf[i].fd = c->fd;
      pf[i].events = POLLIN | (c->want_write || (c->ready && c->sent < c->due) ? POLLOUT : 0);
    }
    int n = poll(pf, (nfds_t)nconns, 100);
    if (n < 0 && errno != EINTR) die("poll");
    for (int i = 0; i < nconns && n > 0; i++) {
      if (!pf[i].revents) continue;
      econn *c = &cs[i];
      if (!c->ready) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) {
          c->ready = true;
        } else {
          int e = SSL_get_error(c->ssl, r);
          if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) die("handshake");
          c->want_write = e == SSL_ERROR_WANT_WRITE;
          continue;
        }
      }
      uint64_t done = pump_in(c, buf, sizeof buf);
      total += done;
      c->due += done * size;
      pump_out(c);
    }
  }
  double span = t_end - t_measure;
  uint64_t counted = total - at_measure;
  printf("msgs/s %.0f MiB/s %.1f total %llu\n", (double)counted / span,
         (double)counted * (double)size / span / 1048576.0, (unsigned long long)total);
  for (int i = 0; i < nconns; i++) {
    SSL_free(cs[i].ssl);
    close(cs[i].fd);
  }
  SSL_CTX_free(ctx);
  free(cs);
  free(pf);
  free(msg);
  return 0;
}

/* ---- handshakes ------------------------------------------------------------ */

static bool ticket_seen;

static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  (void)ssl;
  (void)sess;
  ticket_seen = true;
  return 0; /* not kept: every handshake is a full one */
}

static int run_handshakes(const char *host, int port, int n) {
  SSL_CTX *ctx = client_ctx();
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  double t0 = now();
  char buf[256];
  for (int i = 0; i < n; i++) {
    int fd = connect_to(host, port, false);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    if (SSL_connect(ssl) != 1) die("handshake");
    /* TLS 1.3: wait (100 ms at most) for the server's first ticket. */
    ticket_seen = false;
    if (SSL_version(ssl) == TLS1_3_VERSION) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      double until = now() + 0.1;
      while (!ticket_seen && now() < until) {
        size_t got;
        ERR_clear_error();
        if (SSL_read_ex(ssl, buf, sizeof buf, &got) == 1) continue;
        int e = SSL_get_error(ssl, 0);
        if (e != SSL_ERROR_WANT_READ || ticket_seen) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 10);
      }
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  }
  double span = now() - t0;
  printf("handshakes/s %.0f\n", n / span);
  SSL_CTX_free(ctx);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 8 && strcmp(argv[1], "echo") == 0)
    return run_echo(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                    (size_t)atol(argv[6]), atoi(argv[7]), argc > 8 && strcmp(argv[8], "tls") == 0);
  if (argc == 5 && strcmp(argv[1], "handshakes") == 0)
    return run_handshakes(argv[2], atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: bench-tls-client echo HOST PORT CLIENTS SECONDS SIZE WINDOW [tls]\n"
                  "       bench-tls-client handshakes HOST PORT N\n");
  return 1;
}
