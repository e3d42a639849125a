/* Placeholder until the runtime lands (lead, this session): keeps the tree building while
 * the modules it orchestrates are written. */
#include "runtime.h"

#include <stdio.h>

int parley__runtime_main(const struct parley__runtime_options *opts)
{
    (void)opts;
    fprintf(stderr, "parley: the runtime is not built yet\n");
    return PARLEY__EXIT_RUNTIME;
}
