/*
 * c4_net_util.c — the small pieces of the socket core that hold no
 * connection state (split from c4_conn.c): SIGPIPE, address text and
 * parsing, and the one shared read buffer that every libuv reader of the
 * process (connections, UDP servers, spec clients) reads into.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "net/c4_conn.h"

#define READ_BUF 65536

static char shared_buf[READ_BUF];
static bool shared_busy;

void c4_conn_ignore_sigpipe(void) {
  static bool done;
  if (done) return;
  done = true;
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
      !(old.sa_flags & SA_SIGINFO))
    signal(SIGPIPE, SIG_IGN);
}

void c4_sockaddr_text(const struct sockaddr *sa, char *ip, size_t ipsz, int *port) {
  ip[0] = '\0';
  *port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, ip, ipsz);
    *port = ntohs(a->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, ip, ipsz);
    *port = ntohs(a->sin6_port);
    /* An IPv4 peer on a dual-stack socket: show it as IPv4. */
    if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.')) memmove(ip, ip + 7, strlen(ip + 7) + 1);
  }
}

int c4_sockaddr_parse(const char *host, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (port < 0 || port > 65535) return UV_EINVAL;
  if (strchr(host, ':')) return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
  return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

void c4_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  if (!shared_busy) {
    shared_busy = true;
    *buf = uv_buf_init(shared_buf, READ_BUF);
    return;
  }
  char *p = malloc(READ_BUF);
  *buf = uv_buf_init(p, p ? READ_BUF : 0);
}

void c4_conn_release_buf(const uv_buf_t *buf) {
  if (buf->base == shared_buf) shared_busy = false;
  else free(buf->base);
}
