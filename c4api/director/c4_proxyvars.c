/*
 * c4_proxyvars.c — the variables a proxy device keeps, learnt from what its
 * protocol driver tells it.  On a controller the light proxy owns variables
 * such as Light State (1000) and Brightness Percent (1001); drivers read them
 * with C4:GetVariable(proxyId, 1001) and programming watches them.  The
 * proxy sets them from the driver's notifications on the proxy binding.
 *
 * Modelled for the light proxies ("light_v2" and the older "light") that the
 * hosted driver's driver.xml declares, from the Light V2 proxy pages:
 *
 *   id    name               default  set by the NOTIFY (parameter)
 *   1000  LIGHT_STATE        "0"      the level's: "1" when above 0, else "0"
 *   1001  LIGHT_LEVEL        "0"      LIGHT_BRIGHTNESS_CHANGED (LIGHT_BRIGHTNESS_CURRENT),
 *                                     LIGHT_LEVEL / LIGHT_LEVEL_CHANGED (LEVEL, or the string)
 *   1002  CLICK_RATE_UP      "0"      CLICK_RATE_UP (RATE)
 *   1003  CLICK_RATE_DOWN    "0"      CLICK_RATE_DOWN (RATE)
 *   1004  HOLD_RATE_UP       "0"      HOLD_RATE_UP (RATE)
 *   1006  PRESET_LEVEL       "100"    PRESET_LEVEL (BRIGHTNESS)
 *   1007  MAX_ON_LEVEL       "100"    MAX_ON (BRIGHTNESS)
 *   1008  MIN_ON_LEVEL       "1"      MIN_ON (BRIGHTNESS)
 *   1009  COLD_START_LEVEL   "1"      COLD_START_LEVEL (BRIGHTNESS)
 *   1010  COLD_START_TIME    "0"      COLD_START_TIME (BRIGHTNESS, as its page says; TIME too)
 *
 * Choices: the ids and meanings are the pages'; the names are those of the
 * matching notifications (the pages give display names only); the defaults
 * are GET_SETUP's example where it has one (min 1, max 100, cold start 1 /
 * 0) and 100 for the On preset, 0 for the rates.  Levels are rounded to
 * whole percents (the page: "an integer ... between 0-100").  Only NOTIFY
 * messages teach the proxy.  Declared devices (`devices = {{proxy = ...}}`)
 * keep the variables the spec gives them.  A change reaches variable
 * listeners as any SetVariable does (OnWatchedVariableChanged next turn).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "director/c4_bindings.h"

typedef struct {
  int64_t id;
  const char *name, *value, *type;
} proxy_var;

static const proxy_var light_vars[] = {
    {1000, "LIGHT_STATE", "0", "BOOL"},       {1001, "LIGHT_LEVEL", "0", "NUMBER"},
    {1002, "CLICK_RATE_UP", "0", "NUMBER"},   {1003, "CLICK_RATE_DOWN", "0", "NUMBER"},
    {1004, "HOLD_RATE_UP", "0", "NUMBER"},    {1006, "PRESET_LEVEL", "100", "NUMBER"},
    {1007, "MAX_ON_LEVEL", "100", "NUMBER"},  {1008, "MIN_ON_LEVEL", "1", "NUMBER"},
    {1009, "COLD_START_LEVEL", "1", "NUMBER"}, {1010, "COLD_START_TIME", "0", "NUMBER"},
};

/* notification → variable, from the parameter named key (or alt) */
typedef struct {
  const char *command, *key, *alt;
  int64_t var;
} proxy_rule;

static const proxy_rule light_rules[] = {
    {"LIGHT_BRIGHTNESS_CHANGED", "LIGHT_BRIGHTNESS_CURRENT", NULL, 1001},
    {"LIGHT_LEVEL", "LEVEL", NULL, 1001},
    {"LIGHT_LEVEL_CHANGED", "LEVEL", NULL, 1001},
    {"CLICK_RATE_UP", "RATE", NULL, 1002},
    {"CLICK_RATE_DOWN", "RATE", NULL, 1003},
    {"HOLD_RATE_UP", "RATE", NULL, 1004},
    {"PRESET_LEVEL", "BRIGHTNESS", "LEVEL", 1006},
    {"MAX_ON", "BRIGHTNESS", NULL, 1007},
    {"MIN_ON", "BRIGHTNESS", NULL, 1008},
    {"COLD_START_LEVEL", "BRIGHTNESS", NULL, 1009},
    {"COLD_START_TIME", "BRIGHTNESS", "TIME", 1010},
};

static bool is_light(const c4_device *d) {
  return d->proxy_type && (strcasecmp(d->proxy_type, "light_v2") == 0 ||
                           strcasecmp(d->proxy_type, "light") == 0);
}

/* The hosted driver's own proxies get their variables when the project is built. */
static void proxyvars_open(lua_State *L, emu_ctx *ctx) {
  (void)L;
  c4_project *p = ctx->project;
  for (size_t i = 0; p && i < p->model->ndevices; i++) {
    c4_device *d = p->model->devices[i];
    if (d->kind != C4_DEV_PROXY || d->parent_id != p->self->id || !is_light(d)) continue;
    for (size_t k = 0; k < sizeof light_vars / sizeof light_vars[0]; k++) {
      const proxy_var *v = &light_vars[k];
      c4_var_add(d, v->id, v->name, v->value, v->type, true, false);
      /* c4_var_add names a variable added by id after its number */
      c4_var *added = c4_var_by_id(d, v->id);
      if (added && strcmp(added->name, v->name) != 0) {
        free(added->name);
        added->name = c4_strdup(v->name);
      }
    }
  }
}

static const char *param(const c4_proxy_msg *m, const char *key) {
  if (!key) return NULL;
  for (size_t i = 0; i < m->nparams; i++)
    if (strcmp(m->params[i].key, key) == 0) return m->params[i].value;
  return NULL;
}

static void set(c4_project *p, c4_device *d, int64_t id, const char *value) {
  c4_var *v = c4_var_by_id(d, id);
  if (v && strcmp(v->value, value) != 0) c4_var_set(p, d, v, value, false);
}

void c4_proxyvars_learn(emu_ctx *ctx, const c4_proxy_msg *m) {
  c4_project *p = ctx->project;
  if (!m->notify || m->device != 0) return;
  for (size_t i = 0; i < p->model->ndevices; i++) {
    c4_device *d = p->model->devices[i];
    if (d->parent_id != p->self->id || d->binding_id != m->binding || !is_light(d)) continue;
    for (size_t k = 0; k < sizeof light_rules / sizeof light_rules[0]; k++) {
      const proxy_rule *r = &light_rules[k];
      if (strcmp(r->command, m->command) != 0) continue;
      const char *s = m->str_param ? m->str_param : param(m, r->key);
      if (!s) s = param(m, r->alt);
      char *end;
      double n = s ? strtod(s, &end) : 0;
      if (!s || end == s || !isfinite(n)) {
        emu_log(ctx, EMU_LOG_WARN, "SendToProxy(%d, \"%s\"): the proxy wants a number in %s; "
                "its variable %lld keeps its value", m->binding, m->command, r->key,
                (long long)r->var);
        continue;
      }
      char num[32];
      snprintf(num, sizeof num, "%.0f", floor(n + 0.5));
      if (r->var == 1001) {
        double level = fmin(fmax(floor(n + 0.5), 0), 100);
        snprintf(num, sizeof num, "%.0f", level);
        set(p, d, 1001, num);
        set(p, d, 1000, level > 0 ? "1" : "0");
      } else {
        set(p, d, r->var, num);
      }
    }
  }
}

const c4_family c4_family_proxyvars = {"proxyvars", NULL, proxyvars_open, NULL};
