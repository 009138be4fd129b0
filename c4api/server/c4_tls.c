/*
 * c4_tls.c — C4:CreateTLSServer (OS 3.3.0; the identifier in callbacks from
 * 3.3.1): a CreateServer-family TCP server whose connections speak TLS.
 *
 * The work is shared out:
 *   - c4_tls_ctx.c turns the TLS parameters (options and verify bits, cipher
 *     list, certificate, private key, password, chain) into an SSL_CTX, with
 *     paths resolved against the driver's package and sandbox folders;
 *   - c4_server.c creates the server from that context (c4_server_create):
 *     the same handles, framing, callbacks (OnServerStatusChanged,
 *     OnServerConnectionStatusChanged, OnServerDataIn, with the delimiter
 *     included) and companions (ServerSend, ServerCloseClient, DestroyServer);
 *   - c4_conn.c runs OpenSSL over memory BIOs on the loop: an accepted
 *     connection is reported ONLINE only once its handshake is done; a failed
 *     handshake (or one not finished within 10 s) is logged with OpenSSL's
 *     reason and the driver never hears of that client.
 * This file reads and checks the arguments, keeps the password secret, and
 * hands the context on.
 *
 * Arguments are positional, as on the controller.  port and certificate are
 * required; every other argument may be nil or left out, meaning its
 * documented default (no delimiter, options 0 → 0x003D, verifyMode 0 → 0x0A,
 * "" → the default cipher list, no key (PKCS#12, or a key in the
 * certificate's PEM), no password, no chain, no identifier).  A value of the
 * wrong type raises with Lua's wording; a runtime failure (a file that is
 * not there, a wrong password, a key that does not match, a bad cipher list,
 * a port in use) returns false and a message that says which.
 *
 * The password: the Lua string it arrives in is the driver's (interned and
 * immutable, possibly a constant in the driver's code), so it is not ours to
 * scrub.  Its one C copy is made here, handed to c4_tls_ctx_new, which wipes
 * it before returning, and freed with OPENSSL_clear_free; nothing keeps it
 * after the call, and no message or log line ever carries it.
 *
 * Lifetime: the SSL_CTX sits in a boxed userdata until the server takes its
 * own reference, so an error raised on the way (out of memory) cannot leak
 * it; the box's __gc frees whatever is left.
 */
#include <math.h>
#include <string.h>

#include <openssl/crypto.h>

#include "c4api.h"
#include "server/c4_server.h"
#include "net/c4_tls_ctx.h"

#define CTX_BOX_MT "c4emu.tls_ctx_box"

/* ---- arguments ---------------------------------------------------------- */

/* A bit-mask argument: nil or absent → 0 (the documented default). */
static unsigned opt_bits(lua_State *L, int i, const char *name) {
  if (lua_isnoneornil(L, i)) return 0;
  lua_Number v = luaL_checknumber(L, i);
  if (!(v >= 0 && v <= 0x7fffffff && v == floor(v))) {
    lua_pushfstring(L, "%s must be a non-negative integer (bits ORed together)", name);
    luaL_argerror(L, i, lua_tostring(L, -1));
  }
  return (unsigned)v;
}

/* Warns about bits that mean nothing (ignored, as OpenSSL would). */
static void check_bits(emu_ctx *ctx, unsigned options, unsigned verify) {
  if (options & ~0xFFu)
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] CreateTLSServer: options bits 0x%X are not TLS options "
            "(0x01-0x80); ignored", options & ~0xFFu);
  if (verify & ~0x0Fu)
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] CreateTLSServer: verifyMode bits 0x%X are not verify "
            "modes (0x01-0x08); ignored", verify & ~0x0Fu);
  if (verify && !(verify & C4_TLS_VERIFY_PEER) &&
      (verify & (C4_TLS_VERIFY_FAIL_IF_NO_PEER_CERT | C4_TLS_VERIFY_CLIENT_ONCE)))
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] CreateTLSServer: verifyMode 0x%02X has "
            "FAIL_IF_NO_PEER_CERT (0x04) or CLIENT_ONCE (0x08) without VERIFY_PEER (0x02); "
            "they only work together with it, so OpenSSL ignores them", verify);
}

/* ---- the context box ------------------------------------------------------ */

static int ctx_box_gc(lua_State *L) {
  SSL_CTX **box = lua_touserdata(L, 1);
  if (box && *box) {
    SSL_CTX_free(*box);
    *box = NULL;
  }
  return 0;
}

static SSL_CTX **ctx_box_new(lua_State *L) {
  SSL_CTX **box = lua_newuserdata(L, sizeof *box);
  *box = NULL;
  if (luaL_newmetatable(L, CTX_BOX_MT)) {
    lua_pushcfunction(L, ctx_box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return box;
}

/* ---- C4:CreateTLSServer --------------------------------------------------- */

/* C4:CreateTLSServer(port, delimiter, options, verifyMode, cipherList, certificate,
 *                    privateKey, password, chain, identifier) → true | false, msg */
static int l_CreateTLSServer(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int port = c4_check_port(L, 2);
  size_t dlen, pwlen;
  const char *delim = c4_opt_string(L, 3, &dlen);
  unsigned options = opt_bits(L, 4, "options");
  unsigned verify = opt_bits(L, 5, "verifyMode");
  const char *ciphers = c4_opt_cstring(L, 6, "cipherList");
  const char *cert = c4_check_cstring(L, 7, "certificate");
  const char *key = c4_opt_cstring(L, 8, "privateKey");
  const char *password = c4_opt_string(L, 9, &pwlen);
  const char *chain = c4_opt_cstring(L, 10, "chain");
  const char *identifier = c4_opt_cstring(L, 11, "identifier");

  check_bits(ctx, options, verify);
  SSL_CTX **box = ctx_box_new(L);

  /* The one C copy of the password; c4_tls_ctx_new wipes it whatever happens. */
  char *pw = NULL;
  if (password && pwlen > 0) {
    pw = OPENSSL_malloc(pwlen);
    if (!pw) return luaL_error(L, "CreateTLSServer: out of memory");
    memcpy(pw, password, pwlen);
  }
  c4_tls_params p = {
      .options = options,
      .verify_mode = verify,
      .ciphers = ciphers,
      .certificate = cert,
      .private_key = key,
      .chain = chain,
      .password = pw,
      .password_len = pw ? pwlen : 0,
      .pkg_dir = ctx->pkg_dir,
      .sandbox_dir = ctx->sandbox_dir,
  };
  char err[1024];
  *box = c4_tls_ctx_new(&p, err, sizeof err);
  if (pw) OPENSSL_clear_free(pw, pwlen);

  if (!*box) {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] CreateTLSServer(%d): %s", port, err);
    lua_pushboolean(L, 0);
    lua_pushstring(L, err);
    return 2;
  }
  emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] CreateTLSServer(%d): options 0x%02X → 0x%lX (OpenSSL), "
          "verifyMode 0x%02X → 0x%X, ciphers \"%s\"", port,
          options ? options : C4_TLS_DEFAULT_OPTIONS, c4_tls_options_to_openssl(options),
          verify ? verify : C4_TLS_DEFAULT_VERIFY, (unsigned)c4_tls_verify_to_openssl(verify),
          ciphers && *ciphers ? ciphers : C4_TLS_DEFAULT_CIPHERS);
  /* The server takes its own reference; the box drops ours right after. */
  int n = c4_server_create(L, port, delim, dlen, false, *box, identifier);
  SSL_CTX_free(*box);
  *box = NULL;
  return n;
}

static const c4_fn tls_fns[] = {
    {"CreateTLSServer", l_CreateTLSServer},
    {NULL, NULL},
};

const c4_family c4_family_tls = {"tls", tls_fns, NULL, NULL};
