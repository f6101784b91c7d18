// Declarations only (include/CLibFuzzerDriver.h); the definition is libFuzzer's, linked by
// -sanitize=fuzzer. SwiftPM needs one source file per C target.
#include "CLibFuzzerDriver.h"
