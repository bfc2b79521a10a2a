-- prelude.lua: the module luabridge.c loads first; the engine's entry points are in main.lua.
return require("defector.main")
