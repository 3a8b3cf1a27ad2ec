#include "CFuzzDriver.h"

// Provided by libFuzzer (linked by -sanitize=fuzzer) for programs that own main.
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*user_callback)(const uint8_t *data, size_t size));

int ternflux_fuzz_main(int argc, char **argv, int (*test_one_input)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver(&argc, &argv, test_one_input);
}
