// libFuzzer's own driver, callable from a program that has its own main (LLVM >= 11, in the
// toolchain's libclang_rt.fuzzer). Every fuzz target's @main calls it: SwiftPM links an executable
// target with `--defsym main=<Target>_main`, so the target must define that symbol itself (a
// -parse-as-library file with only LLVMFuzzerTestOneInput does not, and the link fails with
// "undefined symbol 'FuzzRequest_main'").
#ifndef CLIBFUZZERDRIVER_H
#define CLIBFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));

#endif
