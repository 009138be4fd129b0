-- spec/helper.lua — loaded by busted before every spec file (see .busted).
--
-- c4emu's own suite runs under the helper that `make install` gives users
-- (emulator/c4emu/busted.lua): after each test, unread driver errors,
-- handles left open after d:destroy() and errors of device notifiers and
-- spawned coroutines that no spec call raised fail that test by its name.
-- One difference: these specs share drivers between tests and leave some to
-- the garbage collector, so a driver a test loaded may outlive the test.
require("c4emu.busted").configure { require_destroy = false }
