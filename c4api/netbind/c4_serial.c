/*
 * c4_serial.c — serial bindings on a pseudo-terminal (issue 12): each
 * <connection> of driver.xml whose class is a serial one (RS_232, RS_485,
 * RS_422, SERIAL, or a name starting with "RS") gets a pty from load.  The
 * driver's side is the master: C4:SendToSerial(idBinding, data) writes to it
 * (never blocking: what the pty does not take waits, in order, and goes out
 * when it is writable), and what arrives calls ReceivedFromSerial(idBinding,
 * data) as read.  The slave is the device's side: its path is logged at load
 * ("serial binding 1 → /dev/pts/7") for socat, minicom or a bridge to a real
 * adapter; specs open it with d:serial(1).
 *
 * The slave is put in raw mode (no echo, no line editing, no CR/LF
 * translation: bytes pass unchanged) and the emulator keeps one slave fd
 * open itself, so the master never reads EIO when a device detaches.
 * <config><serialsettings> ("9600 8 none 1", any of baud, data bits,
 * parity none/odd/even, stop bits, in that order) is applied to the slave's
 * termios, where a pty holds it (tcgetattr sees it; the bytes are unchanged).
 * A device that never reads: the driver's writes wait in c4emu up to
 * NB_MAX_QUEUED bytes; beyond that SendToSerial drops them and warns once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "netbind/c4_netbind.h"

#define TRACK_SERIAL "serial-binding"

typedef struct nb_serial {
  struct nb_serial *next;
  nb_state *st;            /* NULL once detached (shutdown) */
  emu_ctx *ctx;
  int id;
  int master, slave;
  char path[64];
  uv_poll_t poll;
  int events;
  char *wq;
  size_t wlen, wcap;
  bool warned_full;
  uint64_t rx, tx;         /* bytes read from / written to the master */
} nb_serial;

static bool serial_class(const char *n) {
  return strncasecmp(n, "RS", 2) == 0 || strcasecmp(n, "SERIAL") == 0;
}

static speed_t baud(long b) {
  switch (b) {
  case 1200: return B1200;
  case 2400: return B2400;
  case 4800: return B4800;
  case 9600: return B9600;
  case 19200: return B19200;
  case 38400: return B38400;
  case 57600: return B57600;
  case 115200: return B115200;
  case 230400: return B230400;
  default: return 0;
  }
}

/* Raw mode plus what <serialsettings> says. */
static void apply_settings(nb_serial *s, const char *settings) {
  struct termios t;
  if (tcgetattr(s->slave, &t) != 0) return;
  cfmakeraw(&t);
  char buf[256];
  snprintf(buf, sizeof buf, "%s", settings ? settings : "");
  int field = 0;
  for (char *tok = strtok(buf, " \t,"); tok; tok = strtok(NULL, " \t,"), field++) {
    if (field == 0 && baud(atol(tok))) cfsetspeed(&t, baud(atol(tok)));
    else if (field == 1 && atoi(tok) >= 5 && atoi(tok) <= 8) {
      static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};
      t.c_cflag = (t.c_cflag & ~(tcflag_t)CSIZE) | sizes[atoi(tok) - 5];
    } else if (field == 2) {
      t.c_cflag &= ~(tcflag_t)(PARENB | PARODD);
      if (strcasecmp(tok, "odd") == 0) t.c_cflag |= PARENB | PARODD;
      else if (strcasecmp(tok, "even") == 0) t.c_cflag |= PARENB;
    } else if (field == 3) {
      if (atoi(tok) == 2) t.c_cflag |= CSTOPB;
      else t.c_cflag &= ~(tcflag_t)CSTOPB;
    }
  }
  tcsetattr(s->slave, TCSANOW, &t);
}

static void serial_closed(uv_handle_t *h) {
  nb_serial *s = h->data;
  emu_track(s->ctx, TRACK_SERIAL, -1);
  close(s->master);
  close(s->slave);
  free(s->wq);
  free(s);
}

static void on_poll(uv_poll_t *h, int status, int events);

static void want(nb_serial *s, int ev) {
  s->events = ev;
  uv_poll_start(&s->poll, ev, on_poll);
}

static void flush_queue(nb_serial *s) {
  while (s->wlen) {
    ssize_t w = write(s->master, s->wq, s->wlen);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        emu_log(s->ctx, EMU_LOG_WARN, "[c4emu] serial binding %d: write: %s; %zu bytes dropped",
                s->id, strerror(errno), s->wlen);
        s->wlen = 0;
      }
      break;
    }
    memmove(s->wq, s->wq + w, s->wlen - (size_t)w);
    s->wlen -= (size_t)w;
    s->tx += (uint64_t)w;
  }
  want(s, UV_READABLE | (s->wlen ? UV_WRITABLE : 0));
}

/* ReceivedFromSerial(idBinding, strData) */
static void on_poll(uv_poll_t *h, int status, int events) {
  nb_serial *s = h->data;
  if (!s->st) return;
  emu_io_activity(s->ctx);
  if (status < 0) return;
  if (events & UV_WRITABLE) flush_queue(s);
  if (!(events & UV_READABLE)) return;
  char buf[4096];
  ssize_t n = read(s->master, buf, sizeof buf);
  if (n <= 0) return;
  s->rx += (uint64_t)n;
  emu_ctx *ctx = s->ctx;
  if (!emu_push_global_fn(ctx, "ReceivedFromSerial")) return;
  lua_pushinteger(ctx->L, s->id);
  lua_pushlstring(ctx->L, buf, (size_t)n);
  emu_pcall(ctx, 2, 0, "ReceivedFromSerial");
  emu_charge_stall(ctx);
}

static nb_serial *serial_find(nb_state *st, int id) {
  for (nb_serial *s = st ? st->serials : NULL; s; s = s->next)
    if (s->id == id) return s;
  return NULL;
}

/* C4:SendToSerial(idBinding, strData) */
static int l_SendToSerial(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  size_t n;
  const char *data = luaL_checklstring(L, 3, &n);
  nb_serial *s = serial_find(nb_state_of(ctx), (int)id);
  if (!s) {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] C4:SendToSerial: no serial binding %d in driver.xml's "
            "<connections>; %zu bytes dropped", (int)id, n);
    return 0;
  }
  if (s->wlen + n > NB_MAX_QUEUED) {
    if (!s->warned_full)
      emu_log(ctx, EMU_LOG_WARN, "[c4emu] C4:SendToSerial(%d): the device is not reading: more "
              "than %zu bytes wait; dropping what does not fit (warned once)", s->id,
              NB_MAX_QUEUED);
    s->warned_full = true;
    return 0;
  }
  s->warned_full = false;
  if (s->wlen + n > s->wcap) {
    size_t cap = s->wcap ? s->wcap : 4096;
    while (cap < s->wlen + n) cap *= 2;
    char *q = realloc(s->wq, cap);
    if (!q) return luaL_error(L, "C4:SendToSerial: out of memory");
    s->wq = q;
    s->wcap = cap;
  }
  memcpy(s->wq + s->wlen, data, n);
  s->wlen += n;
  flush_queue(s);
  return 0;
}

static void serial_new(nb_state *st, int id) {
  nb_serial *s = calloc(1, sizeof *s);
  if (!s) return;
  s->st = st;
  s->ctx = st->ctx;
  s->id = id;
  if (openpty(&s->master, &s->slave, s->path, NULL, NULL) != 0) {
    emu_log(st->ctx, EMU_LOG_WARN, "[c4emu] serial binding %d: no pty: %s", id, strerror(errno));
    free(s);
    return;
  }
  fcntl(s->master, F_SETFL, fcntl(s->master, F_GETFL) | O_NONBLOCK);
  fcntl(s->master, F_SETFD, FD_CLOEXEC);
  fcntl(s->slave, F_SETFD, FD_CLOEXEC);
  apply_settings(s, emu_serial_settings(st->ctx));
  uv_poll_init(st->ctx->loop, &s->poll, s->master);
  s->poll.data = s;
  emu_track(st->ctx, TRACK_SERIAL, +1);
  want(s, UV_READABLE);
  s->next = st->serials;
  st->serials = s;
  emu_log(st->ctx, EMU_LOG_INFO, "[c4emu] serial binding %d \u2192 %s", id, s->path);
}

void nb_serial_open(nb_state *st) {
  size_t n;
  const emu_connection *cs = emu_connections(st->ctx, &n);
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < cs[i].nclasses; k++)
      if (serial_class(cs[i].classes[k].classname) && !serial_find(st, cs[i].id)) {
        serial_new(st, cs[i].id);
        break;
      }
}

void nb_serial_shutdown(nb_state *st) {
  while (st->serials) {
    nb_serial *s = st->serials;
    st->serials = s->next;
    s->st = NULL;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, serial_closed);
  }
}

/* Bytes the driver's writes are waiting for.  (Bytes on their way through
 * the pty are seen by the spec endpoint's probe, which counts both ways: the
 * kernel hands them over asynchronously, so FIONREAD alone can miss them.) */
bool nb_serial_busy(nb_state *st) {
  for (nb_serial *s = st->serials; s; s = s->next) {
    if (s->wlen) return true;
    int avail = 0;   /* the device wrote and the driver has not read it yet */
    if (ioctl(s->master, FIONREAD, &avail) == 0 && avail > 0) return true;
  }
  return false;
}

const char *c4_serial_path(emu_ctx *ctx, int id) {
  nb_serial *s = serial_find(nb_state_of(ctx), id);
  return s ? s->path : NULL;
}

bool c4_serial_counts(emu_ctx *ctx, int id, uint64_t *rx, uint64_t *tx) {
  nb_serial *s = serial_find(nb_state_of(ctx), id);
  if (!s) return false;
  *rx = s->rx;
  *tx = s->tx;
  return true;
}

const c4_fn nb_serial_fns[] = {
    {"SendToSerial", l_SendToSerial},
    {NULL, NULL},
};
