/* test_lua_close.c: lb_free() hands a Lua state's memory back to the system. The engine counts
 * every Lua allocation through its own allocator (luastate.c: lua_alloc); LuaJIT unmaps a state's
 * arena on lua_close() only when its own allocator is in place, so each state freed with the
 * counting one in place stayed mapped (about 1.5 MB a state: found by fuzz_rules, which makes
 * two states an input). Checked exactly: the page of the lua_State is no longer mapped. */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "luastate.h"
#include "test.h"

/* Whether the page holding p is mapped (msync fails with ENOMEM on an unmapped page). */
static int mapped(const void *p)
{
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
    return msync((void *)page, 1, MS_ASYNC) == 0 || errno != ENOMEM;
}

int main(void)
{
    for (int i = 0; i < 3; i++) {
        lbridge *b = NULL;
        df_error err = {0};
        CHECK_INT(lb_new(&b, &err), DF_OK);
        if (!b) break;
        const void *state = lb_lua(b);
        CHECK(mapped(state));
        lb_free(b);
        CHECK(!mapped(state));
    }
    TEST_END();
}
