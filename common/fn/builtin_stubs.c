/* Temporary: built-ins not written yet fail clearly. */
#include "fn_builtin.h"
int fn_builtin_format(fn_ctx *c) { return fn_fail(c, "%s: not implemented yet", c->name); }
int fn_builtin_fix(fn_ctx *c) { return fn_fail(c, "%s: not implemented yet", c->name); }
