/*
 * emu_specclient.c — real loopback clients for specs (d:connect, d:udp) and
 * d:servers().  Filled in with the CreateServer work.
 */
#include "emu_module.h"

const luaL_Reg emu_specclient_methods[] = {
    {NULL, NULL},
};
