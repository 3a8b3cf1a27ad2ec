#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver on `test_one_input` with the process arguments. SwiftPM links each
/// executable with main aliased to `<Target>_main`, so every harness defines that symbol and calls
/// this instead of relying on libFuzzer's own main.
int ternflux_fuzz_main(int argc, char **argv, int (*test_one_input)(const uint8_t *data, size_t size));

#endif
