/*
 * emu_cmd_init.c — `c4emu init DIR [--name NAME]`: writes a new driver
 * project that passes its own spec at once, against an installed c4emu:
 *
 *   DIR/driver.xml                  properties, an action, a command, a proxy
 *   DIR/driver.lua                  the lifecycle and a TCP client that polls a device
 *   DIR/spec/driver_spec.lua        busted specs against a fake device (d:device)
 *   DIR/.busted                     helper = "c4emu.busted"
 *   DIR/.github/workflows/c4emu.yml c4emu check --junit and busted -o junit
 *   DIR/README.md
 *
 * DIR must not exist or be empty: nothing is ever overwritten.  NAME (default:
 * the folder's name) is written escaped for each file's language; its slug
 * (lower case, [a-z0-9_]) names the model and the proxy.
 */
#include <errno.h>
#include <getopt.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "emu_host.h"

/* ---- the templates ------------------------------------------------------ */
/* @NAME@ raw (comments, Markdown), @NAME_LUA@ inside a Lua "string",
 * @NAME_XML@ in XML text and attributes, @SLUG@, @DATE@. */

static const char driver_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<devicedata>\n"
    "  <copyright>@NAME_XML@</copyright>\n"
    "  <creator>@NAME_XML@</creator>\n"
    "  <manufacturer>Generic</manufacturer>\n"
    "  <name>@NAME_XML@</name>\n"
    "  <model>@SLUG@</model>\n"
    "  <created>@DATE@</created>\n"
    "  <modified>@DATE@</modified>\n"
    "  <version>1</version>\n"
    "  <control>lua_gen</control>\n"
    "  <controlmethod>ip</controlmethod>\n"
    "  <driver>DriverWorks</driver>\n"
    "  <proxies>\n"
    "    <proxy proxybindingid=\"5001\" name=\"@NAME_XML@\" primary=\"True\">@SLUG@</proxy>\n"
    "  </proxies>\n"
    "  <capabilities/>\n"
    "  <connections>\n"
    "    <connection>\n"
    "      <id>5001</id>\n"
    "      <facing>6</facing>\n"
    "      <connectionname>@NAME_XML@</connectionname>\n"
    "      <type>2</type>\n"
    "      <consumer>False</consumer>\n"
    "      <linelevel>True</linelevel>\n"
    "      <classes>\n"
    "        <class>\n"
    "          <classname>@SLUG@</classname>\n"
    "        </class>\n"
    "      </classes>\n"
    "    </connection>\n"
    "  </connections>\n"
    "  <config>\n"
    "    <script file=\"driver.lua\"/>\n"
    "    <documentation>@NAME_XML@ keeps a TCP connection to the device at Host:Port and polls its power state.</documentation>\n"
    "    <properties>\n"
    "      <property>\n"
    "        <name>Host</name>\n"
    "        <type>STRING</type>\n"
    "        <default></default>\n"
    "      </property>\n"
    "      <property>\n"
    "        <name>Port</name>\n"
    "        <type>RANGED_INTEGER</type>\n"
    "        <minimum>1</minimum>\n"
    "        <maximum>65535</maximum>\n"
    "        <default>4998</default>\n"
    "      </property>\n"
    "      <property>\n"
    "        <name>PollSeconds</name>\n"
    "        <type>RANGED_INTEGER</type>\n"
    "        <minimum>1</minimum>\n"
    "        <maximum>3600</maximum>\n"
    "        <default>30</default>\n"
    "      </property>\n"
    "      <property>\n"
    "        <name>Power</name>\n"
    "        <type>STRING</type>\n"
    "        <readonly>true</readonly>\n"
    "        <default>Unknown</default>\n"
    "      </property>\n"
    "      <property>\n"
    "        <name>Status</name>\n"
    "        <type>STRING</type>\n"
    "        <readonly>true</readonly>\n"
    "        <default>Idle</default>\n"
    "      </property>\n"
    "      <property>\n"
    "        <name>Debug Mode</name>\n"
    "        <type>LIST</type>\n"
    "        <items>\n"
    "          <item>Off</item>\n"
    "          <item>On</item>\n"
    "        </items>\n"
    "        <default>Off</default>\n"
    "      </property>\n"
    "    </properties>\n"
    "    <actions>\n"
    "      <action>\n"
    "        <name>Reconnect</name>\n"
    "        <command>Reconnect</command>\n"
    "      </action>\n"
    "    </actions>\n"
    "    <commands>\n"
    "      <command>\n"
    "        <name>SetPower</name>\n"
    "        <description>Set NAME power PARAM1</description>\n"
    "        <params>\n"
    "          <param>\n"
    "            <name>State</name>\n"
    "            <type>LIST</type>\n"
    "            <items>\n"
    "              <item>On</item>\n"
    "              <item>Off</item>\n"
    "            </items>\n"
    "          </param>\n"
    "        </params>\n"
    "      </command>\n"
    "    </commands>\n"
    "  </config>\n"
    "</devicedata>\n";

static const char driver_lua[] =
    "-- @NAME@ — a DriverWorks driver made by `c4emu init`.\n"
    "--\n"
    "-- It keeps a TCP connection to a device (properties Host and Port), asks for\n"
    "-- the power state every PollSeconds and shows the answer in the Power\n"
    "-- property.  The SetPower command and the proxy's ON / OFF switch the\n"
    "-- device; the Reconnect action opens the connection again.\n"
    "-- The device speaks lines that end in CR LF: \"POWER?\" is answered with\n"
    "-- \"POWER=ON\" or \"POWER=OFF\"; \"POWER ON\" and \"POWER OFF\" switch it.\n"
    "\n"
    "PROXY_BINDING = 5001\n"
    "Polls, Replies, Connected = 0, 0, false\n"
    "\n"
    "local client, poll_timer, retry_timer\n"
    "local started = false\n"
    "\n"
    "local function debug(...)\n"
    "  if Properties[\"Debug Mode\"] == \"On\" then print(...) end\n"
    "end\n"
    "\n"
    "local function status(text)\n"
    "  C4:UpdateProperty(\"Status\", text)\n"
    "  print(\"status: \" .. text)\n"
    "end\n"
    "\n"
    "local function send(line)\n"
    "  if not Connected then\n"
    "    debug(\"not connected, dropped: \" .. line)\n"
    "    return false\n"
    "  end\n"
    "  client:Write(line .. \"\\r\\n\")\n"
    "  return true\n"
    "end\n"
    "\n"
    "local function on_line(line)\n"
    "  local state = line:match(\"^POWER=(%u+)$\")\n"
    "  if state then\n"
    "    Replies = Replies + 1\n"
    "    C4:UpdateProperty(\"Power\", state == \"ON\" and \"On\" or \"Off\")\n"
    "  else\n"
    "    debug(\"unexpected from the device: \" .. line)\n"
    "  end\n"
    "end\n"
    "\n"
    "function Disconnect()\n"
    "  Connected = false\n"
    "  if client then client:Close() end\n"
    "  client = nil\n"
    "end\n"
    "\n"
    "local function retry_later()\n"
    "  if retry_timer or not started then return end\n"
    "  retry_timer = C4:SetTimer(10000, function()\n"
    "    retry_timer = nil\n"
    "    Connect()\n"
    "  end)\n"
    "end\n"
    "\n"
    "function Connect()\n"
    "  Disconnect()\n"
    "  local host, port = Properties[\"Host\"], tonumber(Properties[\"Port\"])\n"
    "  if host == \"\" or not port then\n"
    "    status(\"Set the Host and Port properties\")\n"
    "    return\n"
    "  end\n"
    "  status(\"Connecting to \" .. host .. \":\" .. port)\n"
    "  local c = C4:CreateTCPClient()\n"
    "  client = c\n"
    "  c:OnConnect(function()\n"
    "    if c ~= client then return end\n"
    "    Connected = true\n"
    "    status(\"Connected\")\n"
    "    c:ReadUntil(\"\\r\\n\")\n"
    "  end)\n"
    "  c:OnRead(function(_, data)\n"
    "    on_line((data:gsub(\"\\r\\n$\", \"\")))\n"
    "    c:ReadUntil(\"\\r\\n\")\n"
    "  end)\n"
    "  c:OnDisconnect(function(_, code, msg)\n"
    "    if c ~= client then return end\n"
    "    Connected, client = false, nil\n"
    "    status(\"Disconnected (\" .. tostring(code) .. \" \" .. tostring(msg) .. \")\")\n"
    "    retry_later()\n"
    "  end)\n"
    "  c:OnError(function(_, code, msg, op)\n"
    "    if c ~= client then return end\n"
    "    status(\"Error in \" .. tostring(op) .. \": \" .. tostring(msg))\n"
    "    if op == \"resolve\" or op == \"connect\" then\n"
    "      client = nil\n"
    "      retry_later()\n"
    "    end\n"
    "  end)\n"
    "  c:Connect(host, port)\n"
    "end\n"
    "\n"
    "local function start_polling()\n"
    "  if poll_timer then poll_timer = poll_timer:Cancel() end\n"
    "  local seconds = tonumber(Properties[\"PollSeconds\"]) or 30\n"
    "  poll_timer = C4:SetTimer(seconds * 1000, function()\n"
    "    if send(\"POWER?\") then Polls = Polls + 1 end\n"
    "  end, true)\n"
    "end\n"
    "\n"
    "-- Lifecycle -----------------------------------------------------------------\n"
    "\n"
    "function OnDriverInit()\n"
    "  -- Only set-up that touches no API the Safe Usage table marks NO here:\n"
    "  -- connections, timers and UpdateProperty belong in OnDriverLateInit.\n"
    "  Polls, Replies = 0, 0\n"
    "end\n"
    "\n"
    "function OnDriverLateInit()\n"
    "  started = true\n"
    "  start_polling()\n"
    "  Connect()\n"
    "end\n"
    "\n"
    "function OnDriverDestroyed()\n"
    "  started = false\n"
    "  if poll_timer then poll_timer = poll_timer:Cancel() end\n"
    "  if retry_timer then retry_timer = retry_timer:Cancel() end\n"
    "  Disconnect()\n"
    "end\n"
    "\n"
    "function OnPropertyChanged(name)\n"
    "  if not started then return end\n"
    "  if name == \"Host\" or name == \"Port\" then Connect() end\n"
    "  if name == \"PollSeconds\" then start_polling() end\n"
    "end\n"
    "\n"
    "-- Commands, actions and the proxy ------------------------------------------\n"
    "\n"
    "local function set_power(on)\n"
    "  return send(on and \"POWER ON\" or \"POWER OFF\")\n"
    "end\n"
    "\n"
    "function ExecuteCommand(command, params)\n"
    "  params = params or {}\n"
    "  if command == \"LUA_ACTION\" then\n"
    "    if params.ACTION == \"Reconnect\" then Connect() end\n"
    "  elseif command == \"SetPower\" then\n"
    "    set_power(params.State == \"On\")\n"
    "  end\n"
    "end\n"
    "\n"
    "function ReceivedFromProxy(binding, command, params)\n"
    "  if binding ~= PROXY_BINDING then return end\n"
    "  if command == \"ON\" then set_power(true)\n"
    "  elseif command == \"OFF\" then set_power(false) end\n"
    "end\n";

static const char driver_spec[] =
    "-- Specs for @NAME@, run with `busted` (see .busted) on c4emu.\n"
    "--\n"
    "-- The driver talks to a fake device: d:device() is a TCP server on\n"
    "-- loopback, served by the driver's own loop.  Time is virtual: it moves\n"
    "-- only with d:advance(), which also waits for the bytes in flight, so every\n"
    "-- run gives the same result.  The c4emu.busted helper fails a test that\n"
    "-- leaves unread driver errors or a driver it never destroyed.\n"
    "local c4emu = require \"c4emu\"\n"
    "\n"
    "-- Loads the driver, points it at a new fake device and starts it.  With a\n"
    "-- notifier the device answers by itself (dev:run); without one a test\n"
    "-- takes the connection with dev:accept() and reads and writes on it.\n"
    "local function start(notifier)\n"
    "  local d = c4emu.load(\".\", { epoch = \"2026-01-01T00:00:00Z\" })\n"
    "  local dev = d:device { mode = \"end\", end_char = \"\\r\\n\" } -- messages are lines\n"
    "  if notifier then dev:run(notifier) end\n"
    "  d:set_property(\"Host\", \"127.0.0.1\")\n"
    "  d:set_property(\"Port\", dev.local_port)\n"
    "  d:init()\n"
    "  return d, dev\n"
    "end\n"
    "\n"
    "-- The connection the driver opened, as a channel the test reads and writes.\n"
    "local function accepted(dev)\n"
    "  assert.is_true(dev:wait_for_connection(2000), \"the driver did not connect\")\n"
    "  return dev:accept()\n"
    "end\n"
    "\n"
    "describe(\"@NAME_LUA@\", function()\n"
    "  local d\n"
    "  after_each(function()\n"
    "    if d then d:destroy() end\n"
    "    d = nil\n"
    "  end)\n"
    "\n"
    "  it(\"connects to the device when it starts\", function()\n"
    "    local dev\n"
    "    d, dev = start()\n"
    "    accepted(dev)\n"
    "    d:settle()\n"
    "    assert.equal(\"Connected\", d:property(\"Status\"))\n"
    "  end)\n"
    "\n"
    "  it(\"asks for the power state every 30 s and shows the answer\", function()\n"
    "    local dev\n"
    "    d, dev = start()\n"
    "    local ch = accepted(dev)\n"
    "    d:advance(30 * 1000)\n"
    "    assert.equal(\"POWER?\", ch:read(2000))\n"
    "    ch:write(\"POWER=ON\")\n"
    "    d:settle()\n"
    "    assert.equal(\"On\", d:property(\"Power\"))\n"
    "  end)\n"
    "\n"
    "  it(\"polls ten times in five virtual minutes, and gets every answer\", function()\n"
    "    local asked = 0\n"
    "    d = start { socket_message = function(client, line)\n"
    "      if line == \"POWER?\" then\n"
    "        asked = asked + 1\n"
    "        client:send(\"POWER=OFF\\r\\n\")\n"
    "      end\n"
    "    end }\n"
    "    d:advance(5 * 60 * 1000)\n"
    "    assert.equal(10, asked)\n"
    "    assert.same({ 10, 10 }, { d:eval(\"return Polls, Replies\") })\n"
    "    assert.equal(\"Off\", d:property(\"Power\"))\n"
    "  end)\n"
    "\n"
    "  it(\"switches the device with the SetPower command and the proxy\", function()\n"
    "    local dev\n"
    "    d, dev = start()\n"
    "    local ch = accepted(dev)\n"
    "    d:settle()\n"
    "    d:command(\"SetPower\", { State = \"On\" })\n"
    "    assert.equal(\"POWER ON\", ch:read(2000))\n"
    "    d:call(\"ReceivedFromProxy\", 5001, \"OFF\", {})\n"
    "    assert.equal(\"POWER OFF\", ch:read(2000))\n"
    "  end)\n"
    "\n"
    "  it(\"connects again 10 s after the device went away\", function()\n"
    "    local dev\n"
    "    d, dev = start()\n"
    "    accepted(dev):close()\n"
    "    d:settle()\n"
    "    assert.matches(\"^Disconnected\", d:property(\"Status\"))\n"
    "    d:advance(10 * 1000)\n"
    "    accepted(dev)\n"
    "    d:settle()\n"
    "    assert.equal(\"Connected\", d:property(\"Status\"))\n"
    "  end)\n"
    "\n"
    "  it(\"says what is missing when Host is not set\", function()\n"
    "    d = c4emu.load(\".\")\n"
    "    d:init()\n"
    "    assert.equal(\"Set the Host and Port properties\", d:property(\"Status\"))\n"
    "  end)\n"
    "end)\n";

static const char dot_busted[] =
    "-- busted runs spec/ against the installed c4emu (make install in c4emu's sources).\n"
    "return {\n"
    "  _all = {\n"
    "    helper = \"c4emu.busted\", -- a test fails when a driver it loaded left errors or handles\n"
    "  },\n"
    "  default = {\n"
    "    ROOT = { \"spec\" },\n"
    "  },\n"
    "}\n";

static const char ci_yml[] =
    "# CI for @NAME@: c4emu check on the controller versions you support, then the\n"
    "# busted specs; both as JUnit XML.  C4EMU_GIT is where your copy of the c4emu\n"
    "# sources lives.\n"
    "name: c4emu\n"
    "on: [push, pull_request]\n"
    "env:\n"
    "  C4EMU_GIT: https://example.invalid/c4emu.git\n"
    "jobs:\n"
    "  test:\n"
    "    runs-on: ubuntu-latest\n"
    "    container: debian:12\n"
    "    steps:\n"
    "      - run: apt-get update -qq && apt-get install -y -qq git make sudo\n"
    "      - uses: actions/checkout@v4\n"
    "      - name: Install c4emu\n"
    "        run: |\n"
    "          git clone --depth 1 \"$C4EMU_GIT\" /tmp/c4emu\n"
    "          make -C /tmp/c4emu deps\n"
    "          make -C /tmp/c4emu install\n"
    "      - name: c4emu check\n"
    "        run: c4emu check . --os 3.3.1,4.0.0 --junit c4emu-check.xml\n"
    "      - name: busted\n"
    "        run: busted -o junit > busted.xml\n"
    "      - uses: actions/upload-artifact@v4\n"
    "        if: always()\n"
    "        with:\n"
    "          name: test-reports\n"
    "          path: |\n"
    "            c4emu-check.xml\n"
    "            busted.xml\n";

static const char readme_md[] =
    "# @NAME@\n"
    "\n"
    "A Control4 DriverWorks driver, made by `c4emu init`.\n"
    "\n"
    "```sh\n"
    "c4emu run . --prop Host=192.168.1.50 --prop Port=4998   # run it against a real device\n"
    "busted                                                   # the specs (spec/), on a fake device\n"
    "c4emu check . --os 3.3.1,4.0.0                           # what each controller version says\n"
    "```\n"
    "\n"
    "Pack it for Composer with `zip -r @SLUG@.c4z driver.xml driver.lua` (add `www/` when you have\n"
    "documentation or icons).\n";

typedef struct {
  const char *path;     /* relative to DIR */
  const char *text;
} init_file;

static const init_file files[] = {
    {"driver.xml", driver_xml},
    {"driver.lua", driver_lua},
    {"spec/driver_spec.lua", driver_spec},
    {".busted", dot_busted},
    {".github/workflows/c4emu.yml", ci_yml},
    {"README.md", readme_md},
};

typedef struct {
  const char *key;
  char value[512];
} subst;

/* Escapes for a Lua double-quoted string. */
static void escape_lua(const char *s, char *out, size_t n) {
  size_t o = 0;
  for (; *s && o + 3 < n; s++) {
    if (*s == '\\' || *s == '"') out[o++] = '\\';
    out[o++] = *s;
  }
  out[o] = '\0';
}

/* Escapes for XML text and attribute values. */
static void escape_xml(const char *s, char *out, size_t n) {
  size_t o = 0;
  for (; *s && o + 7 < n; s++) {
    const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;"
                  : *s == '"' ? "&quot;" : *s == '\'' ? "&apos;" : NULL;
    if (e) {
      memcpy(out + o, e, strlen(e));
      o += strlen(e);
    } else {
      out[o++] = *s;
    }
  }
  out[o] = '\0';
}

/* Lower case letters, digits and '_' (runs of anything else become one '_'). */
static void make_slug(const char *s, char *out, size_t n) {
  size_t o = 0;
  for (; *s && o + 1 < n; s++) {
    char c = *s;
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out[o++] = c;
    else if (o > 0 && out[o - 1] != '_') out[o++] = '_';
  }
  while (o > 0 && out[o - 1] == '_') o--;
  out[o] = '\0';
  if (o == 0) snprintf(out, n, "driver");
}

/* Writes text with every @KEY@ replaced. */
static int write_template(const char *path, const char *text, const subst *subs, size_t nsubs) {
  FILE *f = fopen(path, "wx"); /* never overwrite */
  if (!f) return -1;
  for (const char *p = text; *p;) {
    const char *at = strchr(p, '@');
    if (!at) {
      fputs(p, f);
      break;
    }
    fwrite(p, 1, (size_t)(at - p), f);
    size_t i = 0;
    for (; i < nsubs; i++) {
      size_t k = strlen(subs[i].key);
      if (strncmp(at, subs[i].key, k) == 0) {
        fputs(subs[i].value, f);
        p = at + k;
        break;
      }
    }
    if (i == nsubs) {
      fputc('@', f);
      p = at + 1;
    }
  }
  return fclose(f) == 0 ? 0 : -1;
}

/* mkdir -p for the folders of a file below dir. */
static int make_parents(const char *dir, const char *rel) {
  char path[4096];
  for (const char *slash = strchr(rel, '/'); slash; slash = strchr(slash + 1, '/')) {
    snprintf(path, sizeof path, "%s/%.*s", dir, (int)(slash - rel), rel);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
  }
  return 0;
}

/* 0: dir is missing (then made) or empty; -1 with a reason otherwise. */
static int prepare_dir(const char *dir, char *err, size_t errsz) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno != ENOENT) {
      snprintf(err, errsz, "%s: %s", dir, strerror(errno));
      return -1;
    }
    /* parents too, as mkdir -p */
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
      if (*p != '/') continue;
      *p = '\0';
      if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errsz, "cannot create %s: %s", path, strerror(errno));
        return -1;
      }
      *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
      snprintf(err, errsz, "cannot create %s: %s", dir, strerror(errno));
      return -1;
    }
    return 0;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(err, errsz, "%s exists and is not a folder", dir);
    return -1;
  }
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errsz, "%s: %s", dir, strerror(errno));
    return -1;
  }
  struct dirent *e;
  bool empty = true;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
  closedir(d);
  if (!empty) {
    snprintf(err, errsz, "%s is not empty: c4emu init writes only into a new or empty folder",
             dir);
    return -1;
  }
  return 0;
}

/* The last path component of dir, without trailing slashes. */
static void base_name(const char *dir, char *out, size_t n) {
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') len--;
  size_t start = len;
  while (start > 0 && dir[start - 1] != '/') start--;
  snprintf(out, n, "%.*s", (int)(len - start), dir + start);
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "c4emu: init: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see c4emu --help)\n");
  return 2;
}

int emu_cmd_init(int argc, char **argv) {
  static const struct option lo[] = {
      {"name", required_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *dir = NULL, *name = NULL;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "-h", lo, NULL)) != -1) {
    switch (c) {
    case 1:
      if (dir) return usage_error("unexpected argument '%s'", optarg);
      dir = optarg;
      break;
    case 'n': name = optarg; break;
    case 'h':
      printf("usage: c4emu init DIR [--name NAME]\n"
             "  writes a new driver project into DIR (new or empty): driver.xml, driver.lua,\n"
             "  spec/driver_spec.lua, .busted and a CI workflow; `cd DIR && busted` passes\n");
      return 0;
    default:
      if (optopt == 'n') return usage_error("%s needs a value", "--name");
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (!dir || !*dir) return usage_error("%s", "no folder given: c4emu init DIR [--name NAME]");
  char base[256];
  base_name(dir, base, sizeof base);
  if (!name) name = base;
  if (!*name || strlen(name) > 100) return usage_error("the name must be 1 to 100 characters, not '%s'", name);
  for (const char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20) return usage_error("%s", "the name must not hold control characters");

  subst subs[6] = {{"@NAME_LUA@", ""}, {"@NAME_XML@", ""}, {"@NAME@", ""},
                   {"@SLUG@", ""},     {"@DATE@", ""}};
  escape_lua(name, subs[0].value, sizeof subs[0].value);
  escape_xml(name, subs[1].value, sizeof subs[1].value);
  snprintf(subs[2].value, sizeof subs[2].value, "%s", name);
  make_slug(name, subs[3].value, sizeof subs[3].value);
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(subs[4].value, sizeof subs[4].value, "%m/%d/%Y %I:%M %p", &tm);

  char err[4352];
  if (prepare_dir(dir, err, sizeof err) != 0) {
    fprintf(stderr, "c4emu: init: %s\n", err);
    return 2;
  }
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, files[i].path);
    if (make_parents(dir, files[i].path) != 0 ||
        write_template(path, files[i].text, subs, 5) != 0) {
      fprintf(stderr, "c4emu: init: cannot write %s: %s\n", path, strerror(errno));
      return 2;
    }
    printf("  wrote %s\n", path);
  }
  printf("c4emu init: a new driver '%s' in %s. Next:\n"
         "  cd %s && busted                 # its specs, against a fake device\n"
         "  c4emu run %s --prop Host=ADDR   # against your device\n"
         "  c4emu check %s --os 3.3.1,4.0.0\n",
         name, dir, dir, dir, dir);
  return 0;
}
