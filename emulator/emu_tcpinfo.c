/*
 * emu_tcpinfo.c — a TCP socket's byte counters from the kernel (TCP_INFO),
 * for settling (emu_settle.c).  Its own file because <linux/tcp.h>, which
 * has the newer counters, clashes with the <netinet/tcp.h> that <uv.h>
 * brings in.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/tcp.h>

/* Payload bytes sent for the first time, received in order, and queued but
 * not yet sent.  0, or -1 when the kernel does not say. */
int emu_tcp_counters(int fd, uint64_t *sent, uint64_t *received, uint32_t *notsent) {
  struct tcp_info ti;
  memset(&ti, 0, sizeof ti);
  socklen_t len = sizeof ti;
  if (getsockopt(fd, 6 /* IPPROTO_TCP: <netinet/in.h> would clash too */, TCP_INFO, &ti, &len) != 0) return -1;
  /* Kernels before 4.19 fill less: then the counters read 0 on both ends. */
  *sent = ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans;
  *received = ti.tcpi_bytes_received;
  *notsent = ti.tcpi_notsent_bytes;
  return 0;
}
